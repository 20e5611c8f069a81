"""Interlaced and damaged sources through the probe and the cut stage (no Ray): an interlaced copy
gives the clips of its progressive original, deinterlaced; a copy with flipped bytes keeps the
clips before its damage and says where the damage is; a source with no clean frame is a worded
``decode_error``."""

from __future__ import annotations

import io
import shutil
from pathlib import Path

import av
import numpy as np
import pytest

from humo_data.clips.cutter import ClipCutStage, CutConfig
from humo_data.config import load_config
from humo_data.media.frames import decode_frames
from humo_data.probe.stage import ProbeStage
from tests.clips.damaged_copies import (
    TALKING,
    combing,
    corrupt_frame_times,
    flip_video_bytes,
    h264_copy,
    interlaced_copy,
)
from tests.shared_media import media_file

# short clips so an 8 s source gives several; the per-clip stages are not part of the cut stage
CFG = load_config("default", ["clips.max_seconds=2", "clips.min_seconds=1"])


def cut(path: Path) -> tuple[dict, list[dict], list[dict]]:
    """(probed source row, clip rows, reject rows) of one file, as the job's first two stages give them."""
    row = next(iter(ProbeStage(CFG.probe).run_rows([{"source_uri": str(path), "_kind": "source",
                                                     "_source_size": path.stat().st_size}])))  # fmt: skip
    assert row.get("_reject_reason") is None, row.get("_reject_detail")
    out = list(ClipCutStage(CutConfig(shots=CFG.shots, clips=CFG.clips, frames=CFG.frames)).run_rows([row]))
    assert out[-1]["_kind"] == "done" and out[-1]["_expected_units"] == [r["_unit"] for r in out[:-1]]
    clips = [r for r in out[:-1] if r.get("_reject_reason") is None]
    rejects = [r for r in out[:-1] if r.get("_reject_reason") is not None]
    return row, clips, rejects


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("copies")
    original = d / "original.mp4"
    shutil.copy(media_file(TALKING), original)
    clean = h264_copy(original, d / "h264.mp4")
    damaged = d / "damaged.mp4"
    # a few bytes in the video packets shown at 4.4-4.8 s: the second half of the 8 s source
    flip_video_bytes(clean, damaged, 4.4, 4.8)
    return {
        "original": original,
        "interlaced": interlaced_copy(original, d / "interlaced.mp4"),
        "h264": clean,
        "damaged": damaged,
    }


def test_interlaced_copy_gives_the_clips_of_its_original_deinterlaced(files):
    src, inter_clips, inter_rejects = cut(files["interlaced"])
    _, orig_clips, _ = cut(files["original"])
    assert not inter_rejects, [(r["_reject_reason"], r["_reject_detail"]) for r in inter_rejects]
    assert src["source_width"] == 720 and src["source_height"] == 576
    assert len(inter_clips) == len(orig_clips) >= 3
    assert [c["source_interlaced"] for c in inter_clips] == [True] * len(inter_clips)
    assert [c["source_interlaced"] for c in orig_clips] == [False] * len(orig_clips)
    assert all(c["has_audio"] for c in inter_clips)

    stills = [f for c in inter_clips for f in decode_frames(c["_frames"])]
    assert stills and all(f.width == 720 and f.height == 576 for f in stills)  # source resolution
    # the same instants decoded as pictures, fields woven: the copy really combs
    woven = []
    with av.open(str(files["interlaced"])) as container:
        times = [c["start_time"] + f.time for c in inter_clips for f in decode_frames(c["_frames"])]
        for frame in container.decode(video=0):
            if any(abs(frame.time - t) < 0.04 for t in times):
                woven.append(combing(frame.to_ndarray(format="gray")))
    assert np.median(woven) > 1.0, woven
    assert max(combing(f.gray) for f in stills) < 1.0  # the stills the later stages see
    for clip in inter_clips:  # and the encoded clips
        with av.open(io.BytesIO(clip["video"])) as c:
            frames = [f.to_ndarray(format="gray") for f in c.decode(video=0)]
        assert len(frames) == clip["num_frames"]
        assert max(combing(g) for g in frames[::6]) < 1.0


def test_damaged_copy_keeps_the_clips_before_its_damage_and_names_the_span(files):
    corrupt = corrupt_frame_times(files["damaged"])
    assert corrupt and 4.0 < min(corrupt) < 5.0  # the flipped bytes do break frames (PyAV alone)
    _, clean_clips, _ = cut(files["h264"])
    _, clips, rejects = cut(files["damaged"])
    damage = [r for r in rejects if r["_reject_reason"] == "damaged_packets"]
    assert len(damage) == 1, [(r["_reject_reason"], r["_reject_detail"]) for r in rejects]
    start, end = damage[0]["start_time"], damage[0]["end_time"]
    assert start <= min(corrupt) and max(corrupt) < end
    detail = damage[0]["_reject_detail"]
    assert "h264 video decode errors" in detail and f"{start:.2f} s" in detail and f"{end:.2f} s" in detail
    assert "returned" not in detail
    # every clip of the clean copy that ends before the damage is there, unchanged
    before = [(c["start_time"], c["end_time"]) for c in clean_clips if c["end_time"] <= start]
    assert before and [(c["start_time"], c["end_time"]) for c in clips if c["end_time"] <= start] == before
    # and no kept clip holds a broken frame, nor anything of the span (frames after a broken one
    # predict from it up to the next keyframe)
    for c in clips:
        assert c["end_time"] <= start or c["start_time"] >= end, (c["start_time"], c["end_time"], start, end)
        assert not any(c["start_time"] <= t < c["end_time"] for t in corrupt)


def test_source_with_no_clean_frame_is_a_worded_decode_error(files, tmp_path):
    broken = tmp_path / "every_packet.mp4"
    flip_video_bytes(files["h264"], broken, 0.0, 1e9, per_packet=12)
    _, clips, rejects = cut(broken)  # the probe accepts it: its first frame decodes (concealed)
    assert not clips
    assert [r["_reject_reason"] for r in rejects] == ["decode_error"]
    detail = rejects[0]["_reject_detail"]
    assert detail.startswith("no video frame decoded cleanly") and "h264 video decode errors" in detail
    assert "returned" not in detail and "Error" not in detail
