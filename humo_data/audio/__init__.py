"""Audio: speech activity (Silero VAD), transcripts (pocketsphinx / faster-whisper), vocal
separation, speaker count, and the audio stage-2 gates.

``AudioStage`` is imported lazily so that ``humo_data.config`` can import ``audio.config`` cheaply.
"""

from __future__ import annotations

from typing import Any

__all__ = ["AudioStage"]


def __getattr__(name: str) -> Any:
    if name == "AudioStage":
        from humo_data.audio.stage import AudioStage

        return AudioStage
    raise AttributeError(name)
