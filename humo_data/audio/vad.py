"""Silero VAD for the audio stage: the implementation is humo_data.media.vad (the sync stage hears
speech with it too); this module keeps the audio package's import path."""

from humo_data.media.vad import (
    CONTEXT,
    SAMPLE_RATE,
    WINDOW,
    WINDOW_SECONDS,
    SileroVad,
    packaged_model_path,
    speech_ratio,
    speech_segments,
)

__all__ = [
    "CONTEXT",
    "SAMPLE_RATE",
    "WINDOW",
    "WINDOW_SECONDS",
    "SileroVad",
    "packaged_model_path",
    "speech_ratio",
    "speech_segments",
]
