"""`curate` on an interlaced and a byte-damaged copy of a talking head: the triplets say which clips
were deinterlaced, the rejects table holds the damaged span with its times, and no clip of the
damaged copy overlaps it."""

from __future__ import annotations

import shutil
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from humo_data.jobs.curate import run_curate
from tests.clips.damaged_copies import (
    TALKING,
    corrupt_frame_times,
    flip_video_bytes,
    h264_copy,
    interlaced_copy,
)
from tests.pipeline.conftest import CUT_ONLY, config
from tests.shared_media import media_file

pytestmark = pytest.mark.slow


def test_curate_records_interlacing_and_the_damaged_span(tmp_path):
    inputs = tmp_path / "in"
    inputs.mkdir()
    shutil.copy(media_file(TALKING), inputs / "original.mp4")
    interlaced_copy(inputs / "original.mp4", inputs / "interlaced.mp4")
    clean = h264_copy(inputs / "original.mp4", tmp_path / "clean.mp4")
    flip_video_bytes(clean, inputs / "damaged.mp4", 4.4, 4.8)
    corrupt = corrupt_frame_times(inputs / "damaged.mp4")

    cfg = config("clips.max_seconds=2", "clips.min_seconds=1", *CUT_ONLY)
    summary = run_curate(str(inputs), tmp_path / "out", cfg, show_progress=False)
    assert summary.ok
    clips = pq.read_table(tmp_path / "out" / "triplets").to_pylist()
    rejects = pq.read_table(tmp_path / "out" / "rejects").to_pylist()
    by_source: dict[str, list[dict]] = {}
    for c in clips:
        by_source.setdefault(Path(c["source_uri"]).name, []).append(c)

    assert len(by_source["interlaced.mp4"]) == len(by_source["original.mp4"]) >= 3
    assert {c["source_interlaced"] for c in by_source["interlaced.mp4"]} == {True}
    assert {c["source_interlaced"] for c in by_source["original.mp4"]} == {False}

    [damage] = [r for r in rejects if Path(r["source_uri"]).name == "damaged.mp4"]
    assert (damage["stage"], damage["reason"]) == ("clips", "damaged_packets")
    assert damage["start_time"] <= min(corrupt) and max(corrupt) < damage["end_time"]
    assert f"{damage['start_time']:.2f} s" in damage["detail"]
    kept = by_source["damaged.mp4"]
    assert kept and all(c["end_time"] <= damage["start_time"] for c in kept)  # the first half
    assert not [r for r in rejects if Path(r["source_uri"]).name in ("interlaced.mp4", "original.mp4")]
