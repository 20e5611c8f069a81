"""The curation job on real media: clips at 25 fps with 16 kHz mono audio, within bounds, cut at
shot boundaries, readable by plain pyarrow / duckdb / datasets, valid by `humo-data validate`."""

from __future__ import annotations

import io
import json
import subprocess
import sys

import av
import pyarrow.dataset as pads
import pyarrow.parquet as pq
import pytest

from humo_data.clips.planner import frame_bounds
from humo_data.jobs.curate import run_curate
from humo_data.media.encode import decode_audio
from tests.pipeline.conftest import CUT_ONLY, config, link_inputs, needs_media

pytestmark = pytest.mark.slow


def _clips(out):
    return pq.read_table(out / "triplets").to_pylist()


def _check_clip_media(row, cfg):
    lo, hi = frame_bounds(cfg.clips.min_seconds, cfg.clips.max_seconds, cfg.clips.fps, 4)
    assert lo <= row["num_frames"] <= hi and (row["num_frames"] - 1) % 4 == 0
    assert row["end_time"] - row["start_time"] == pytest.approx(row["num_frames"] / 25)
    with av.open(io.BytesIO(row["video"])) as c:
        v = c.streams.video[0]
        assert v.average_rate == 25 and v.codec_context.name == "h264"
        assert (
            min(v.width, v.height) == min(480, row["source_width"], row["source_height"])
            or row["source_rotation"]
        )
        frames = [f.time for f in c.decode(v)]
        assert len(frames) == row["num_frames"]
        steps = {round(b - a, 4) for a, b in zip(frames, frames[1:], strict=False)}
        assert steps == {0.04}
        if row["has_audio"]:
            a = c.streams.audio[0]
            assert (a.sample_rate, a.channels) == (16000, 1)
    if row["has_audio"]:
        samples, rate = decode_audio(row["audio"])
        assert rate == 16000 and samples.ndim == 1
        assert len(samples) == round(row["num_frames"] / 25 * 16000)


def test_sample_clips_are_25fps_16k_mono_within_bounds(sample_dataset):
    cfg = config()
    rows = _clips(sample_dataset)
    assert len(rows) >= 3
    for row in rows:
        _check_clip_media(row, cfg)
    # multishot_aba_9s.mp4 has hard cuts at 3.0 s and 6.0 s: three shots, no clip across a cut
    multi = [r for r in rows if r["source_uri"].endswith("multishot_aba_9s.mp4")]
    assert sorted(r["shot_index"] for r in multi) == [0, 1, 2]
    for r in multi:
        for cut in (3.0, 6.0):
            assert not (r["start_time"] < cut < r["end_time"]), (r["start_time"], r["end_time"])


def test_sample_opens_with_plain_readers_and_validates(sample_dataset, tmp_path):
    import datasets
    import duckdb

    n = len(_clips(sample_dataset))
    assert pads.dataset(sample_dataset / "triplets").count_rows() == n
    con = duckdb.connect()
    got = con.execute(
        f"select count(*), min(fps), max(fps) from read_parquet('{sample_dataset}/triplets/*.parquet')"
    ).fetchall()[0]
    assert got == (n, 25.0, 25.0)
    ds = datasets.load_dataset(
        "parquet", data_files=str(sample_dataset / "triplets" / "*.parquet"), split="train",
        cache_dir=str(tmp_path / "hf"),
    )  # fmt: skip
    assert len(ds) == n and "clip_id" in ds.column_names
    ok = subprocess.run([sys.executable, "-m", "humo_data.cli", "validate", str(sample_dataset)],
                        capture_output=True, text=True)  # fmt: skip
    assert ok.returncode == 0, ok.stderr
    manifest = json.loads((sample_dataset / "_manifest.json").read_text())
    assert manifest["status"] == "complete" and manifest["counts"]["triplets"] == n
    assert manifest["backends"]["shots"] == "pyscenedetect-content"


def test_tampered_shard_fails_validation(sample_dataset, tmp_path):
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(sample_dataset, copy)
    shard = next((copy / "triplets").glob("part-*.parquet"))
    data = bytearray(shard.read_bytes())
    data[len(data) // 2] ^= 0xFF
    shard.write_bytes(bytes(data))
    bad = subprocess.run(
        [sys.executable, "-m", "humo_data.cli", "validate", str(copy)], capture_output=True, text=True
    )
    assert bad.returncode == 1
    assert shard.name in bad.stderr


@needs_media
def test_multishot_film_cuts_and_fps_conversion(tmp_path):
    """pyscenedetect_testvideo (29.97 fps, no audio): its hand-checked cuts never fall inside a clip;
    latentsync_demo3 (30 fps portrait HEVC, 20 s) is split into clips of at most 10 s."""
    inputs = link_inputs(tmp_path / "in", ["pyscenedetect_testvideo.mp4", "latentsync_demo3_video.mp4"])
    # the film is a slideshow of stills (quality rightly calls it frozen): this test is about cutting,
    # so the filters are off
    cfg = config("probe.require_audio=false", *CUT_ONLY)
    summary = run_curate(str(inputs), tmp_path / "out", cfg, show_progress=False)
    assert summary.ok
    rows = _clips(tmp_path / "out")
    film = [r for r in rows if r["source_uri"].endswith("pyscenedetect_testvideo.mp4")]
    ground_truth = [6.706, 12.746]  # pyscenedetect_testvideo_scenes.csv
    assert len({r["shot_index"] for r in film}) >= 3
    for r in film:
        for cut in ground_truth:
            assert not (r["start_time"] < cut < r["end_time"])
    portrait = [r for r in rows if r["source_uri"].endswith("latentsync_demo3_video.mp4")]
    assert len(portrait) >= 2 and sum(r["end_time"] - r["start_time"] for r in portrait) > 15
    for r in rows:
        _check_clip_media(r, cfg)
    assert all((r["width"], r["height"]) == (480, 854) for r in portrait)
