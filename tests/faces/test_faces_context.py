"""Context descriptors: the same scene scores high, another scene lower; the face itself is blanked
(a context descriptor must not see identity). open_clip runs from a tiny random local model."""

from __future__ import annotations

import json

import numpy as np
import pytest

from humo_data.faces.config import FacesConfig
from humo_data.faces.context import load_context
from tests.faces.face_rows import frames_at
from tests.shared_media import media_file, needs_media

BOX = np.array([150, 100, 350, 330], np.float32)


@needs_media
def test_histogram_context_separates_scenes():
    ctx = load_context(FacesConfig(context_backend="histogram"))
    a1, a2 = frames_at(media_file("sadtalker_WDA_AlexandriaOcasioCortez_000.mp4"), [0.5, 6.0])
    (b,) = frames_at(media_file("liveportrait_d10.mp4"), [1.0])
    (c,) = frames_at(media_file("liveportrait_d0.mp4"), [1.0])
    va1, va2, vb, vc = ctx.describe([(a1, BOX), (a2, BOX), (b, BOX), (c, BOX)])
    for v in (va1, vb):
        assert abs(np.linalg.norm(v) - 1) < 1e-5
    same = float(va1 @ va2)
    others = [float(va1 @ vb), float(va1 @ vc), float(vb @ vc)]
    assert same > 0.9
    assert max(others) < same - 0.1


def test_histogram_context_ignores_the_face():
    ctx = load_context(FacesConfig(context_backend="histogram"))
    rng = np.random.default_rng(0)
    scene = rng.integers(0, 255, (360, 480, 3), dtype=np.uint8)
    other = scene.copy()
    other[100:330, 150:350] = rng.integers(0, 255, (230, 200, 3), dtype=np.uint8)  # a different "face"
    v1, v2 = ctx.describe([(scene, BOX), (other, BOX)])
    assert float(v1 @ v2) > 0.999


def test_open_clip_context_from_local_weights(tmp_path):
    open_clip = pytest.importorskip("open_clip")
    torch = pytest.importorskip("torch")
    arch = tmp_path / "humo-tiny-clip.json"
    arch.write_text(json.dumps({
        "embed_dim": 16,
        "vision_cfg": {"image_size": 32, "layers": 1, "width": 32, "head_width": 16, "patch_size": 16},
        "text_cfg": {"context_length": 8, "vocab_size": 64, "width": 16, "heads": 2, "layers": 1},
    }))  # fmt: skip
    open_clip.add_model_config(arch)
    torch.manual_seed(0)
    weights = tmp_path / "tiny.pt"
    torch.save(open_clip.create_model("humo-tiny-clip").state_dict(), weights)
    ctx = load_context(
        FacesConfig(context_backend="open_clip", context_arch=str(arch), context_weights=str(weights))
    )
    ctx.setup()
    rng = np.random.default_rng(1)
    frames = [rng.integers(0, 255, (120, 160, 3), dtype=np.uint8) for _ in range(2)]
    box = np.array([40, 20, 100, 90], np.float32)
    v = ctx.describe([(frames[0], box), (frames[1], box)])
    again = ctx.describe([(frames[0], box)])
    assert v[0].shape == (16,) and abs(np.linalg.norm(v[0]) - 1) < 1e-5
    np.testing.assert_allclose(v[0], again[0], atol=1e-5)
    assert not np.allclose(v[0], v[1])
