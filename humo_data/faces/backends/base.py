"""The face-backend interface: detect faces with landmarks on RGB frames, embed chosen faces.

A backend names its embedding metric: every embedding it returns is compared with the Euclidean
distance, and ``match_distance`` is the same-person threshold in that space (the identity pass uses it
unless the config overrides it). Landmark layouts differ (dlib: 68 points, SCRFD: 5), so a backend
also says which points are the eyes, the nose tip and the mouth.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from humo_data.faces.config import FacesConfig
from humo_data.registry import Registry


@dataclass
class Face:
    """One detection on one frame, in that frame's pixels."""

    box: np.ndarray  # x0, y0, x1, y1 (float32)
    score: float
    landmarks: np.ndarray  # K x 2 (float32)
    embedding: np.ndarray | None = field(default=None)

    @property
    def side(self) -> float:
        return float(min(self.box[2] - self.box[0], self.box[3] - self.box[1]))

    @property
    def area(self) -> float:
        return float(max(0.0, self.box[2] - self.box[0]) * max(0.0, self.box[3] - self.box[1]))


class FaceBackend:
    """Base of face backends. ``setup`` loads weights once per worker."""

    backend_name: ClassVar[str]
    #: same-person distance in this backend's embedding space (Euclidean)
    match_distance: ClassVar[float]
    #: stricter distance for merging identities across sources (false merges there pick wrong people)
    cross_source_distance: ClassVar[float]
    embedding_dim: ClassVar[int]
    #: landmark indices of the parts that must be inside the picture, and of eyes / nose for yaw
    left_eye: ClassVar[tuple[int, ...]]
    right_eye: ClassVar[tuple[int, ...]]
    nose_tip: ClassVar[int]
    parts: ClassVar[tuple[int, ...]]

    def __init__(self, config: FacesConfig):
        self.config = config

    def setup(self) -> None:
        """Load models. Called once per worker before the first batch."""

    def detect(self, images: list[np.ndarray], min_sides: list[float] | None = None) -> list[list[Face]]:
        """Faces (box, score, landmarks; no embedding) on each RGB uint8 image. ``min_sides``: per
        image, the short side (px) of the smallest face the stage keeps there (a detector with a
        minimum face size scales the image to see it); None = min_face_px of the config."""
        raise NotImplementedError

    def embed(self, items: list[tuple[np.ndarray, Face]]) -> np.ndarray:
        """Embeddings (N x embedding_dim, float32) of the given faces on their images, batched."""
        raise NotImplementedError

    def provenance(self) -> dict[str, str]:
        """What ran, for the manifest (backend, providers, ...)."""
        return {"backend": self.backend_name}

    @classmethod
    def weights(cls, config: Any) -> dict[str, str | None]:
        """The weights this backend loads under ``config`` (field -> local path), for the manifest."""
        return {}


FACE_BACKENDS: Registry[FaceBackend] = Registry("face")
