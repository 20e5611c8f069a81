"""Sync scorers by name: ``build_scorer`` imports the configured backend (which registers itself in
``base.SYNC_BACKENDS``) and loads it.

    scorer = build_scorer(cfg)                      # loads weights once per actor
    result = scorer.score(SyncInput(...))           # OffsetScores + how much face was seen
"""

from __future__ import annotations

from humo_data.sync.base import SYNC_BACKENDS, SyncInput, SyncResult, SyncScorer, audio_frames
from humo_data.sync.config import SyncConfig

__all__ = ["SYNC_BACKENDS", "SyncInput", "SyncResult", "SyncScorer", "audio_frames", "build_scorer"]


def build_scorer(config: SyncConfig) -> SyncScorer:
    if config.backend == "syncnet":
        from humo_data.sync import syncnet  # noqa: F401  (register; imports torch)
    else:
        from humo_data.sync import xcorr  # noqa: F401  (register)
    return SYNC_BACKENDS.get(config.backend)(config)
