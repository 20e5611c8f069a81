"""Context descriptors: what surrounds a face (background, clothing, hair), to pick references whose
context differs from the target clip's (HuMo avoids copy-paste by taking the reference from a clip
with other clothes, background or hair) and to tell the same set and clothes from another one.

The face itself never enters a descriptor, which must not see the identity. Descriptors are compared
where they are used, by humo_data.identity.context.context_similarity (1 = same scene).

- ``surround`` (default, no model): the picture around the face in face units (a window 2.4 face
  sides wide, from 0.9 sides above the face centre to 1.5 below: hair, shoulders, clothes, the
  background beside the head) as a 16x16 grid of CIELAB colours; the face frame comes from the eye
  landmarks (``face_box``: a detector's box jitters ~10% between copies of one frame), and the
  face's own pixels never count. Cells outside the picture (frame edge, letterbox or pillarbox bars)
  are masked, and two descriptors are compared by the colour correlation over the cells both see.
  Because the window follows the face, a rescaled, cropped, letterboxed or re-encoded copy of a
  frame, and other moments of the same recording, describe alike (the five shared talking heads and
  8 copies of each: >= 0.91, median 0.99), while another recording does not (the two Obama photos
  0.20, the two Biden photos 0.40; other people's videos <= 0.70, two plain grey backdrops).
  benchmarks/same_footage.py measures it.
- ``histogram`` (earlier default, kept for datasets made with it): an HSV colour histogram of the
  whole frame outside the face plus an 8x8 grey layout, unit norm, dot product. It sees borders and
  crops as other scenes (0.28 between copies of one frame) and is no same-footage check.
- ``open_clip``: the CLIP image embedding of the frame with the face blanked, from local weights;
  unit norm, dot product.
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

import cv2
import numpy as np

from humo_data.faces.backends.base import Face, FaceBackend
from humo_data.faces.config import FacesConfig
from humo_data.registry import Registry

CONTEXT_BACKENDS: Registry[ContextBackend] = Registry("context")


class ContextBackend:
    backend_name: ClassVar[str]

    def __init__(self, config: FacesConfig):
        self.config = config

    def setup(self) -> None:
        """Load weights (once per worker)."""

    def describe(self, items: list[tuple[np.ndarray, np.ndarray]]) -> list[np.ndarray]:
        """One descriptor per (RGB frame, face box)."""
        raise NotImplementedError

    def face_box(self, face: Face, backend: FaceBackend) -> np.ndarray:
        """The box ``describe`` takes for a detection (default: the detector's box)."""
        return np.asarray(face.box, np.float32)


def blank_face(rgb: np.ndarray, box: np.ndarray, grow: float = 1.1) -> tuple[np.ndarray, np.ndarray]:
    """The frame with the (slightly grown) face box filled grey, and the boolean mask of kept pixels."""
    h, w = rgb.shape[:2]
    x0, y0, x1, y1 = (float(v) for v in box)
    cx, cy, hw, hh = (x0 + x1) / 2, (y0 + y1) / 2, (x1 - x0) * grow / 2, (y1 - y0) * grow / 2
    left, top = max(0, int(cx - hw)), max(0, int(cy - hh))
    right, bottom = min(w, int(np.ceil(cx + hw))), min(h, int(np.ceil(cy + hh)))
    out = rgb.copy()
    out[top:bottom, left:right] = 128
    mask = np.ones((h, w), bool)
    mask[top:bottom, left:right] = False
    return out, mask


@CONTEXT_BACKENDS.register("histogram")
class HistogramContext(ContextBackend):
    short_side: ClassVar[int] = 96
    bins: ClassVar[tuple[int, int, int]] = (8, 4, 4)
    weights: ClassVar[tuple[float, float]] = (0.7, 0.3)

    def describe(self, items: list[tuple[np.ndarray, np.ndarray]]) -> list[np.ndarray]:
        return [self._one(rgb, box) for rgb, box in items]

    def _one(self, rgb: np.ndarray, box: np.ndarray) -> np.ndarray:
        h, w = rgb.shape[:2]
        f = min(1.0, self.short_side / min(h, w))
        size = (max(8, int(round(w * f))), max(8, int(round(h * f))))
        small = cv2.resize(rgb, size, interpolation=cv2.INTER_AREA)
        blanked, mask = blank_face(small, np.asarray(box, np.float32) * np.float32(size[0] / w))
        hsv = cv2.cvtColor(small, cv2.COLOR_RGB2HSV)
        m = mask.astype(np.uint8) if mask.any() else None
        hist = cv2.calcHist([hsv], [0, 1, 2], m, list(self.bins), [0, 180, 0, 256, 0, 256]).ravel()
        hist = np.sqrt(hist / max(float(hist.sum()), 1.0))
        grey = cv2.resize(cv2.cvtColor(blanked, cv2.COLOR_RGB2GRAY), (8, 8), interpolation=cv2.INTER_AREA)
        layout = grey.astype(np.float32).ravel()
        layout -= layout.mean()
        layout /= max(float(np.linalg.norm(layout)), 1e-6)
        vec = np.concatenate([np.sqrt(self.weights[0]) * _unit(hist), np.sqrt(self.weights[1]) * layout])
        return _unit(vec).astype(np.float32)


def content_box(rgb: np.ndarray, level: int = 24) -> tuple[int, int, int, int]:
    """x0, y0, x1, y1 inside black bars: edge rows/columns whose brightest value stays under
    ``level`` (a letterbox or pillarbox). The whole frame when that would leave under half of it."""
    h, w = rgb.shape[:2]
    # OpenCV's SIMD channel max, threshold and sums: numpy's max over a 720p frame costs ~25 ms
    brightest = rgb if rgb.ndim == 2 else cv2.max(cv2.max(rgb[..., 0], rgb[..., 1]), rgb[..., 2])
    _, bright = cv2.threshold(np.ascontiguousarray(brightest), level, 1, cv2.THRESH_BINARY)
    rows = np.flatnonzero(cv2.reduce(bright, 1, cv2.REDUCE_SUM, dtype=cv2.CV_32S).ravel())
    cols = np.flatnonzero(cv2.reduce(bright, 0, cv2.REDUCE_SUM, dtype=cv2.CV_32S).ravel())
    if len(rows) == 0 or len(cols) == 0:
        return 0, 0, w, h
    x0, x1, y0, y1 = int(cols[0]), int(cols[-1]) + 1, int(rows[0]), int(rows[-1]) + 1
    if (x1 - x0) * 2 < w or (y1 - y0) * 2 < h:
        return 0, 0, w, h
    return x0, y0, x1, y1


@CONTEXT_BACKENDS.register("surround")
class SurroundContext(ContextBackend):
    """The face-relative surroundings as masked CIELAB cells (see the module doc).

    Vector layout: ``[mask (N cells, 1 = seen), L (N), a (N), b (N)]``, unseen cells 0."""

    grid: ClassVar[int] = 16
    #: window from the face centre: left, right (face widths), up, down (face heights)
    extent: ClassVar[tuple[float, float, float, float]] = (1.2, 1.2, 0.9, 1.5)
    supersample: ClassVar[int] = 4  # pixels per cell side before averaging
    chroma_weight: ClassVar[float] = 2.0  # a/b spread less than L in CIELAB units
    min_seen: ClassVar[float] = 0.75  # a cell counts when this share of it is picture, not face
    channels: ClassVar[int] = 3
    #: the face frame from the eyes: side = this x the distance of the eye centres (the median dlib
    #: box is 2.32 of it on the shared talking heads), centre this far below the eyes (in sides)
    eye_side: ClassVar[float] = 2.3
    eye_drop: ClassVar[float] = 0.2

    def face_box(self, face: Face, backend: FaceBackend) -> np.ndarray:
        """A square face frame from the eye landmarks: a detector's box jitters by ~10% in size and
        5% in place between copies of one frame (HOG's scale steps), eye landmarks by a pixel or two,
        and the window is in face units, so copies line up. The detector's box when eyes are missing."""
        lm = np.asarray(face.landmarks, np.float32).reshape(-1, 2)
        box = np.asarray(face.box, np.float32)
        if len(lm) <= max(*backend.left_eye, *backend.right_eye):
            return box
        left, right = lm[list(backend.left_eye)].mean(0), lm[list(backend.right_eye)].mean(0)
        side = self.eye_side * float(np.linalg.norm(right - left))
        if side < 0.5 * float(box[2] - box[0]):  # a profile: the eyes overlap
            return box
        cx, cy = (left + right) / 2 + np.array([0.0, self.eye_drop * side], np.float32)
        return np.array([cx - side / 2, cy - side / 2, cx + side / 2, cy + side / 2], np.float32)

    @classmethod
    def face_mask(cls) -> np.ndarray:
        """Window pixels of the face box (grown by a pixel for the anti-alias blur and the bilinear
        warp): never seen. Fixed, since the window is in face units."""
        left, right, up, down = cls.extent
        side = cls.grid * cls.supersample
        x0, x1 = (left - 0.5) / (left + right) * side - 1, (left + 0.5) / (left + right) * side + 1
        y0, y1 = (up - 0.5) / (up + down) * side - 1, (up + 0.5) / (up + down) * side + 1
        centres = np.arange(side) + 0.5
        return ((centres >= y0) & (centres <= y1))[:, None] & ((centres >= x0) & (centres <= x1))[None, :]

    @classmethod
    def face_cells(cls) -> np.ndarray:
        """Cells in the descriptor: all but those the face covers entirely."""
        g, s = cls.grid, cls.supersample
        return ~cls.face_mask().reshape(g, s, g, s).all((1, 3))

    def describe(self, items: list[tuple[np.ndarray, np.ndarray]]) -> list[np.ndarray]:
        keep, face = self.face_cells(), self.face_mask()
        return [self._one(rgb, np.asarray(box, np.float32), keep, face) for rgb, box in items]

    def _one(self, rgb: np.ndarray, box: np.ndarray, keep: np.ndarray, face: np.ndarray) -> np.ndarray:
        x0, y0, x1, y1 = content_box(rgb)
        picture = rgb[y0:y1, x0:x1]
        bx0, by0, bx1, by1 = (float(v) for v in box)
        fw, fh = max(bx1 - bx0, 1.0), max(by1 - by0, 1.0)
        cx, cy = (bx0 + bx1) / 2 - x0, (by0 + by1) / 2 - y0
        left, right, up, down = self.extent
        side = self.grid * self.supersample
        sx, sy = side / ((left + right) * fw), side / ((up + down) * fh)
        k = max(1, int(round(1 / min(sx, sy)))) if min(sx, sy) < 0.5 else 1
        # only the window's part of the picture (plus the blur's reach) is filtered and warped
        ox = max(0, int(np.floor(cx - left * fw)) - k)
        oy = max(0, int(np.floor(cy - up * fh)) - k)
        picture = picture[
            oy : int(np.ceil(cy + down * fh)) + k + 1, ox : int(np.ceil(cx + right * fw)) + k + 1
        ]
        if picture.size == 0:
            picture = np.zeros((1, 1, 3), np.uint8)  # the window lies outside the picture: nothing seen
            ox, oy = -(10**6), -(10**6)
        cx, cy = cx - ox, cy - oy
        if k > 1:  # box-filter first so the warp's point samples do not alias
            picture = cv2.blur(picture, (k, k))
        warp = np.array([[sx, 0, -(cx - left * fw) * sx], [0, sy, -(cy - up * fh) * sy]], np.float32)
        window = cv2.warpAffine(
            picture, warp, (side, side), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT
        )
        inside = cv2.warpAffine(
            np.ones(picture.shape[:2], np.float32), warp, (side, side), flags=cv2.INTER_NEAREST,
            borderMode=cv2.BORDER_CONSTANT, borderValue=0,
        )  # fmt: skip
        inside[face] = 0.0  # the face never counts, not even in the cells it touches
        lab = cv2.cvtColor(window, cv2.COLOR_RGB2LAB).astype(np.float32)
        lab *= np.array([1.0, self.chroma_weight, self.chroma_weight], np.float32)
        g, s = self.grid, self.supersample
        weight = inside.reshape(g, s, g, s).sum((1, 3))
        cells = (lab * inside[..., None]).reshape(g, s, g, s, 3).sum((1, 3))
        cells /= np.maximum(weight, 1)[..., None]
        seen = (weight / (s * s) >= self.min_seen)[keep].astype(np.float32)
        values = cells[keep] * seen[:, None]
        return np.concatenate([seen, values.T.ravel()]).astype(np.float32)


@CONTEXT_BACKENDS.register("open_clip")
class OpenClipContext(ContextBackend):
    """CLIP image embedding of the frame with the face blanked (torch + open_clip, local weights)."""

    def setup(self) -> None:
        import open_clip
        import torch

        if not self.config.context_weights:
            raise ValueError(
                "faces.context_backend=open_clip needs faces.context_weights (a local weights path)"
            )
        arch = self.config.context_arch
        if arch.endswith(".json"):  # a local architecture config: registered under its file stem
            open_clip.add_model_config(arch)
            arch = Path(arch).stem
        model, _, preprocess = open_clip.create_model_and_transforms(
            arch, pretrained=self.config.context_weights
        )
        self._model = model.eval()
        self._preprocess = preprocess
        self._torch = torch

    def describe(self, items: list[tuple[np.ndarray, np.ndarray]]) -> list[np.ndarray]:
        from PIL import Image

        if not items:
            return []
        torch = self._torch
        batch = torch.stack(
            [self._preprocess(Image.fromarray(blank_face(rgb, np.asarray(box))[0])) for rgb, box in items]
        )
        with torch.inference_mode():
            feats = self._model.encode_image(batch).float().numpy()
        return [_unit(f).astype(np.float32) for f in feats]


def _unit(v: np.ndarray) -> np.ndarray:
    return v / max(float(np.linalg.norm(v)), 1e-12)


def load_context(config: FacesConfig) -> ContextBackend:
    return CONTEXT_BACKENDS.get(config.context_backend)(config)
