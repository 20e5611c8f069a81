"""QualityStage on real clips and degraded copies made here: originals pass at the defaults, each
copy is rejected with a reason (and a detail) that names the metric."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from humo_data.config import load_config
from humo_data.media.frames import frame_record
from humo_data.quality import AestheticStage, QualityConfig, QualityStage
from humo_data.quality.metrics import sharpness
from humo_data.stage import rows_to_table
from tests.quality.clip_rows import blurred, decode_rgb, frozen, letterboxed, row_from_frames, scaled
from tests.shared_media import media_file, needs_media

pytestmark = needs_media

CLIPS = {
    "one_speaker": "sadtalker_WDA_AlexandriaOcasioCortez_000.mp4",
    "portrait_hevc": "latentsync_demo1_video.mp4",
    "close_up_30fps": "liveportrait_d19.mp4",
    "close_up_bar": "liveportrait_d0.mp4",
}
CFG = QualityConfig(enabled=True)


@pytest.fixture(scope="module")
def decoded() -> dict[str, list[np.ndarray]]:
    return {k: decode_rgb(media_file(name), seconds=2.0, start=0.5) for k, name in CLIPS.items()}


def run(rows: list[dict], cfg: QualityConfig = CFG) -> list[dict]:
    return QualityStage(cfg)(rows_to_table(rows)).to_pylist()


def darkened_to(target: float):
    """Scale each frame to mean luma ``target``: above the cutter's blank threshold (0.047), so the
    cutter keeps it and only this gate can catch it."""

    def f(rgb: np.ndarray, _i: int) -> np.ndarray:
        mean = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY).mean() / 255.0
        return scaled(rgb, target / max(mean, 1e-3))

    return f


def test_originals_pass_and_get_every_metric(decoded):
    out = run([row_from_frames(fr, clip_id=k) for k, fr in decoded.items()])
    for row in out:
        assert row["_reject_reason"] is None, (row["clip_id"], row["_reject_detail"])
        assert 0.1 < row["quality_exposure"] < 0.8 and row["quality_contrast"] > 0.05
        assert row["quality_sharpness"] > 40 and row["quality_motion"] > 0
        assert row["quality_backend"] == "technical-v1"
    bars = {r["clip_id"]: r["quality_border"] for r in out}
    assert bars["one_speaker"] is None
    # liveportrait_d0 carries a real black bar under the picture (~5% of the height)
    x0, y0, x1, y1 = bars["close_up_bar"]
    assert (x0, y0, x1) == (0, 0, 480) and 440 < y1 < 470


@pytest.mark.parametrize(
    "make, reason, metric",
    [
        (lambda fr: row_from_frames(fr, blurred), "blurry", "sharpness"),
        (lambda fr: row_from_frames(fr, darkened_to(0.065)), "too_dark", "exposure"),
        (lambda fr: row_from_frames(frozen(fr)), "frozen", "frame differences"),
        (lambda fr: row_from_frames(fr, lambda rgb, i: np.full_like(rgb, 245)), "too_bright", "exposure"),
    ],
    ids=["blurred", "darkened", "frozen", "washed_out"],
)
def test_each_degraded_copy_is_rejected_naming_the_metric(decoded, make, reason, metric):
    out = run([make(fr) for fr in decoded.values()])
    for row in out:
        assert row["_reject_reason"] == reason, row["_reject_detail"]
        assert row["_reject_detail"].startswith(reason) and metric in row["_reject_detail"]
        assert row["_reject_stage"] == "quality" and row["_frames"] is None  # media dropped on reject


def test_letterbox_is_cropped_or_rejected_per_config(decoded):
    fr = decoded["one_speaker"]
    row = row_from_frames(fr, letterboxed)
    cropped = run([row])[0]
    assert cropped["_reject_reason"] is None
    x0, y0, x1, y1 = cropped["quality_border"]  # 15% bars top and bottom of a 480x480 clip
    assert (x0, x1) == (0, 480) and abs(y0 - 72) <= 3 and abs(y1 - 408) <= 3
    plain = run([row_from_frames(fr)])[0]
    assert abs(cropped["quality_exposure"] - plain["quality_exposure"]) < 0.03  # measured inside the bars

    rejected = run([row], QualityConfig(enabled=True, borders="reject"))[0]
    assert rejected["_reject_reason"] == "black_borders" and "0.30" in rejected["_reject_detail"]


def test_extreme_aspect_content_is_rejected(decoded):
    strip = [f[: max(8, f.shape[0] // 5)] for f in decoded["one_speaker"]]  # a 5:1 panorama
    row = run([row_from_frames(strip)])[0]
    assert row["_reject_reason"] == "extreme_aspect" and "aspect 5.0" in row["_reject_detail"]


def test_sharpness_does_not_depend_on_resolution(decoded):
    gray = cv2.cvtColor(decoded["portrait_hevc"][10], cv2.COLOR_RGB2GRAY)  # 1080x1920 source
    half = cv2.resize(gray, (gray.shape[1] // 2, gray.shape[0] // 2), interpolation=cv2.INTER_AREA)
    raw = cv2.Laplacian(half, cv2.CV_64F).var() / cv2.Laplacian(gray, cv2.CV_64F).var()
    normalised = sharpness(half) / sharpness(gray)
    assert raw > 2.0  # the plain measure moves with resolution
    assert 0.7 < normalised < 1.4


def test_bad_input_gives_reasons_not_crashes(decoded):
    fr = decoded["one_speaker"]
    black = row_from_frames([np.zeros_like(f) for f in fr], clip_id="black")
    no_frames = dict(row_from_frames(fr), clip_id="none", _frames=[])
    corrupt = dict(row_from_frames(fr), clip_id="corrupt")
    corrupt["_frames"] = [dict(corrupt["_frames"][0], image=b"not a jpeg")]
    # no cutter motion (a rerun on stored clips): frozen is judged from the stills alone
    still = dict(row_from_frames(frozen(fr)), clip_id="still", _motion=None)
    moving = dict(row_from_frames(fr), clip_id="moving", _motion=None)
    tiny = row_from_frames([cv2.resize(f, (12, 12)) for f in fr], clip_id="tiny")
    text = row_from_frames([_text_overlay(f) for f in fr], clip_id="text")
    out = {r["clip_id"]: r for r in run([black, no_frames, corrupt, still, moving, tiny, text])}
    assert out["black"]["_reject_reason"] == "too_dark"
    assert out["none"]["_reject_reason"] == "no_frames"
    assert out["corrupt"]["_reject_reason"] == "undecodable_frames"
    assert out["still"]["_reject_reason"] == "frozen" and "sampled" in out["still"]["_reject_detail"]
    assert out["moving"]["_reject_reason"] is None and out["moving"]["quality_motion"] is None
    assert out["tiny"]["quality_sharpness"] is not None
    assert out["text"]["quality_sharpness"] is not None  # no text detector configured: measured, no crash


def _text_overlay(rgb: np.ndarray) -> np.ndarray:
    out = rgb.copy()
    h, w = out.shape[:2]
    for k in range(6):
        cv2.putText(out, "BREAKING NEWS 24/7 LIVE", (5, int(h * (0.15 + 0.14 * k))), cv2.FONT_HERSHEY_SIMPLEX,
                    w / 500, (255, 255, 255), max(1, w // 250))  # fmt: skip
    return out


def test_presets_order_loose_default_strict():
    loose_cfg, strict_cfg = load_config("quality_loose"), load_config("quality_strict")
    loose, strict = loose_cfg.quality, strict_cfg.quality
    default = QualityConfig()
    for name in ("exposure_min", "contrast_min", "sharpness_min"):
        assert getattr(loose, name) < getattr(default, name) < getattr(strict, name), name
    assert loose.exposure_max > default.exposure_max > strict.exposure_max
    assert loose.exposure_min > 12 / 255  # above the cutter's blank threshold, or it never fires
    assert loose_cfg.face_quality.sharpness_min < strict_cfg.face_quality.sharpness_min
    assert strict.borders == "reject" and loose.borders == "crop"
    assert not AestheticStage.is_enabled(loose_cfg.aesthetic)  # a threshold set, but no model named


def test_strict_tier_rejects_what_loose_keeps(decoded):
    fr = decoded["one_speaker"]
    soft = row_from_frames(fr, lambda rgb, i: cv2.GaussianBlur(rgb, (0, 0), 1.6))
    loose = run([soft], load_config("quality_loose").quality)[0]
    strict = run([soft], load_config("quality_strict").quality)[0]
    assert loose["_reject_reason"] is None
    assert strict["_reject_reason"] == "blurry"


def test_frame_records_at_any_resolution_map_borders_to_clip_pixels(decoded):
    """Stills re-sampled from the 480p clip (survivors phase) and source-resolution stills agree."""
    fr = [letterboxed(f, 0) for f in decoded["portrait_hevc"]]  # 1080x1920 source
    src = row_from_frames(fr)
    small = dict(
        src, _frames=[frame_record(i, i / 25, cv2.resize(f, (480, 854))) for i, f in enumerate(fr[::15])]
    )
    a, b = run([src, small])
    assert a["quality_border"] is not None and b["quality_border"] is not None
    assert np.abs(np.subtract(a["quality_border"], b["quality_border"])).max() <= 4


def test_heavy_text_overlay_is_rejected_by_the_text_detector(decoded):
    import importlib.util

    if importlib.util.find_spec("rapidocr_onnxruntime") is None:  # its ONNX file is all we use
        pytest.skip("the PP-OCR detector ships in rapidocr-onnxruntime (pip install --no-deps)")
    from humo_data.quality.config import TextConfig

    cfg = QualityConfig(enabled=True, text=TextConfig(backend="ppocr-det"))
    rows = [row_from_frames(fr, clip_id=k) for k, fr in decoded.items()]
    rows.append(row_from_frames([_text_overlay(f) for f in decoded["one_speaker"]], clip_id="captioned"))
    out = {r["clip_id"]: r for r in run(rows, cfg)}
    for k in decoded:
        assert out[k]["_reject_reason"] is None, (k, out[k]["_reject_detail"])
        assert out[k]["quality_text_area"] < cfg.text.max_area, (k, out[k]["quality_text_area"])
        assert out[k]["quality_backend"] == "technical-v1+ppocr-det"
    assert out["captioned"]["_reject_reason"] == "text_overlay"
    assert "text area" in out["captioned"]["_reject_detail"] and out["captioned"]["quality_text_area"] > 0.1


def test_each_quality_stage_hashes_its_own_section_and_old_layouts_load():
    """A changed face threshold reruns face quality only; a changed frame threshold, the frame gates.
    Profiles and manifests from before the split (quality.face, quality.aesthetic) still load."""
    from humo_data.config import CurateConfig
    from humo_data.quality import FaceQualityStage

    old = CurateConfig.model_validate({"quality": {"sharpness_min": 3.0, "face": {"sharpness_min": 9.0}}})
    new = CurateConfig.model_validate(
        {"quality": {"sharpness_min": 3.0}, "face_quality": {"sharpness_min": 9.0}}
    )
    assert old == new
    base = CurateConfig()
    assert QualityStage(new.quality).output_hash() != QualityStage(base.quality).output_hash()
    assert (
        FaceQualityStage(new.face_quality).output_hash() != FaceQualityStage(base.face_quality).output_hash()
    )
    face_only = CurateConfig.model_validate({"face_quality": {"sharpness_min": 9.0}})
    assert QualityStage(face_only.quality).output_hash() == QualityStage(base.quality).output_hash()
    with pytest.raises(ValueError, match="moved to face_quality"):
        CurateConfig.model_validate({"quality": {"face": {}}, "face_quality": {}})
