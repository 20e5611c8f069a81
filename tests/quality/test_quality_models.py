"""Face sharpness on real faces (dlib boxes), the laion-mlp aesthetic stage and the CLIP alignment
stage with tiny random open_clip models loaded through the real loaders."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from humo_data.media.frames import decode_frames
from humo_data.quality import (
    AestheticConfig,
    AestheticStage,
    AlignmentConfig,
    CaptionAlignmentStage,
    FaceQualityConfig,
    FaceQualityStage,
)
from humo_data.quality.aesthetic import LinearStack, load_state_dict
from humo_data.stage import rows_to_table
from tests.quality.clip_rows import decode_rgb, row_from_frames
from tests.quality.tiny_models import TINY_CLIP, tiny_aesthetic_head, tiny_open_clip
from tests.shared_media import media_file, needs_media

pytestmark = needs_media


@pytest.fixture(scope="module")
def speaker() -> list[np.ndarray]:
    return decode_rgb(media_file("sadtalker_WDA_AlexandriaOcasioCortez_000.mp4"), seconds=3.0, start=0.5)


@pytest.fixture(scope="module")
def clip_dir(tmp_path_factory) -> Path:
    return tiny_open_clip(tmp_path_factory.mktemp("clip") / "tiny-clip")


def dlib_track(row: dict) -> dict:
    """The main face's times and boxes in encoded-clip pixels, as the faces stage writes them."""
    import dlib

    detector = dlib.get_frontal_face_detector()
    times, boxes = [], []
    for f in decode_frames(row["_frames"]):
        found = detector(f.rgb, 0)
        if len(found):
            r = max(found, key=lambda r: r.area())
            s = row["width"] / f.width
            times.append(f.time)
            boxes.append([r.left() * s, r.top() * s, r.right() * s, r.bottom() * s])
    return {"times": times, "boxes": boxes, "mean_box": list(np.mean(boxes, axis=0))}


def test_blurred_face_is_rejected_while_the_frame_stays_sharp(speaker):
    row = row_from_frames(speaker)
    track = dlib_track(row)
    assert len(track["times"]) >= 3
    scale = speaker[0].shape[1] / row["width"]  # clip pixels -> source pixels
    x0, y0, x1, y1 = (int(v * scale) for v in track["mean_box"])

    def face_blur(rgb: np.ndarray, _i: int) -> np.ndarray:
        out = rgb.copy()
        pad = (x1 - x0) // 3
        ya, yb, xa, xb = max(0, y0 - pad), y1 + pad, max(0, x0 - pad), x1 + pad
        out[ya:yb, xa:xb] = cv2.GaussianBlur(rgb[ya:yb, xa:xb], (0, 0), 0.05 * (x1 - x0))
        return out

    soft = row_from_frames(speaker, face_blur)
    stage = FaceQualityStage(FaceQualityConfig())
    sharp_out, soft_out, none_out = stage(
        rows_to_table([dict(row, face_track=track), dict(soft, face_track=track), dict(row, face_track=None)])
    ).to_pylist()
    assert sharp_out["_reject_reason"] is None and sharp_out["quality_face_sharpness"] > 50
    assert soft_out["_reject_reason"] == "blurry_face" and "face sharpness" in soft_out["_reject_detail"]
    assert none_out["_reject_reason"] is None and none_out["quality_face_sharpness"] is None


def test_laion_head_loads_both_formats_and_matches_torch(tmp_path):
    import torch

    for name in ("head.safetensors", "head.pth"):
        mlp = tiny_aesthetic_head(tmp_path / name, dim=32, seed=1)
        head = LinearStack(load_state_dict(tmp_path / name))
        x = np.random.default_rng(0).normal(size=(5, 32)).astype(np.float32)
        with torch.no_grad():
            expected = mlp(torch.from_numpy(x))[:, 0].numpy()
        np.testing.assert_allclose(head(x), expected, rtol=1e-4, atol=1e-5)
    with pytest.raises(FileNotFoundError):
        load_state_dict(tmp_path / "missing.pth")


def test_aesthetic_stage_scores_crops_and_gates(tmp_path, clip_dir, speaker):
    tiny_aesthetic_head(tmp_path / "head.safetensors", dim=TINY_CLIP["embed_dim"])
    aesthetic = AestheticConfig(
        backend="laion-mlp", clip_weights=str(clip_dir), head_weights=str(tmp_path / "head.safetensors"),
        min_score=None, device="cpu",
    )  # fmt: skip
    cfg = aesthetic
    rows = [
        dict(row_from_frames(speaker[i::2]), clip_id=f"c{i}", quality_backend="technical-v1") for i in (0, 1)
    ]
    rows[1]["quality_border"] = [0, 60, 480, 420]
    scores = AestheticStage(cfg)(rows_to_table(rows)).to_pylist()
    again = AestheticStage(cfg)(rows_to_table(rows)).to_pylist()
    assert all(np.isfinite(r["quality_aesthetic"]) for r in scores)
    assert [r["quality_aesthetic"] for r in scores] == [
        r["quality_aesthetic"] for r in again
    ]  # deterministic
    assert scores[0]["quality_aesthetic"] != scores[1]["quality_aesthetic"]
    assert {r["quality_backend"] for r in scores} == {"technical-v1+laion-mlp"}

    bar = max(r["quality_aesthetic"] for r in scores) + 1.0
    gated_cfg = aesthetic.model_copy(update={"min_score": bar})
    gated = AestheticStage(gated_cfg)(rows_to_table(rows)).to_pylist()
    assert {r["_reject_reason"] for r in gated} == {"low_aesthetic"}
    assert "score" in gated[0]["_reject_detail"] and "laion-mlp" in gated[0]["_reject_detail"]


def test_alignment_scores_captions_and_withdraws_low_ones(clip_dir, speaker):
    align = AlignmentConfig(enabled=True, clip_weights=str(clip_dir), min_score=None, device="cpu")
    cfg = align
    base = row_from_frames(speaker)
    rows = [
        dict(base, clip_id="a", caption="A woman speaks to the camera in a bright room."),
        dict(base, clip_id="b", caption="Two dogs run across a snowy field."),
        dict(base, clip_id="c", caption=None, caption_reason="vlm_refused 'I cannot'"),
    ]
    out = CaptionAlignmentStage(cfg)(rows_to_table(rows)).to_pylist()
    a, b, c = out
    assert -1 <= a["quality_clip_score"] <= 1 and a["quality_clip_score"] != b["quality_clip_score"]
    assert a["quality_clip_backend"] == "open_clip:ViT-L-14" and a["caption"] == rows[0]["caption"]
    assert c["quality_clip_score"] is None and c["caption_reason"] == "vlm_refused 'I cannot'"

    bar = max(a["quality_clip_score"], b["quality_clip_score"]) + 0.01
    strict = align.model_copy(update={"min_score": bar})
    out = CaptionAlignmentStage(strict)(rows_to_table(rows)).to_pylist()
    assert [r["caption"] for r in out[:2]] == [None, None]
    assert all(r["caption_reason"].startswith("low_clip_score") for r in out[:2])
    assert out[0]["_reject_reason"] is None  # a withdrawn caption is a stage-1 gate, not a reject


def test_clip_weights_must_be_local_paths(tmp_path):
    from humo_data.quality.clip_model import ClipModel

    with pytest.raises(FileNotFoundError, match="local paths"):
        ClipModel("ViT-B-32", "openai")
    with pytest.raises(ValueError, match="clip_weights"):
        AestheticConfig(backend="laion-mlp")
