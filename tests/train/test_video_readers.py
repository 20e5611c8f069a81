"""decord and PyAV readers give the same training windows on clips the pipeline made.

Shard clips come from ``humo-data curate`` of the bundled sample (H.264 480x480, 93 frames at
25 fps). Both readers must count the same frames (at the clip's rate and resampled) and give
near-identical pixels (PSNR > 40 dB per frame: the same frames, up to the scaler's rounding) for
the trainer's 480p windows, directly and through the trainer's SampleBuilder.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from humo_data.train.config import DataConfig
from humo_data.train.data.sample import SampleBuilder, resolve_video_reader
from humo_data.train.data.video import ClipTooShort, decode_window
from humo_data.train.data.video_decord import decode_window_decord, output_indices

pytestmark = pytest.mark.slow
decord = pytest.importorskip(
    "decord", reason="decord is not installed (pip install 'humo-data[decord]'; the dev extra has it)"
)

MIN_PSNR_DB = 40.0


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return math.inf if mse == 0 else 10 * math.log10(255.0**2 / mse)


def worst_psnr(a: np.ndarray, b: np.ndarray) -> float:
    """The lowest per-frame PSNR of two equally long frame stacks."""
    return min(psnr(x, y) for x, y in zip(a, b, strict=True))


@pytest.fixture(scope="module")
def shard_rows(curated_sample: Path) -> list[dict]:
    shards = sorted((curated_sample / "triplets").glob("*.parquet"))
    rows = pq.read_table(shards).to_pylist()
    assert rows, "the curated sample has no clips"
    return rows


def total_frames(reader, data: bytes, fps: float) -> int:
    with pytest.raises(ClipTooShort) as info:
        reader(data, frames=100_000, fps=fps, height=64, width=64, start=0)
    return info.value.total


@pytest.mark.parametrize("fps", [25.0, 30.0, 16.0])
def test_same_frame_count(shard_rows, fps):
    for row in shard_rows:
        n_av = total_frames(decode_window, row["video"], fps)
        n_dec = total_frames(decode_window_decord, row["video"], fps)
        assert n_av == n_dec, f"{row['clip_id']} at {fps} fps: PyAV {n_av} frames, decord {n_dec}"
        if fps == row["fps"]:
            assert n_av == row["num_frames"]


@pytest.mark.parametrize(
    ("fps", "bucket"),
    [
        (25.0, (480, 480)),  # the clip's own size: crop only
        (30.0, (480, 832)),  # 97 frames resampled to 30 fps, rescaled to cover the default bucket
        (25.0, (832, 480)),  # portrait bucket
    ],
)
def test_same_pixels(shard_rows, fps, bucket):
    h, w = bucket
    for row in shard_rows:
        avail = total_frames(decode_window, row["video"], fps)
        frames = min(97, (avail - 1) // 4 * 4 + 1)
        start = avail - frames  # the window's end is the clip's end: both readers reach the last frame
        a = decode_window(row["video"], frames=frames, fps=fps, height=h, width=w, start=start)
        b = decode_window_decord(row["video"], frames=frames, fps=fps, height=h, width=w, start=start)
        assert a.frames.shape == b.frames.shape == (frames, h, w, 3)
        assert a.crop == b.crop and a.start == b.start
        worst = worst_psnr(a.frames, b.frames)
        assert worst > MIN_PSNR_DB, f"{row['clip_id']}: worst frame {worst:.1f} dB"


def test_the_pixel_check_sees_a_one_frame_shift(shard_rows):
    """Adjacent frames of the talking clip differ by far more than the readers do: a reader that
    picked the neighbouring source frame would fail the check above."""
    row = shard_rows[0]
    a = decode_window(row["video"], frames=41, fps=25.0, height=480, width=480, start=0)
    shifted = decode_window(row["video"], frames=41, fps=25.0, height=480, width=480, start=1)
    assert worst_psnr(a.frames[1:], shifted.frames[:-1]) > 60  # same frames
    assert worst_psnr(a.frames, shifted.frames) < MIN_PSNR_DB


def test_sample_builder_reads_the_same_sample_with_either_reader(shard_rows):
    cfg = {"frames": 61, "height": 480, "width": 832, "text_dropout": 0.0, "clip_start": "random"}
    samples = {}
    for reader in ("pyav", "decord"):
        builder = SampleBuilder(DataConfig(**cfg, video_reader=reader), seed=3)
        assert builder.video_reader == reader
        samples[reader] = builder.build(shard_rows[0], epoch=0)
    a, b = samples["pyav"], samples["decord"]
    assert a.start == b.start and a.video.shape == b.video.shape == (61, 480, 832, 3)
    assert worst_psnr(a.video, b.video) > MIN_PSNR_DB
    np.testing.assert_array_equal(a.audio, b.audio)
    assert resolve_video_reader("pyav") == "pyav" and DataConfig().video_reader == "pyav"  # the default


def test_output_indices_follow_the_pyav_rule():
    # 20 fps source (50 ms frames) sampled at 25 fps: output k shows the last frame with pts <= k/25
    times = np.arange(10) * 0.05
    idx = output_indices(times, 20.0, 25.0)
    # 0.5 s of video (the last frame lasts 50 ms) -> 13 output frames (k/25 < 0.5)
    assert idx.tolist() == [0, 0, 1, 2, 3, 4, 4, 5, 6, 7, 8, 8, 9]


def test_decord_small_width_defect_is_named(triplet_rows):
    """decord 0.6 cannot return frames 48 px wide (it copies padded rows as unpadded): the reader
    says so and names the way out, instead of decord's internal size-check message."""
    clip = triplet_rows[0]["video"]  # 64x64 H.264 -> cover 48x48 for a 32x48 bucket
    try:
        d = decode_window_decord(clip, frames=9, fps=25.0, height=32, width=48, start=0)
    except ValueError as err:
        assert "48 px wide" in str(err) and "video_reader=pyav" in str(err)
    else:  # a decord without the defect
        assert d.frames.shape == (9, 32, 48, 3)
