"""Base types and the registry of the sync scorers (backends import this module, never
humo_data.sync.backends, so that one may import them): a scorer finds the audio offset of a clip
and scores it.

    scorer = build_scorer(cfg)                      # loads weights once per actor
    result = scorer.score(SyncInput(...))           # OffsetScores + how much face was seen

Every scorer searches the same offsets (+/- ``max_offset_frames``) and reports in SyncNet's sign
convention (humo_data.sync.scores). Only ``syncnet`` with weights known to verify sets
``sync_verified`` (humo_data.sync.verify); the offline scorer only locates an offset.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from humo_data.registry import Registry
from humo_data.sync.config import SyncConfig
from humo_data.sync.scores import OffsetScores


@dataclass
class SyncInput:
    video: bytes  # the encoded clip (H.264 MP4)
    face_track: dict | None  # the faces stage's main track (times, boxes in clip pixels) or None
    fps: float
    seconds: float  # clip length
    audio: np.ndarray  # 16 kHz mono of the clip plus ``margin`` seconds each side (vocals if separated)
    margin: float


@dataclass
class SyncResult:
    scores: OffsetScores | None  # None when the clip could not be scored (see reason)
    face_fraction: float
    reason: str | None = None  # e.g. no_face_track (scores is None)
    #: why a reading that exists cannot be trusted (too short, flat or inconsistent curve); the
    #: stage then gates the clip low_sync_confidence and moves nothing
    uncertain: str | None = None


class SyncScorer:
    backend_name: ClassVar[str] = "sync"
    learned: ClassVar[bool] = False

    def __init__(self, config: SyncConfig):
        self.config = config

    @property
    def min_confidence(self) -> float:
        raise NotImplementedError

    @property
    def min_shift_frames(self) -> int:
        """Smallest |offset| this scorer moves audio for (1: any reading it passes)."""
        return 1

    def score(self, clip: SyncInput) -> SyncResult:
        raise NotImplementedError


SYNC_BACKENDS: Registry[SyncScorer] = Registry("sync")


def audio_frames(
    audio: np.ndarray, margin: float, fps: float, first: int, count: int, sample_rate: int = 16000
) -> np.ndarray:
    """Sample index of the centre of clip frames ``first .. first+count-1`` in margin-padded audio."""
    k = np.arange(first, first + count)
    return np.round((margin + (k + 0.5) / fps) * sample_rate).astype(np.int64)
