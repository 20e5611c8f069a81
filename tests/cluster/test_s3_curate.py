"""The curation job with input and output on a real S3 server (moto's standalone server on
localhost, through s3fs): a full run that validates with sha256s matching the objects, and a
run killed mid-way whose uncommitted objects the rerun lists and deletes."""

from __future__ import annotations

import hashlib
import io
import os
import signal
import subprocess
import sys
import time

import av
import pyarrow.parquet as pq
import pytest

from humo_data.io.dataset import DatasetNotFound, leftover_files, open_dataset
from humo_data.io.lease import LEASE_NAME
from humo_data.io.validate import validate_dataset
from humo_data.jobs.curate import run_curate
from tests.cluster.conftest import clip_ids, config, curate_cmd, end_process_tree, local_ray, sample_clips
from tests.io.moto_s3 import S3Server

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def s3():
    with S3Server() as server:
        for path in sample_clips():
            server.upload(path, f"in/{path.name}")
        yield server


@pytest.fixture(scope="module")
def ray_session(s3):
    """Started after the server's env is set: the local cluster's workers inherit it."""
    with local_ray():
        yield


@pytest.fixture(scope="module")
def curated(s3, ray_session):
    summary = run_curate(s3.uri("in"), s3.uri("out"), config("writer.rows_per_shard=2"), show_progress=False)
    return summary


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "humo_data.cli", *args], capture_output=True, text=True)


def test_ray_workers_reach_the_same_server(s3, ray_session):
    import ray

    @ray.remote
    def seen_by_worker(uri: str) -> tuple[str | None, int]:
        import fsspec
        import fsspec.config

        with fsspec.open(uri, "rb") as f:
            return fsspec.config.conf.get("s3", {}).get("endpoint_url"), len(f.read())

    endpoint, size = ray.get(seen_by_worker.remote(s3.uri("in/speaker_4s.mp4")))
    assert endpoint == s3.endpoint
    assert size == len(s3.read("in/speaker_4s.mp4"))


def test_curate_s3_to_s3_validates_and_hashes_match_objects(s3, curated):
    assert curated.ok and curated.sources_listed == len(sample_clips())
    out = s3.uri("out")
    manifest = open_dataset(out).manifest
    assert manifest["status"] == "complete" and manifest["counts"]["triplets"] == curated.new_clips >= 1

    check = _cli("validate", out)
    assert check.returncode == 0, check.stderr
    assert "valid" in check.stdout

    listed = [e for t in ("triplets", "rejects") for e in manifest["tables"][t]]
    assert listed
    for entry in listed:
        body = s3.read(f"out/{entry['path']}")
        assert len(body) == entry["bytes"] and hashlib.sha256(body).hexdigest() == entry["sha256"], entry[
            "path"
        ]
    on_server = [k for k in s3.keys("out") if k.startswith(("out/triplets/", "out/rejects/"))]
    assert sorted(on_server) == sorted(f"out/{e['path']}" for e in listed)  # nothing uncommitted left
    assert f"out/{LEASE_NAME}" not in s3.keys("out")  # released

    first = pq.read_table(io.BytesIO(s3.read(f"out/{manifest['tables']['triplets'][0]['path']}")))
    row = first.slice(0, 1).to_pylist()[0]
    assert row["source_uri"].startswith(s3.uri("in/"))
    with av.open(io.BytesIO(row["video"])) as c:
        assert sum(1 for _ in c.decode(video=0)) == row["num_frames"]

    shown = _cli("inspect", out, "--rows", "1")
    assert shown.returncode == 0, shown.stderr
    assert "clips (triplets)" in shown.stdout and "complete" in shown.stdout


def _uncommitted(out: str) -> list[str]:
    try:
        return leftover_files(open_dataset(out))
    except (DatasetNotFound, FileNotFoundError, ValueError):
        return []  # no manifest yet, or a log segment folded away while we read


def test_killed_run_leaves_uncommitted_objects_that_the_rerun_deletes(s3, curated):
    out = s3.uri("killed")
    proc = subprocess.Popen(curate_cmd(s3.uri("in"), out, "writer.rows_per_shard=1"), start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=os.environ.copy())  # fmt: skip
    leftovers: list[str] = []
    deadline = time.time() + 300
    try:
        while proc.poll() is None and time.time() < deadline:
            time.sleep(0.3)
            os.kill(proc.pid, signal.SIGSTOP)  # a frozen driver commits nothing while we look
            leftovers = _uncommitted(out)
            if leftovers:
                break
            os.kill(proc.pid, signal.SIGCONT)
        assert leftovers, "the run ended before a shard was caught uncommitted; give it more work"
    finally:
        end_process_tree(proc.pid, signal.SIGKILL)
    assert open_dataset(out).manifest["status"] == "running"
    held = open_dataset(out).store.read_json(LEASE_NAME)
    assert held and held["pid"] == proc.pid  # the killed run's lease is still there

    rerun = run_curate(s3.uri("in"), out, config("writer.rows_per_shard=1"), show_progress=False)
    assert rerun.ok, rerun.notes
    assert any(n.startswith("removed ") and "uncommitted" in n for n in rerun.notes), rerun.notes
    keys = set(s3.keys("killed"))
    assert not [p for p in leftovers if f"killed/{p}" in keys], "uncommitted objects survived the rerun"
    got = clip_ids(out)
    assert len(got) == len(set(got)), "duplicate clips after resume"
    assert set(got) == set(clip_ids(s3.uri("out")))  # the uninterrupted run's clips
    assert validate_dataset(out) == []
