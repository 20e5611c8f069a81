"""The face stage on real media and on bad input: kept faces, tracks, crops, rejects with reasons."""

from __future__ import annotations

import cv2
import numpy as np
import pyarrow as pa
import pytest

from humo_data.faces.config import FacesConfig
from humo_data.faces.stage import FaceStage
from humo_data.identity.context import context_similarity
from humo_data.media.ffmpeg import run_ffmpeg, safe_path
from humo_data.media.frames import decode_image, frame_record
from humo_data.stage import rows_to_table
from tests.faces.face_rows import clip_rows, frames_at
from tests.shared_media import media_file, needs_media

pytestmark = needs_media
AOC = "sadtalker_WDA_AlexandriaOcasioCortez_000.mp4"


@pytest.fixture(scope="module")
def stage() -> FaceStage:
    return FaceStage(FacesConfig())


@pytest.fixture(scope="module")
def aoc_frame() -> np.ndarray:
    return frames_at(media_file(AOC), [1.0])[0]


def _row(images: list[np.ndarray], clip_id: str, **extra) -> dict:
    return {
        "_kind": "clip", "_unit": clip_id, "clip_id": clip_id, "source_id": "s", "shot_index": 0,
        "start_time": 0.0, "end_time": 4.0, "width": images[0].shape[1], "height": images[0].shape[0],
        "_frames": [frame_record(i, i * 0.8, im) for i, im in enumerate(images)], **extra,
    }  # fmt: skip


def _run(stage: FaceStage, rows: list[dict]) -> list[dict]:
    return stage(rows_to_table(rows)).to_pylist()


def test_talking_head_clip(stage):
    rows = clip_rows(media_file(AOC))[:1]
    (out,) = _run(stage, rows)
    assert out["_reject_reason"] is None
    assert (out["face_count"], out["people_count"], out["face_backend"]) == (1, 1, "dlib")
    track = out["face_track"]
    assert track["num_frames"] == 5 and track["presence"] == 1.0
    # boxes are in encoded-clip pixels (480x480 here) while frames were sampled at 512x512
    assert out["width"] == 480
    x0, y0, x1, y1 = track["mean_box"]
    assert 0 <= x0 < x1 <= 480 and 0 <= y0 < y1 <= 480
    assert 0.9 * 259 * 480 / 512 < x1 - x0 < 1.1 * 311 * 480 / 512  # dlib's HOG box side on this clip
    feats = out["_features_faces"]
    assert len(feats["frames"]) == 5 and feats["main_track"] == 0
    embedded = [f for fr in feats["frames"] for f in fr["faces"] if f["embedding"] is not None]
    assert len(embedded) == FacesConfig().embeddings_per_track
    assert len(feats["main_embedding"]) == 128
    assert len(feats["crops"]) == FacesConfig().crops_main
    for crop in feats["crops"]:
        img = decode_image(crop["image"])
        bx0, by0, bx1, by1 = crop["box"]
        assert 0 <= bx0 < bx1 <= img.shape[1] and 0 <= by0 < by1 <= img.shape[0]
        self_sim = context_similarity(feats["context_backend"], crop["context"], crop["context"])
        assert abs(self_sim[0, 0] - 1) < 1e-4  # a descriptor matches itself (its backend's similarity)
        assert abs(crop["yaw"]) < 30


def test_two_people_are_two_tracks():
    img = cv2.cvtColor(cv2.imread(str(media_file("facerec_two_people.jpg"))), cv2.COLOR_BGR2RGB)
    (out,) = _run(FaceStage(FacesConfig()), [_row([img, img, img], "two")])
    assert out["_reject_reason"] is None
    assert (out["face_count"], out["people_count"]) == (2, 2)
    feats = out["_features_faces"]
    assert len(feats["track_embeddings"]) == 2
    assert {c["track"] for c in feats["crops"]} == {0, 1}
    # under the strict tier's 4% area rule the same faces (about 3% each) are too small: a reject
    # with the numbers
    (small,) = _run(FaceStage(FacesConfig(min_face_area=0.04)), [_row([img], "two-small")])
    assert small["_reject_reason"] == "face_too_small"
    assert (
        "% of the picture (min 4.0%)" in small["_reject_detail"] and small["_frames"] is None
    )  # media dropped


def _lavfi(tmp_path, name: str, source: str) -> list[dict]:
    out = tmp_path / name
    run_ffmpeg(["-f", "lavfi", "-i", source, "-c:v", "libx264", "-preset", "ultrafast", "-y", safe_path(out)])
    return clip_rows(out, clip_seconds=1.0)


def test_faceless_inputs_are_rejected(stage, tmp_path):
    rows = _lavfi(tmp_path, "black.mp4", "color=black:s=640x360:d=1")
    rows += _lavfi(tmp_path, "pattern4k.mp4", "testsrc2=s=3840x2160:d=1:r=10")
    out = _run(stage, rows)
    assert [r["_reject_reason"] for r in out] == ["no_face", "no_face"]
    assert all("0 detections on 5 sampled frames" in r["_reject_detail"] for r in out)
    assert all(r["_features_faces"] is None for r in out)


def test_bad_input_gives_a_reason_or_a_face(stage, aoc_frame):
    h, w = aoc_frame.shape[:2]
    small = np.zeros((720, 1280, 3), np.uint8)  # face ~150 px: 2.4% of the frame, kept (no area rule)
    small[200:500, 500:800] = cv2.resize(aoc_frame, (300, 300), interpolation=cv2.INTER_AREA)
    tiny = np.zeros((720, 1280, 3), np.uint8)  # face ~50 px: seen by the working scale, too small
    tiny[290:390, 590:690] = cv2.resize(aoc_frame, (100, 100), interpolation=cv2.INTER_AREA)
    tiled = np.tile(cv2.resize(aoc_frame, (w // 2, h // 2), interpolation=cv2.INTER_AREA), (2, 2, 1))
    grey = np.repeat(cv2.cvtColor(aoc_frame, cv2.COLOR_RGB2GRAY)[..., None], 3, 2)
    cases = {
        "small": [small] * 3,
        "tiny": [tiny] * 3,
        "cut": [np.ascontiguousarray(aoc_frame[:, w // 2 - 20 :])] * 3,  # the left half of the face is gone
        "grey": [grey] * 3,
        "dark": [(aoc_frame * 0.03).astype(np.uint8)] * 3,
        "many": [tiled] * 3,
    }
    rows = [_row(v, k) for k, v in cases.items()]
    broken = _row([aoc_frame], "broken")
    broken["_frames"][0]["image"] = b"not an image"
    rows += [broken, {**_row([aoc_frame], "empty"), "_frames": []}]
    out = {r["clip_id"]: r for r in _run(stage, rows)}
    assert out["small"]["_reject_reason"] is None and out["small"]["people_count"] == 1
    assert out["tiny"]["_reject_reason"] == "face_too_small"
    assert "px in the stored clip (min 64)" in out["tiny"]["_reject_detail"]
    assert out["cut"]["_reject_reason"] == "face_cut_by_border"
    assert "outside the picture" in out["cut"]["_reject_detail"]
    assert out["grey"]["_reject_reason"] is None and out["grey"]["people_count"] == 1
    assert out["dark"]["_reject_reason"] in (None, "no_face")
    assert out["many"]["_reject_reason"] is None and out["many"]["people_count"] == 4
    assert out["many"]["face_count"] == 4
    assert out["broken"]["_reject_reason"] == "no_face" and "unreadable" in out["broken"]["_reject_detail"]
    assert (
        out["empty"]["_reject_reason"] == "no_face" and "no sampled frames" in out["empty"]["_reject_detail"]
    )


def test_rows_already_rejected_pass_untouched(stage, aoc_frame):
    rows = [_row([aoc_frame], "a"), {**_row([aoc_frame], "b"), "_reject_reason": "too_dark"}]
    out = _run(stage, rows)
    assert out[0]["face_count"] == 1
    assert out[1]["face_count"] is None and out[1]["_reject_reason"] == "too_dark"


@pytest.mark.slow
def test_stage_runs_as_a_ray_actor_pool():
    """One run through Ray Data's actor path (the model loads once per actor in setup())."""
    import ray

    from humo_data.ray_compute import map_stage

    rows = clip_rows(media_file(AOC))
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, ignore_reinit_error=True)
    try:
        ds = ray.data.from_arrow(rows_to_table(rows))
        tables = ray.get(map_stage(ds, FaceStage(FacesConfig()), concurrency=1).to_arrow_refs())
        out = pa.concat_tables([t for t in tables if t.num_rows]).to_pylist()
    finally:
        ray.shutdown()
    assert len(out) == len(rows) == 2
    assert all(r["face_count"] == 1 and r["_features_faces"]["crops"] for r in out)
