"""Context descriptors: what surrounds a face (background, clothing, hair), to pick references whose
context differs from the target clip's (HuMo avoids copy-paste by taking the reference from a clip
with other clothes, background or hair).

Every backend returns L2-normalised vectors, so context similarity is a dot product (1 = same scene).
The face box itself is blanked first: the descriptor must not see the identity.

- ``histogram`` (default, no model): an HSV colour histogram of the frame outside the face (square
  roots, so the dot product is the Bhattacharyya coefficient) plus an 8x8 grey layout thumbnail
  (zero mean: the dot product is a correlation), weighted 0.7 / 0.3.
- ``open_clip``: the CLIP image embedding of the frame with the face blanked, from local weights.
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

import cv2
import numpy as np

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
        """One unit vector per (RGB frame, face box)."""
        raise NotImplementedError


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
