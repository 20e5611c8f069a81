"""Streaming shot detectors: frames go in one at a time, cut frame indices come out.

A cut index is the first frame of a new shot. ``latency`` says how many frames after a cut a
detector may still report it, so the cutter knows how far back it must hold frames.
"""

from __future__ import annotations

import cv2
import numpy as np
from scenedetect import FrameTimecode
from scenedetect.detectors import AdaptiveDetector, ContentDetector

from humo_data.registry import Registry
from humo_data.shots.config import ShotsConfig


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


class _FastContentScore:
    """ContentDetector's frame score (mean |difference| of H, S and V against the previous frame,
    weighted) computed with OpenCV's L1 norm instead of int32 numpy copies: the same float, half
    the detector's time. The stock code runs when edges or a stats manager are in play."""

    def _calculate_frame_score(self, timecode: FrameTimecode, frame_img: np.ndarray) -> float:
        if self.stats_manager is not None or self._weights.delta_edges > 0.0:
            return super()._calculate_frame_score(timecode, frame_img)
        hue, sat, lum = cv2.split(cv2.cvtColor(frame_img, cv2.COLOR_BGR2HSV))
        last, self._last_frame = self._last_frame, ContentDetector._FrameData(hue, sat, lum, None)
        if last is None:
            return 0.0
        n = float(hue.shape[0] * hue.shape[1])
        components = (
            cv2.norm(hue, last.hue, cv2.NORM_L1) / n,  # an exact integer sum, as numpy's
            cv2.norm(sat, last.sat, cv2.NORM_L1) / n,
            cv2.norm(lum, last.lum, cv2.NORM_L1) / n,
            0.0,
        )
        weights = self._weights
        return sum(c * w for c, w in zip(components, weights, strict=True)) / sum(abs(w) for w in weights)


class _FastContentDetector(_FastContentScore, ContentDetector):
    pass


class _FastAdaptiveDetector(_FastContentScore, AdaptiveDetector):
    pass


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
        return _FastContentDetector(**kwargs)


@SHOT_DETECTORS.register("pyscenedetect-adaptive")
class AdaptiveShotDetector(_SceneDetectBase):
    """PySceneDetect AdaptiveDetector: frame score against a rolling average (robust to fast motion)."""

    def _make(self):
        kwargs = {"min_scene_len": self.min_len}
        if self.config.threshold is not None:
            kwargs["adaptive_threshold"] = self.config.threshold
        return _FastAdaptiveDetector(**kwargs)


def build_shot_detector(config: ShotsConfig, fps: float) -> ShotDetector:
    return SHOT_DETECTORS.get(config.backend)(config, fps)
