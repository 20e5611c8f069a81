"""Resume across the identity pass: ``humo-data curate`` SIGKILLed while its identity pass runs,
then run again, gives every clip the references an uninterrupted identity pass gives (the
in-memory pass on the committed features).

The kill lands when Ray Data reports the second dataset finished: the streaming pass is the first,
the identity pass's per-source step the second (it has two more before it commits)."""

from __future__ import annotations

import importlib
import os
import signal
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pytest

from humo_data.identity.config import IdentityConfig
from humo_data.identity.job import identity_table
from humo_data.io.dataset import DatasetNotFound, open_dataset
from tests.faces.face_rows import concat_clips
from tests.shared_media import media_file, needs_media

pytestmark = [needs_media, pytest.mark.slow]

ARGS = [
    "--set",
    "probe.require_audio=false",
    "--set",
    "faces.enabled=true",
    "--set",
    "identity.enabled=true",
    "--set",
    "ray.num_cpus=2",
    "--set",
    "ray.in_process_max_shards=0",
    "--no-progress",
    "--verbose",
]  # fmt: skip  (--verbose: Ray's "execution finished" lines reach stderr, not OUT/_logs)


def _wired() -> bool:
    try:
        return hasattr(importlib.import_module("humo_data.jobs.phases"), "run_identity_phase")
    except ImportError:
        return False


def _phase(out: Path, name: str) -> str | None:
    try:
        return (open_dataset(str(out)).manifest.get("phases") or {}).get(name, {}).get("status")
    except (DatasetNotFound, FileNotFoundError, ValueError, KeyError):
        return None


def _curate(inputs: Path, out: Path, **kwargs) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "humo_data.cli", "curate", "-i", str(inputs), "-o", str(out), *ARGS]
    return subprocess.Popen(cmd, start_new_session=True, stdout=subprocess.DEVNULL, **kwargs)


def _references(out: Path) -> dict[str, list]:
    t = open_dataset(str(out)).read(
        "triplets", ["clip_id", "identity_id", "reference_kind", "reference_images"]
    )
    return {r["clip_id"]: _light(r) for r in t.to_pylist()}


def _light(r: dict) -> tuple:
    refs = [
        (x["source_clip_id"], x["kind"], round(x["similarity"], 5), x["time"])
        for x in r["reference_images"] or []
    ]
    return r["identity_id"], r["reference_kind"], refs


@pytest.mark.skipif(
    not _wired(), reason="the curate job does not run the identity phase yet (humo_data/jobs/phases.py)"
)
def test_sigkill_during_identity_then_resume(tmp_path):
    a, b = media_file("sadtalker_WDA_AlexandriaOcasioCortez_000.mp4"), media_file("liveportrait_d10.mp4")
    inputs = tmp_path / "in"
    inputs.mkdir()
    concat_clips([(a, 0, 4), (b, 0, 4), (a, 4, 4)], inputs / "aba.mp4")
    concat_clips([(b, 6, 8)], inputs / "b.mp4")
    out = tmp_path / "out"

    proc = _curate(inputs, out, stderr=subprocess.PIPE, text=True)
    finished = 0
    try:
        for line in proc.stderr:
            finished += "execution finished" in line
            if finished == 2:
                os.killpg(proc.pid, signal.SIGKILL)  # the driver and the local Ray cluster it started
                break
        proc.wait(timeout=120)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert finished == 2, "curate ended before its identity pass started"
    assert _phase(out, "identity") != "complete", "the kill came too late to interrupt the identity pass"

    rerun = _curate(inputs, out)
    assert rerun.wait(timeout=600) == 0
    assert _phase(out, "identity") == "complete"
    got = _references(out)

    ds = open_dataset(str(out))
    features = ds.read("features/faces")
    features = features.append_column("_shard", pa.nulls(features.num_rows, pa.string()))
    expected = identity_table(features, IdentityConfig())
    want = {r["clip_id"]: _light(r) for r in expected.to_pylist()}
    assert len(got) == 4 and got == want
    kinds = pc.value_counts(expected.column("reference_kind")).to_pylist()
    # A: cross_shot; B: its own frames (b.mp4 is another part of the same recording: not another context)
    assert {k["values"] for k in kinds} == {"cross_shot", "same_clip"}
