"""Face size in pixels: the default keeps a face that is big enough in the stored clip and in the
source, whatever its share of the frame (a medium shot); the strict tier adds the area rule. Each
source is made in the test from a shared talking head, cut by the real cutter (probe + cut, as the
job runs them), then run through the real face stage."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from humo_data.config import load_config
from humo_data.faces.stage import FaceStage
from humo_data.jobs.plan import cut_source
from humo_data.media.ffmpeg import run_ffmpeg, safe_path
from tests.shared_media import media_file, needs_media

pytestmark = needs_media

TALKING = "sadtalker_WDA_AlexandriaOcasioCortez_000.mp4"  # 512x512, one face of ~270 px
# a medium shot: the talking head at 416 px in the middle of a grey 1920x1080 frame
MEDIUM = "scale=416:416,pad=1920:1080:(ow-iw)/2:(oh-ih)/2:color=gray"
SIZES = re.compile(r"largest face (\d+) px in the stored clip \(min 64\), (\d+) px in the source \(min 64\)")


def _source(tmp: Path, name: str, vf: str) -> Path:
    out = tmp / name
    run_ffmpeg(["-y", "-v", "error", "-t", "3", "-i", safe_path(media_file(TALKING)), "-an", "-vf", vf,
                "-c:v", "libx264", "-preset", "ultrafast", "-crf", "18", safe_path(out)])  # fmt: skip
    return out


def _cut(path: Path, *overrides: str):
    cfg = load_config("default", ["probe.require_audio=false", *overrides])
    return cut_source(str(path), cfg)


def _faces(table, profile: str = "default") -> dict:
    """The one clip of a 3-second source after the face stage of ``profile``."""
    cfg = load_config(profile, ["probe.require_audio=false"])
    rows = [r for r in FaceStage(cfg.faces)(table).to_pylist() if r["_kind"] == "clip"]
    assert len(rows) == 1, [r["_reject_reason"] for r in rows]
    return rows[0]


@pytest.fixture(scope="module")
def medium(tmp_path_factory):
    return _cut(_source(tmp_path_factory.mktemp("facesize"), "medium.mp4", MEDIUM))


def test_a_medium_shot_is_kept(medium):
    row = _faces(medium)
    assert row["_reject_reason"] is None, row["_reject_detail"]
    assert (row["width"], row["height"], row["source_width"], row["source_height"]) == (854, 480, 1920, 1080)
    boxes = np.asarray(row["face_track"]["boxes"])  # stored-clip pixels
    side = float(np.median(np.minimum(boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1])))
    share = side * side / (854 * 480)
    # what the test claims about its input: a face of ~3% of the frame, >= 150 px in the source
    assert 0.02 < share < 0.04 and side * 1080 / 480 >= 150, (share, side)


def test_the_strict_tier_applies_the_area_rule(medium):
    row = _faces(medium, "quality_strict")
    assert row["_reject_reason"] == "face_too_small"
    detail = row["_reject_detail"]
    stored, source = (int(v) for v in SIZES.search(detail).groups())
    assert stored >= 64 and source >= 150  # big enough in pixels: the area rule rejects it
    share = float(re.search(r"([\d.]+)% of the picture \(min 4\.0%\)", detail).group(1))
    assert 2.0 < share < 4.0


def test_a_40_px_face_is_too_small_with_both_numbers(tmp_path):
    row = _faces(_cut(_source(tmp_path, "tiny.mp4", MEDIUM + ",scale=320:180")))
    assert row["_reject_reason"] == "face_too_small"
    detail = row["_reject_detail"]
    stored, source = (int(v) for v in SIZES.search(detail).groups())
    assert 30 <= stored <= 50 and source == stored  # a 320x180 source is stored as it is (no upscaling)
    assert "of the picture" not in detail  # the area rule is off by default


def test_an_upscaled_face_is_judged_by_its_source_pixels(tmp_path):
    # the cutter upscales this 384x216 source to 854x480 (clips.upscale): the face grows to ~115 px in
    # the stored clip, but only ~50 source pixels are behind it
    row = _faces(_cut(_source(tmp_path, "small.mp4", MEDIUM + ",scale=384:216"), "clips.upscale=true"))
    assert (row["width"], row["height"]) == (854, 480)
    assert row["_reject_reason"] == "face_too_small"
    stored, source = (int(v) for v in SIZES.search(row["_reject_detail"]).groups())
    assert stored >= 64 > source >= 40
