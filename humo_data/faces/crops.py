"""Head-and-shoulders crops for reference images, cut from the sampled frame at source resolution."""

from __future__ import annotations

import cv2
import numpy as np


def crop_window(
    box: np.ndarray, width: int, height: int, scale: float, shift: float
) -> tuple[int, int, int, int]:
    """Square window of side ``scale`` x the face's long side, centred ``shift`` face-heights below the
    face centre, slid inside the frame where it fits, clipped where it does not."""
    x0, y0, x1, y1 = (float(v) for v in box)
    side = scale * max(x1 - x0, y1 - y0)
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2 + shift * (y1 - y0)
    left, top = cx - side / 2, cy - side / 2
    left = min(max(left, 0.0), max(0.0, width - side))
    top = min(max(top, 0.0), max(0.0, height - side))
    right, bottom = min(width, left + side), min(height, top + side)
    return int(round(left)), int(round(top)), int(round(right)), int(round(bottom))


def head_and_shoulders(
    rgb: np.ndarray, box: np.ndarray, scale: float, shift: float, max_side: int
) -> tuple[np.ndarray, list[float]]:
    """The crop (RGB, at most ``max_side``) and the face box in the crop's pixels."""
    h, w = rgb.shape[:2]
    left, top, right, bottom = crop_window(box, w, h, scale, shift)
    crop = rgb[top:bottom, left:right]
    f = min(1.0, max_side / max(crop.shape[:2]))
    if f < 1.0:
        size = (max(1, int(round(crop.shape[1] * f))), max(1, int(round(crop.shape[0] * f))))
        crop = cv2.resize(crop, size, interpolation=cv2.INTER_AREA)
    face = [
        (float(box[0]) - left) * f,
        (float(box[1]) - top) * f,
        (float(box[2]) - left) * f,
        (float(box[3]) - top) * f,
    ]
    return np.ascontiguousarray(crop), face
