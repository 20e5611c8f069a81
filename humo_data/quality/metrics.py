"""Technical image metrics of one luma frame: pure numpy/OpenCV, no state, testable alone.

All values are on scales that do not depend on the frame's resolution, so one threshold serves
a 360p and a 4K source alike:

- exposure: mean luma (BT.601 Y / 255) in [0, 1];
- contrast: standard deviation of luma / 255, in [0, 1];
- sharpness: variance of the Laplacian of the luma (0-255 scale) after resizing the frame so its
  short side is ``SHARPNESS_SHORT_SIDE`` (area interpolation when shrinking). Without the
  resize the same picture scores ~4x higher at half the resolution;
- frame difference: mean |a - b| / 255 of two frames resized to ``DIFF_WIDTH`` wide (the scale
  of the cutter's ``_motion`` column, detection-size luma).
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

SHARPNESS_SHORT_SIDE = 360
DIFF_WIDTH = 256


def exposure(gray: np.ndarray) -> float:
    """Mean luma in [0, 1]."""
    return float(gray.mean()) / 255.0 if gray.size else 0.0


def contrast(gray: np.ndarray) -> float:
    """Luma standard deviation in [0, 1]."""
    return float(gray.std()) / 255.0 if gray.size else 0.0


def resize_short_side(gray: np.ndarray, short_side: int) -> np.ndarray:
    """``gray`` with its short side at ``short_side`` (aspect kept): area when shrinking."""
    h, w = gray.shape[:2]
    if min(h, w) == short_side or min(h, w) == 0:
        return gray
    scale = short_side / min(h, w)
    size = (max(1, int(round(w * scale))), max(1, int(round(h * scale))))
    interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    return cv2.resize(gray, size, interpolation=interp)


def sharpness(gray: np.ndarray, short_side: int = SHARPNESS_SHORT_SIDE) -> float:
    """Variance of the Laplacian at a fixed short side (resolution-independent focus measure)."""
    if gray.size == 0 or min(gray.shape[:2]) < 3:
        return 0.0
    norm = resize_short_side(gray, short_side)
    return float(cv2.Laplacian(norm, cv2.CV_64F, ksize=1).var())


def diff_image(gray: np.ndarray) -> np.ndarray:
    """The frame at the frame-difference scale (``DIFF_WIDTH`` wide)."""
    h, w = gray.shape[:2]
    if w <= DIFF_WIDTH:
        return gray
    return cv2.resize(gray, (DIFF_WIDTH, max(1, round(h * DIFF_WIDTH / w))), interpolation=cv2.INTER_AREA)


def frame_differences(grays: Sequence[np.ndarray]) -> list[float]:
    """Mean |difference| / 255 of consecutive frames, at the ``_motion`` scale."""
    small = [diff_image(g) for g in grays]
    out = []
    for a, b in zip(small, small[1:], strict=False):
        if a.shape != b.shape:
            b = cv2.resize(b, (a.shape[1], a.shape[0]), interpolation=cv2.INTER_AREA)
        out.append(float(cv2.absdiff(a, b).mean()) / 255.0)
    return out
