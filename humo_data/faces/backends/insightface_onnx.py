"""Real backend: InsightFace SCRFD detection (5 landmarks) + ArcFace embeddings on onnxruntime.

Weights come from ``FacesConfig.model_dir`` in the buffalo_l layout and load through insightface's
own loader (``FaceAnalysis``, which routes each ONNX file by its signature); nothing downloads. The
CUDA provider is used when onnxruntime offers it. ArcFace embeddings are L2-normalised, so the
Euclidean distance is sqrt(2 - 2 cos): ``match_distance`` 1.1 is cosine 0.4.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import cv2
import numpy as np

from humo_data.faces.backends.base import FACE_BACKENDS, Face, FaceBackend


def resolve_model_dir(model_dir: str | None, name: str) -> Path:
    """The folder holding the pack's ONNX files: ``model_dir`` itself, or ``model_dir/models/<name>``
    (insightface's root layout), or ``model_dir/<name>``."""
    if not model_dir:
        raise ValueError(
            "faces.backend=insightface needs faces.model_dir (a buffalo_l-style folder of ONNX files)"
        )
    root = Path(model_dir).expanduser()
    for cand in (root, root / "models" / name, root / name):
        if cand.is_dir() and any(cand.glob("*.onnx")):
            return cand.resolve()
    raise FileNotFoundError(f"no ONNX model pack under {root} (looked in ., models/{name}/, {name}/)")


def default_providers() -> list[str]:
    import onnxruntime

    available = onnxruntime.get_available_providers()
    return [p for p in ("CUDAExecutionProvider", "CPUExecutionProvider") if p in available]


@FACE_BACKENDS.register("insightface")
class InsightFaceBackend(FaceBackend):
    match_distance = 1.1
    cross_source_distance = 1.0
    embedding_dim = 512
    left_eye = (0,)
    right_eye = (1,)
    nose_tip = 2
    parts = (0, 1, 2, 3, 4)

    def setup(self) -> None:
        from insightface.app import FaceAnalysis

        c = self.config
        self.model_dir = resolve_model_dir(c.model_dir, c.model_name)
        providers = list(c.providers) if c.providers else default_providers()
        self._app = FaceAnalysis(
            name=str(self.model_dir), allowed_modules=["detection", "recognition"], providers=providers
        )
        if "recognition" not in self._app.models:
            raise RuntimeError(f"{self.model_dir} has a detector but no recognition (ArcFace) model")
        ctx = 0 if providers and providers[0] == "CUDAExecutionProvider" else -1
        thresh = 0.5 if c.det_threshold is None else float(c.det_threshold)
        self._app.prepare(ctx_id=ctx, det_thresh=thresh, det_size=(c.det_size, c.det_size))
        self._det = self._app.det_model
        self._rec = self._app.models["recognition"]
        self.embedding_dim = int(self._rec.output_shape[-1])  # type: ignore[misc]
        self.providers = providers

    def detect(self, images: list[np.ndarray], min_sides: list[float] | None = None) -> list[list[Face]]:
        out = []  # SCRFD finds faces down to ~16 px at det_size: min_sides needs no rescaling
        for rgb in images:
            bgr = cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2BGR)
            boxes, kpss = self._det.detect(bgr, max_num=0)
            faces = []
            for i in range(boxes.shape[0]):
                kps = kpss[i] if kpss is not None else _box_points(boxes[i, :4])
                faces.append(
                    Face(
                        box=boxes[i, :4].astype(np.float32),
                        score=float(boxes[i, 4]),
                        landmarks=np.asarray(kps, np.float32),
                    )
                )
            out.append(faces)
        return out

    def embed(self, items: list[tuple[np.ndarray, Face]]) -> np.ndarray:
        from insightface.utils import face_align

        if not items:
            return np.zeros((0, self.embedding_dim), np.float32)
        size = int(self._rec.input_size[0])
        crops = []
        for rgb, face in items:
            bgr = cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2BGR)
            crops.append(face_align.norm_crop(bgr, landmark=face.landmarks[:5], image_size=size))
        feats = np.asarray(self._rec.get_feat(crops), np.float32).reshape(len(items), -1)
        norms = np.linalg.norm(feats, axis=1, keepdims=True)
        return feats / np.maximum(norms, 1e-12)

    def provenance(self) -> dict[str, str]:
        return {"backend": self.backend_name, "providers": ",".join(getattr(self, "providers", []))}

    @classmethod
    def weights(cls, config: Any) -> dict[str, str | None]:
        try:
            return {"model_dir": str(resolve_model_dir(config.model_dir, config.model_name))}
        except (FileNotFoundError, ValueError):  # said again, with what to do, when the stage loads
            return {"model_dir": config.model_dir}


def _box_points(box: np.ndarray) -> np.ndarray:
    """5 pseudo-landmarks from a box, for detectors without keypoints (eyes, nose, mouth corners)."""
    x0, y0, x1, y1 = (float(v) for v in box)
    w, h = x1 - x0, y1 - y0
    rel = [(0.3, 0.4), (0.7, 0.4), (0.5, 0.6), (0.35, 0.8), (0.65, 0.8)]
    return np.array([(x0 + a * w, y0 + b * h) for a, b in rel], np.float32)
