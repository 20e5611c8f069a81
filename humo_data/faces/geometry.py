"""Box geometry of the face stage: the size/position filter, IoU, a yaw estimate, box mapping.

Face sizes are judged where they matter, not in the sampled frame: in the STORED clip (what the
model trains on) and in the SOURCE (how many real pixels are behind the face). ``FrameScale`` maps
a sampled frame's pixels to both; all three images show the same picture (rotated for display,
aspect kept), so one factor per image is the ratio of their short sides.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from humo_data.faces.backends.base import Face, FaceBackend
from humo_data.faces.config import FacesConfig

#: filter outcomes of one detection
KEPT, TOO_SMALL, CUT = "kept", "too_small", "cut"


@dataclass(frozen=True)
class FrameScale:
    """Pixels of the stored clip and of the source per pixel of a sampled frame."""

    stored: float
    source: float | None  # None: the source size is unknown (the source rule does not apply)


def frame_scale(
    width: int,
    height: int,
    clip_size: tuple[int | None, int | None],
    source_size: tuple[int | None, int | None],
) -> FrameScale:
    """Scale of a ``width`` x ``height`` sampled frame to the stored clip and to the source (short
    sides: the source's coded size is before rotation, the clip's after; the short side is the same)."""
    short = float(min(width, height)) or 1.0
    cw, ch = clip_size
    sw, sh = source_size
    return FrameScale(
        stored=min(cw, ch) / short if cw and ch else 1.0,
        source=min(sw, sh) / short if sw and sh else None,
    )


@dataclass(frozen=True)
class FaceSize:
    """A face's size where the filter judges it: box short side in stored-clip and source pixels,
    box area as a share of the picture."""

    stored_px: float
    source_px: float | None
    picture_share: float


def face_size(face: Face, picture: np.ndarray, scale: FrameScale) -> FaceSize:
    area = float((picture[2] - picture[0]) * (picture[3] - picture[1]))
    return FaceSize(
        stored_px=face.side * scale.stored,
        source_px=None if scale.source is None else face.side * scale.source,
        picture_share=face.area / area if area > 0 else 0.0,
    )


def big_enough(size: FaceSize, config: FacesConfig) -> bool:
    return (
        size.stored_px >= config.min_face_px
        and (size.source_px is None or size.source_px >= config.min_face_source_px)
        and size.picture_share >= config.min_face_area
    )


def smallest_kept_side(picture: np.ndarray, scale: FrameScale, config: FacesConfig) -> float:
    """Short side (sampled-frame px) of the smallest face the filter keeps on this frame: what a
    detector with a minimum face size (dlib's HOG) must be able to see."""
    area = float((picture[2] - picture[0]) * (picture[3] - picture[1]))
    sides = [config.min_face_px / scale.stored, math.sqrt(max(0.0, config.min_face_area * area))]
    if scale.source:
        sides.append(config.min_face_source_px / scale.source)
    return max(sides)


def picture_box(width: int, height: int, border: Sequence[int] | None, clip_size: tuple[int, int] | None):
    """The picture region of a sampled frame: the whole frame, or quality_border's content region
    (given in encoded-clip pixels) mapped into the frame."""
    if not border or not clip_size or len(border) != 4 or not clip_size[0] or not clip_size[1]:
        return np.array([0, 0, width, height], np.float32)
    sx, sy = width / clip_size[0], height / clip_size[1]
    x0, y0, x1, y1 = border
    box = np.array([x0 * sx, y0 * sy, x1 * sx, y1 * sy], np.float32)
    if box[2] - box[0] < 2 or box[3] - box[1] < 2:
        return np.array([0, 0, width, height], np.float32)
    return box


def classify(
    face: Face, picture: np.ndarray, scale: FrameScale, config: FacesConfig, backend: FaceBackend
) -> str:
    """KEPT, TOO_SMALL (under min_face_px in the stored clip, min_face_source_px in the source or
    min_face_area of the picture) or CUT (eyes/nose/mouth outside the picture)."""
    if not big_enough(face_size(face, picture, scale), config):
        return TOO_SMALL
    if config.parts_inside and not parts_inside(face, picture, config.border_margin, backend):
        return CUT
    return KEPT


def parts_inside(face: Face, picture: np.ndarray, margin: float, backend: FaceBackend) -> bool:
    pts = face.landmarks[[i for i in backend.parts if i < len(face.landmarks)]]
    if len(pts) == 0:
        return True
    m = margin * face.side
    return bool(
        (pts[:, 0] >= picture[0] + m).all()
        and (pts[:, 0] <= picture[2] - m).all()
        and (pts[:, 1] >= picture[1] + m).all()
        and (pts[:, 1] <= picture[3] - m).all()
    )


def yaw_degrees(face: Face, backend: FaceBackend) -> float:
    """Signed yaw estimate (0 = frontal): the nose tip's offset from the eyes' midpoint, in units of
    the eye distance, through an arcsine. Rough, but monotonic: enough to prefer a different pose."""
    lm = face.landmarks
    n = len(lm)
    if n <= max(backend.nose_tip, *backend.left_eye, *backend.right_eye):
        return 0.0
    left = lm[list(backend.left_eye)].mean(0)
    right = lm[list(backend.right_eye)].mean(0)
    eye_dist = float(np.linalg.norm(right - left))
    if eye_dist < 1e-3:
        return 0.0
    offset = float(lm[backend.nose_tip][0] - (left[0] + right[0]) / 2) / eye_dist
    return math.degrees(math.asin(max(-1.0, min(1.0, offset / 0.9))))


def eye_distance(face: Face, backend: FaceBackend) -> float | None:
    """Distance between the eye centres (landmarks), in the face's frame pixels: a face size that
    does not move in the detector's box steps (dlib reports boxes in 20% pyramid steps)."""
    lm = face.landmarks
    if len(lm) <= max(*backend.left_eye, *backend.right_eye):
        return None
    return float(np.linalg.norm(lm[list(backend.left_eye)].mean(0) - lm[list(backend.right_eye)].mean(0)))


def iou(a: np.ndarray, b: np.ndarray) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return float(inter / union) if union > 0 else 0.0


def scale_box(box: np.ndarray, sx: float, sy: float) -> list[float]:
    return [float(box[0] * sx), float(box[1] * sy), float(box[2] * sx), float(box[3] * sy)]
