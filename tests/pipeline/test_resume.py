"""Kill the driver (SIGKILL, whole process group) mid-run, rerun: same clips, no duplicate."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pyarrow.parquet as pq
import pytest

from humo_data.io.dataset import open_dataset
from tests.pipeline.conftest import CUT_ONLY, SAMPLE, link_inputs, needs_media

pytestmark = [pytest.mark.slow, needs_media]

SOURCES = [
    "sadtalker_WDA_AlexandriaOcasioCortez_000.mp4",
    "latentsync_demo1_video.mp4",
    "latentsync_demo3_video.mp4",
    "liveportrait_d10.mp4",
    "liveportrait_d19.mp4",
]
# The streaming commit protocol is what a kill interrupts here; the later phases' resume is tested
# by tests/identity/test_identity_resume.py and tests/pipeline/test_phases.py.
ARGS = [
    *(a for o in CUT_ONLY for a in ("--set", o)),
    "--no-progress",
    "--set",
    "writer.rows_per_shard=1",
    "--set",
    "writer.report=false",
    "--set",
    "ray.num_cpus=2",
]


#: the killed run and its rerun cut every source of 9 s or more in time ranges of 3 s
#: (clips/ranges.py), the reference in one pass: resume and splitting together give its clips
SPLIT = [a for o in ("clips.split_min_seconds=9", "clips.split_range_seconds=3", "clips.split_warmup_seconds=1",
                     "clips.split_when=always") for a in ("--set", o)]  # fmt: skip


def _curate(inp, out, split: bool = False) -> list[str]:
    cmd = [sys.executable, "-m", "humo_data.cli", "curate", "-i", str(inp), "-o", str(out), *ARGS]
    return cmd + SPLIT if split else cmd


def _clip_ids(out) -> list[str]:
    """Clip ids of committed triplet shards (manifest + commit log, as readers of humo-data see them)."""
    ds = open_dataset(str(out))
    return [
        c
        for e in ds.shards("triplets")
        for c in pq.read_table(out / e["path"], columns=["clip_id"])["clip_id"].to_pylist()
    ]


def _shards_committed(out) -> int:
    try:
        return len(open_dataset(str(out)).shards("triplets"))
    except (FileNotFoundError, json.JSONDecodeError, KeyError, OSError):
        return 0


def test_sigkill_then_rerun_gives_the_uninterrupted_result(tmp_path):
    inputs = link_inputs(tmp_path / "in", SOURCES)
    link_inputs(inputs, ["speaker_4s.mp4", "multishot_aba_9s.mp4"], src=SAMPLE)

    reference = tmp_path / "reference"
    subprocess.run(_curate(inputs, reference), check=True, capture_output=True)
    expected = _clip_ids(reference)
    assert len(expected) == len(set(expected)) >= 8

    out = tmp_path / "out"
    proc = subprocess.Popen(_curate(inputs, out, split=True), start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    deadline = time.time() + 240
    while _shards_committed(out) < 2 and proc.poll() is None and time.time() < deadline:
        time.sleep(0.05)
    assert proc.poll() is None, "the run finished before it could be killed; give it more work"
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    manifest = open_dataset(str(out)).manifest
    assert manifest["status"] == "running"
    partial = _clip_ids(out)
    assert 0 < len(partial) < len(expected)

    rerun = subprocess.run(_curate(inputs, out, split=True), capture_output=True, text=True)
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    got = _clip_ids(out)
    assert len(got) == len(set(got)), "duplicate clips after resume"
    assert set(got) == set(expected)
    on_disk = pq.read_table(out / "triplets", columns=["clip_id"]).column("clip_id").to_pylist()
    assert sorted(on_disk) == sorted(got), "uncommitted shards left behind"
    manifest = json.loads((out / "_manifest.json").read_text())
    assert manifest["status"] == "complete" and manifest["counts"]["triplets"] == len(expected)
    assert manifest["runs"][-1]["resumed"] is True
    assert manifest["counts"].get("split_sources", 0) >= 1  # cut in ranges by one run or the other
    check = subprocess.run(
        [sys.executable, "-m", "humo_data.cli", "validate", str(out)], capture_output=True, text=True
    )
    assert check.returncode == 0, check.stderr

    again = subprocess.run(_curate(inputs, out), capture_output=True, text=True)  # nothing left to do
    assert again.returncode == 0 and sorted(_clip_ids(out)) == sorted(got)
