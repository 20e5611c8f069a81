"""Build a sync scorer from the config: ``build_scorer(cfg)`` loads weights once per actor.

    scorer = build_scorer(cfg)
    result = scorer.score(SyncInput(...))           # OffsetScores + how much face was seen

Every scorer searches the same offsets (+/- ``max_offset_frames``) and reports in SyncNet's sign
convention (humo_data.sync.scores). Only ``syncnet`` with weights known to verify sets
``sync_verified`` (humo_data.sync.verify); the offline scorer only locates an offset. The shared
types live in humo_data.sync.base (re-exported here).
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
