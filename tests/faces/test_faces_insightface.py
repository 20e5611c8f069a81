"""The insightface backend's real code path (insightface's FaceAnalysis loader, SCRFD decoding,
ArcFace alignment and batching) on tiny random ONNX models with buffalo_l's signatures."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("insightface")

from humo_data.faces.backends import load_backend  # noqa: E402
from humo_data.faces.backends.insightface_onnx import resolve_model_dir  # noqa: E402
from humo_data.faces.config import FacesConfig  # noqa: E402
from humo_data.faces.stage import FaceStage  # noqa: E402
from humo_data.media.frames import frame_record  # noqa: E402
from humo_data.stage import rows_to_table  # noqa: E402
from tests.faces.tiny_insightface import write_tiny_pack  # noqa: E402


@pytest.fixture(scope="module")
def root(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("insightface")
    write_tiny_pack(root / "models" / "buffalo_l")
    return root


def _scene() -> np.ndarray:
    img = np.zeros((480, 640, 3), np.uint8)
    img[120:360, 200:440] = 230  # the tiny detector fires on bright stride-32 cells
    return img


def test_model_dir_layouts(root):
    pack = root / "models" / "buffalo_l"
    assert resolve_model_dir(str(root), "buffalo_l") == pack.resolve()
    assert resolve_model_dir(str(pack), "ignored") == pack.resolve()
    with pytest.raises(FileNotFoundError):
        resolve_model_dir(str(root / "nowhere"), "buffalo_l")
    with pytest.raises(ValueError):
        resolve_model_dir(None, "buffalo_l")


def test_detect_and_embed_through_insightface_loader(root):
    backend = load_backend(FacesConfig(backend="insightface", model_dir=str(root)))
    backend.setup()
    assert backend.embedding_dim == 512
    found = backend.detect([_scene(), np.zeros((480, 640, 3), np.uint8)])
    assert len(found[0]) > 0 and found[1] == []
    for face in found[0]:
        assert face.landmarks.shape == (5, 2) and 0.5 <= face.score <= 1.0
        assert face.box[0] < face.box[2] and face.box[1] < face.box[3]
    items = [(_scene(), f) for f in found[0]]
    a, b = backend.embed(items), backend.embed(items[::-1])
    assert a.shape == (len(items), 512)
    np.testing.assert_allclose(np.linalg.norm(a, axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(a, b[::-1], atol=1e-5)  # batched order does not matter
    assert "CPUExecutionProvider" in backend.provenance()["providers"]


def test_face_stage_with_insightface_backend(root):
    scene = _scene()
    rows = [{
        "_kind": "clip", "_unit": "c", "clip_id": "c", "source_id": "s", "width": 640, "height": 480,
        "_frames": [frame_record(i, i * 0.8, scene) for i in range(3)],
    }, {
        "_kind": "clip", "_unit": "d", "clip_id": "d", "source_id": "s", "width": 640, "height": 480,
        "_frames": [frame_record(i, i * 0.8, np.zeros_like(scene)) for i in range(3)],
    }]  # fmt: skip
    stage = FaceStage(FacesConfig(backend="insightface", model_dir=str(root), min_face_area=0.0))
    face, empty = stage(rows_to_table(rows)).to_pylist()
    assert face["face_backend"] == "insightface" and face["_reject_reason"] is None
    assert face["people_count"] >= 1 and face["face_track"]["num_frames"] == 3
    assert len(face["_features_faces"]["main_embedding"]) == 512
    assert empty["_reject_reason"] == "no_face"
    assert stage.provenance()["providers"]  # what ran; the weights are named explicitly:
    assert any(p.name == "w600k_r50.onnx" for p in Path(stage.weights()["model_dir"]).iterdir())
