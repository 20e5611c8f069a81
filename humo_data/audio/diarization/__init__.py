"""Speaker activity backends: how many people are audible in a clip, how much they overlap, and
who speaks when. No backend = unknown (null columns), never a guess.

    diar = build_diarizer(cfg.diarization)      # None for "none"; loads the model once per worker
    [act] = diar.analyse([wave])                # 16 kHz mono; one SpeakerActivity per clip
    act.speaker_count, act.overlap_ratio, act.turns

A backend only says how to run its model on fixed-length chunks (``activities``) and where its
output frames lie (``geometry``); chunking, batching and the per-clip reading are shared
(``activity.py``).
"""

from __future__ import annotations

from humo_data.audio.config import DiarizationConfig
from humo_data.audio.diarization.base import (
    DIARIZERS,
    Diarizer,
)

__all__ = ["DIARIZERS", "Diarizer", "build_diarizer"]  # fmt: skip


def build_diarizer(config: DiarizationConfig, threads: int = 1) -> Diarizer | None:
    if config.backend == "none":
        return None
    from humo_data.audio.diarization import pyannote_numpy, pyannote_onnx  # noqa: F401  (register)

    return DIARIZERS.get(config.backend)(config, threads=threads)
