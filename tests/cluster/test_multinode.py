"""The curation job on multi-node Ray clusters on this machine.

1. ``ray.cluster_utils.Cluster`` (a head without CPUs + 2 worker nodes): a clean run, then a run
   during which a busy worker node is removed once shards are committed. The job completes and
   its clip set equals the clean run's, with no duplicates, also for a plain reader of the folder.
2. ``ray start --head`` on free localhost ports + ``ray job submit --working-dir <repo> -- python
   pipelines/curate.py ...``, the way a cluster user runs it (token auth on, as Ray's default).

Clusters are ended by the test that started them: Cluster.shutdown(), or the ``ray start``
process tree by pid (``ray stop`` would end every Ray cluster on the machine).
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil
import pyarrow.dataset as pads
import pytest

from humo_data.io.dataset import open_dataset
from humo_data.io.validate import validate_dataset
from tests.cluster.conftest import (
    OBJECT_STORE,
    REPO,
    SAMPLE,
    clip_ids,
    copy,
    curate_cmd,
    end_process_tree,
    free_ports,
    sample_clips,
)

pytestmark = pytest.mark.slow

ARGS = ("writer.rows_per_shard=1", "ray.max_sources_in_flight=4")


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("in")
    for path in sample_clips():
        copy(path, folder / path.name)
    return folder


def _busy_workers(node) -> list[str]:
    """Command lines of the node's Ray workers that are running a task (not idle)."""
    from ray._private import ray_constants

    raylet = psutil.Process(node.all_processes[ray_constants.PROCESS_TYPE_RAYLET][0].process.pid)
    busy = []
    for p in raylet.children(recursive=True):
        try:
            cmd = " ".join(p.cmdline())
        except psutil.Error:
            continue
        if cmd.startswith("ray::") and not cmd.startswith("ray::IDLE"):
            busy.append(cmd)
    return busy


def _committed_shards(out: Path) -> int:
    try:
        return len(open_dataset(str(out)).shards("triplets"))
    except (FileNotFoundError, ValueError, KeyError):
        return 0


def test_removing_a_worker_node_mid_job_gives_the_clean_run_clips(inputs, tmp_path):
    import ray._common.utils as ray_utils
    from ray.cluster_utils import Cluster

    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 0, "object_store_memory": OBJECT_STORE,
                                                            "include_dashboard": False})  # fmt: skip
    try:
        # Cluster writes its address to /tmp/ray/ray_current_cluster, where any plain ray.init() on this
        # machine (another test run) would join it; we always pass the address, so take it back.
        ray_utils.reset_ray_address()
        workers = [cluster.add_node(num_cpus=2, object_store_memory=OBJECT_STORE) for _ in range(2)]
        cluster.wait_for_nodes()

        clean = tmp_path / "clean"
        run = subprocess.run(curate_cmd(str(inputs), str(clean), *ARGS, address=cluster.address),
                             capture_output=True, text=True, timeout=400)  # fmt: skip
        assert run.returncode == 0, run.stdout[-3000:]
        expected = clip_ids(str(clean))
        assert len(expected) == len(set(expected)) >= 2

        out = tmp_path / "faulty"
        proc = subprocess.Popen(curate_cmd(str(inputs), str(out), *ARGS, address=cluster.address),
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)  # fmt: skip
        removed = None
        deadline = time.time() + 300
        while removed is None and proc.poll() is None and time.time() < deadline:
            if _committed_shards(out) >= 1:
                busy = [w for w in workers if _busy_workers(w)]
                if busy:
                    removed = busy[0]
                    cluster.remove_node(removed, allow_graceful=False)
                    break
            time.sleep(0.1)
        log, _ = proc.communicate(timeout=400)
        assert removed is not None, "the job ended before a busy node could be removed; give it more work"
        assert proc.returncode == 0, log[-4000:]
    finally:
        cluster.shutdown()

    manifest = open_dataset(str(out)).manifest
    assert manifest["status"] == "complete" and not manifest["retryable"]
    got = clip_ids(str(out))
    assert len(got) == len(set(got)), "duplicate clips after a node was lost"
    assert sorted(got) == sorted(expected)
    assert manifest["counts"]["rejects"] == open_dataset(str(clean)).manifest["counts"]["rejects"]
    on_disk = pads.dataset(out / "triplets").to_table(columns=["clip_id"])["clip_id"].to_pylist()
    assert sorted(on_disk) == sorted(expected), "a plain reader of triplets/ sees other rows than committed"


def test_ray_start_and_job_submit_run_the_curate_entry_point(tmp_path):
    inputs = tmp_path / "in"  # the bundled clips: this test is about the plumbing
    for path in SAMPLE.glob("*.mp4"):
        copy(path, inputs / path.name)
    ray_cli = [sys.executable, "-m", "ray.scripts.scripts"]
    temp = tempfile.mkdtemp(prefix="hr", dir="/tmp")  # short: Ray's unix socket paths must fit 107 bytes
    token = Path(temp) / "auth_token"
    token.write_text(secrets.token_hex(32))
    env = {**os.environ, "RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN_PATH": str(token)}
    env.pop("RAY_ADDRESS", None)
    gcs, dash, agent_http, agent_grpc, client, metrics, runtime_env = free_ports(7)
    log_path = Path(temp) / "head.log"
    with open(log_path, "w") as log:
        head = subprocess.Popen(
            [*ray_cli, "start", "--head", "--block", f"--port={gcs}", "--num-cpus=2",
             f"--object-store-memory={OBJECT_STORE}", f"--temp-dir={temp}", "--include-dashboard=true",
             "--dashboard-host=127.0.0.1", f"--dashboard-port={dash}", f"--dashboard-agent-listen-port={agent_http}",
             f"--dashboard-agent-grpc-port={agent_grpc}", f"--ray-client-server-port={client}",
             f"--metrics-export-port={metrics}", f"--runtime-env-agent-port={runtime_env}",
             "--min-worker-port=0", "--max-worker-port=0", "--disable-usage-stats"],
            stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True,
        )  # fmt: skip
    try:
        deadline = time.time() + 180
        while "Ray runtime started" not in log_path.read_text():
            assert head.poll() is None and time.time() < deadline, log_path.read_text()[-3000:]
            time.sleep(0.5)
        out = tmp_path / "out"
        submit = subprocess.run(
            [*ray_cli, "job", "submit", "--address", f"http://127.0.0.1:{dash}", "--working-dir", str(REPO), "--",
             "python", "pipelines/curate.py", "--input", str(inputs), "--output", str(out), "--no-progress",
             "--set", "writer.report=false"],
            capture_output=True, text=True, env=env, timeout=480,
        )  # fmt: skip
        assert submit.returncode == 0, (submit.stdout + submit.stderr)[-4000:]
        assert "succeeded" in submit.stdout + submit.stderr
    finally:
        end_process_tree(head.pid)
        shutil.rmtree(temp, ignore_errors=True)
    manifest = open_dataset(str(out)).manifest
    assert manifest["status"] == "complete"
    assert manifest["counts"]["sources_done"] == len(list(SAMPLE.glob("*.mp4")))
    ids = clip_ids(str(out))
    assert len(ids) == len(set(ids)) >= 2
    assert validate_dataset(str(out)) == []
