"""Box geometry of the face stage: the size/position filter, IoU, a yaw estimate, box mapping."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from humo_data.faces.backends.base import Face, FaceBackend
from humo_data.faces.config import FacesConfig

#: filter outcomes of one detection
KEPT, TOO_SMALL, CUT = "kept", "too_small", "cut"


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


def classify(face: Face, picture: np.ndarray, config: FacesConfig, backend: FaceBackend) -> str:
    """KEPT, TOO_SMALL (box under min_face_area / min_face_px) or CUT (eyes/nose/mouth outside)."""
    area = float((picture[2] - picture[0]) * (picture[3] - picture[1]))
    if face.side < config.min_face_px or face.area < config.min_face_area * area:
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


def iou(a: np.ndarray, b: np.ndarray) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return float(inter / union) if union > 0 else 0.0


def scale_box(box: np.ndarray, sx: float, sy: float) -> list[float]:
    return [float(box[0] * sx), float(box[1] * sy), float(box[2] * sx), float(box[3] * sy)]
