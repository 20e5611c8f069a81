"""Offline default: dlib's HOG face detector, 68-point landmarks and 128-d ResNet descriptor.

All three models ship in PyPI wheels (dlib-bin, face-recognition-models); nothing downloads. The
model files are found by path (``face_recognition_models`` imports pkg_resources, gone from new
setuptools, so the package is located without importing it).

HOG scans an 80 px window: smaller faces are missed. The working scale is chosen per frame so the
smallest face worth reporting (``detect_fraction`` of the smallest face the stage keeps on that frame,
given by the stage in frame pixels) is about 80 px: large frames are downscaled (faster), small ones
upsampled. Landmarks and descriptors run on the full frame.
Measured on the shared media (9 people, stills and video frames): same-person descriptor distances
<= 0.44, different-person >= 0.62; dlib's own threshold is 0.6.
"""

from __future__ import annotations

import importlib.util
import math
from collections import defaultdict
from pathlib import Path

import cv2
import numpy as np

from humo_data.faces.backends.base import FACE_BACKENDS, Face, FaceBackend

HOG_WINDOW_PX = 80.0
MODEL_FILES = {
    "landmarks": "shape_predictor_68_face_landmarks.dat",
    "descriptor": "dlib_face_recognition_resnet_model_v1.dat",
}


def model_path(kind: str) -> Path:
    """Path of a model file inside the face-recognition-models wheel (without importing it)."""
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError(
            "the dlib face backend needs the face-recognition-models package: pip install face-recognition-models"
        )
    path = Path(next(iter(spec.submodule_search_locations))) / "models" / MODEL_FILES[kind]
    if not path.is_file():
        raise RuntimeError(f"face-recognition-models is installed but {path} is missing")
    return path


def working_scale(smallest_kept: float, fraction: float, max_up: float) -> float:
    """Resize factor for HOG so a face of ``fraction`` x the smallest kept side (px) is ~80 px."""
    return float(min(max_up, max(0.2, HOG_WINDOW_PX / (fraction * max(smallest_kept, 1.0)))))


@FACE_BACKENDS.register("dlib")
class DlibBackend(FaceBackend):
    match_distance = 0.55
    cross_source_distance = 0.5
    embedding_dim = 128
    left_eye = tuple(range(36, 42))
    right_eye = tuple(range(42, 48))
    nose_tip = 30
    parts = tuple(range(27, 36)) + tuple(range(36, 48)) + tuple(range(48, 68))

    def setup(self) -> None:
        import dlib

        self._dlib = dlib
        self._detector = dlib.get_frontal_face_detector()
        self._landmarks = dlib.shape_predictor(str(model_path("landmarks")))
        self._descriptor = dlib.face_recognition_model_v1(str(model_path("descriptor")))

    def _scale(self, rgb: np.ndarray, min_side: float | None) -> float:
        c = self.config
        if min_side is None:  # no hint: the frame is taken as the stored clip
            h, w = rgb.shape[:2]
            min_side = max(c.min_face_px, math.sqrt(c.min_face_area * w * h))
        return working_scale(min_side, c.detect_fraction, c.max_upscale)

    def detect(self, images: list[np.ndarray], min_sides: list[float] | None = None) -> list[list[Face]]:
        dlib = self._dlib
        threshold = 0.0 if self.config.det_threshold is None else float(self.config.det_threshold)
        out = []
        for i, rgb in enumerate(images):
            rgb = np.ascontiguousarray(rgb)
            s = self._scale(rgb, None if min_sides is None else min_sides[i])
            interp = cv2.INTER_AREA if s < 1 else cv2.INTER_LINEAR
            work = rgb if abs(s - 1) < 1e-3 else cv2.resize(rgb, None, fx=s, fy=s, interpolation=interp)
            rects, scores, _ = self._detector.run(work, 0, threshold)
            faces = []
            for r, score in zip(rects, scores, strict=True):
                box = np.array([r.left(), r.top(), r.right() + 1, r.bottom() + 1], np.float32) / s
                rect = dlib.rectangle(*(int(round(v)) for v in box))
                shape = self._landmarks(rgb, rect)
                pts = np.array([(p.x, p.y) for p in shape.parts()], np.float32)
                faces.append(Face(box=box, score=float(score), landmarks=pts))
            out.append(faces)
        return out

    def embed(self, items: list[tuple[np.ndarray, Face]]) -> np.ndarray:
        dlib = self._dlib
        result = np.zeros((len(items), self.embedding_dim), np.float32)
        by_image: dict[int, list[int]] = defaultdict(list)
        images: dict[int, np.ndarray] = {}
        for i, (rgb, _) in enumerate(items):
            by_image[id(rgb)].append(i)
            images[id(rgb)] = rgb
        for key, idx in by_image.items():
            rgb = np.ascontiguousarray(images[key])
            shapes = dlib.full_object_detections()
            for i in idx:
                face = items[i][1]
                rect = dlib.rectangle(*(int(round(v)) for v in face.box))
                shapes.append(
                    dlib.full_object_detection(rect, [dlib.point(int(x), int(y)) for x, y in face.landmarks])
                )
            descriptors = self._descriptor.compute_face_descriptor(rgb, shapes, 0)
            for i, d in zip(idx, descriptors, strict=True):
                result[i] = np.asarray(d, np.float32)
        return result

    def provenance(self) -> dict[str, str]:
        return {
            "backend": self.backend_name,
            "detector": "dlib HOG frontal_face_detector",
            "landmarks": str(model_path("landmarks")),
            "descriptor": str(model_path("descriptor")),
        }
