"""Black borders (letterbox / pillarbox): the content region of a clip's sampled frames.

A row (or column) of pixels is border when it is dark and flat in EVERY sampled frame: a dark
scene darkens some frames, but burned-in bars stay black all clip long. The content region is
the box between the outermost non-border rows and columns; bars thinner than ``min_fraction`` of
the side are ignored (codec edge artefacts, one-pixel crop lines).

    region = content_region(grays, dark=0.08, min_fraction=0.02)  # (x0, y0, x1, y1) or None
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

Box = tuple[int, int, int, int]


def _flat_dark(gray: np.ndarray, axis: int, dark: float, flat: float) -> np.ndarray:
    """Per row (axis=1) or column (axis=0): True where the line is dark and flat."""
    g = gray.astype(np.float32) / 255.0
    dim = 1 if axis == 1 else 0
    mean = cv2.reduce(g, dim, cv2.REDUCE_AVG).reshape(-1)
    sq = cv2.reduce(g * g, dim, cv2.REDUCE_AVG).reshape(-1)
    std = np.sqrt(np.maximum(sq - mean * mean, 0.0))
    return (mean < dark) & (std < flat)


def _extent(border: np.ndarray, min_len: int) -> tuple[int, int]:
    """First and one-past-last index of content along one axis, bars shorter than min_len ignored."""
    n = len(border)
    content = np.flatnonzero(~border)
    if content.size == 0:
        return 0, n  # all dark: not a border question (the exposure gate speaks)
    lo, hi = int(content[0]), int(content[-1]) + 1
    lo = lo if lo >= min_len else 0
    hi = hi if n - hi >= min_len else n
    return lo, hi


def content_region(
    grays: Sequence[np.ndarray], dark: float = 0.08, flat: float = 0.03, min_fraction: float = 0.02
) -> Box | None:
    """Content box (x0, y0, x1, y1) in the frames' pixels, or None when there is no border.
    Frames must share one size (the cutter samples them so)."""
    if not grays:
        return None
    h, w = grays[0].shape[:2]
    rows = np.ones(h, bool)
    cols = np.ones(w, bool)
    for g in grays:
        if g.shape[:2] != (h, w):
            continue
        rows &= _flat_dark(g, 1, dark, flat)
        cols &= _flat_dark(g, 0, dark, flat)
    y0, y1 = _extent(rows, max(2, int(round(min_fraction * h))))
    x0, x1 = _extent(cols, max(2, int(round(min_fraction * w))))
    if (x0, y0, x1, y1) == (0, 0, w, h):
        return None
    return x0, y0, x1, y1


def scale_box(box: Box, from_size: tuple[int, int], to_size: tuple[int, int]) -> list[int]:
    """Box in (w, h) ``from_size`` pixels -> ``to_size`` pixels, rounded, clamped."""
    sx, sy = to_size[0] / from_size[0], to_size[1] / from_size[1]
    x0, y0, x1, y1 = box
    return [
        max(0, int(round(x0 * sx))),
        max(0, int(round(y0 * sy))),
        min(to_size[0], int(round(x1 * sx))),
        min(to_size[1], int(round(y1 * sy))),
    ]
