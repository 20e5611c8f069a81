"""Streaming shot detectors: frames go in one at a time, cut frame indices come out.

A cut index is the first frame of a new shot. ``latency`` says how many frames after a cut a
detector may still report it, so the cutter knows how far back it must hold frames.
"""

from __future__ import annotations

import numpy as np
from scenedetect import FrameTimecode
from scenedetect.detectors import AdaptiveDetector, ContentDetector

from humo_data.config import ShotsConfig
from humo_data.registry import Registry


class ShotDetector:
    backend_name = "base"
    latency = 0

    def __init__(self, config: ShotsConfig, fps: float):
        self.config, self.fps = config, float(fps)

    def push(self, index: int, small_bgr: np.ndarray) -> list[int]:
        return []

    def flush(self, last_index: int) -> list[int]:
        return []


SHOT_DETECTORS: Registry[ShotDetector] = Registry("shot detector")


@SHOT_DETECTORS.register("none")
class NoShotDetector(ShotDetector):
    """The whole source is one shot (for pre-cut inputs)."""


class _SceneDetectBase(ShotDetector):
    def __init__(self, config: ShotsConfig, fps: float):
        super().__init__(config, fps)
        self.min_len = max(1, int(round(config.min_shot_seconds * fps)))
        self.detector = self._make()
        self.latency = int(getattr(self.detector, "event_buffer_length", 0)) + 1

    def _make(self):
        raise NotImplementedError

    def push(self, index: int, small_bgr: np.ndarray) -> list[int]:
        cuts = self.detector.process_frame(FrameTimecode(index, fps=self.fps), small_bgr)
        return [int(c.frame_num) for c in cuts]

    def flush(self, last_index: int) -> list[int]:
        cuts = self.detector.post_process(FrameTimecode(last_index, fps=self.fps))
        return [int(c.frame_num) for c in cuts]


@SHOT_DETECTORS.register("pyscenedetect-content")
class ContentShotDetector(_SceneDetectBase):
    """PySceneDetect ContentDetector: HSV difference of consecutive frames over a threshold (27)."""

    def _make(self):
        kwargs = {"min_scene_len": self.min_len}
        if self.config.threshold is not None:
            kwargs["threshold"] = self.config.threshold
        return ContentDetector(**kwargs)


@SHOT_DETECTORS.register("pyscenedetect-adaptive")
class AdaptiveShotDetector(_SceneDetectBase):
    """PySceneDetect AdaptiveDetector: frame score against a rolling average (robust to fast motion)."""

    def _make(self):
        kwargs = {"min_scene_len": self.min_len}
        if self.config.threshold is not None:
            kwargs["adaptive_threshold"] = self.config.threshold
        return AdaptiveDetector(**kwargs)


def build_shot_detector(config: ShotsConfig, fps: float) -> ShotDetector:
    return SHOT_DETECTORS.get(config.backend)(config, fps)
