"""What a user's command must never do (issue 24): write a dataset into someone's folder, leave
junk after a typo, fill the console with Ray's log, die on another Ray cluster, or end green with
0 clips when every source failed the same way."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import fsspec
import pytest
from typer.testing import CliRunner

from humo_data.cli import app

REPO = Path(__file__).resolve().parents[2]
SAMPLE = REPO / "tests" / "data"
CUT_ONLY = [a for s in ("quality", "faces", "identity", "audio", "sync", "captions") for a in ("--set", f"{s}.enabled=false")]  # fmt: skip


def _tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_nonempty_unrelated_output_is_refused_and_left_unchanged(tmp_path):
    out = tmp_path / "mine"
    (out / "sub").mkdir(parents=True)
    (out / "notes.txt").write_text("my notes")
    (out / "sub" / "a.csv").write_text("a,b\n")
    before = _tree(out)
    res = CliRunner().invoke(app, ["curate", "-i", str(SAMPLE), "-o", str(out)])
    assert res.exit_code == 2, res.output
    assert "notes.txt" in res.output and "sub/" in res.output and "--allow-nonempty-output" in res.output
    assert _tree(out) == before and sorted(p.name for p in out.iterdir()) == ["notes.txt", "sub"]

    fs = fsspec.filesystem("memory")  # the same for an object-store prefix (fsspec)
    fs.pipe("/humo-safety/out/notes.txt", b"x")
    res = CliRunner().invoke(app, ["curate", "-i", str(SAMPLE), "-o", "memory://humo-safety/out"])
    assert res.exit_code == 2 and "notes.txt" in res.output, res.output
    assert fs.find("/humo-safety") == ["/humo-safety/out/notes.txt"]


@pytest.mark.parametrize("bad", ["tests/dta", "tests/data/*.mkv"])
def test_bad_input_creates_nothing(tmp_path, bad):
    out = tmp_path / "out"
    res = CliRunner().invoke(app, ["curate", "-i", str(REPO / bad), "-o", str(out)])
    assert res.exit_code == 2, res.output
    assert "input not found" in res.output or "no files match" in res.output
    assert not out.exists()


# --- one real run on the sample, with another local Ray cluster up -------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def other_cluster():
    """A `ray start --head` of this test only: its own temp dir (RAY_TMPDIR, short for Ray's socket
    paths), so the 'current cluster' file it writes is seen by the runs of this module and by
    nobody else; stopped by signalling its own process group, never `ray stop`."""
    tmp = tempfile.mkdtemp(prefix="rt", dir="/tmp")
    env = {**os.environ, "RAY_TMPDIR": tmp}
    env.pop("RAY_ADDRESS", None)
    proc = subprocess.Popen(
        ["ray", "start", "--head", "--block", f"--port={_free_port()}", "--num-cpus=1",
         "--object-store-memory=100000000", "--include-dashboard=false", "--disable-usage-stats"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip
    address_file = Path(tmp) / "ray" / "ray_current_cluster"
    deadline = time.monotonic() + 120
    while not address_file.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.5)
    assert address_file.exists(), "the other Ray cluster did not start"
    yield env
    os.killpg(proc.pid, signal.SIGINT)  # `ray start --block` stops the processes it started
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
    shutil.rmtree(tmp, ignore_errors=True)


@pytest.fixture(scope="module")
def sample_run(other_cluster, tmp_path_factory):
    """curate on tests/data (the model stages that make no difference to the console off, faces
    kept: an actor pool) while another cluster runs; default console mode."""
    out = tmp_path_factory.mktemp("safety") / "out"
    cmd = [sys.executable, "-m", "humo_data.cli", "curate", "-i", str(SAMPLE), "-o", str(out), "--no-progress",
           "--set", "audio.enabled=false", "--set", "sync.enabled=false", "--set", "writer.report=false"]  # fmt: skip
    run = subprocess.run(cmd, env=other_cluster, capture_output=True, text=True, timeout=600)
    return run, out


@pytest.mark.slow
def test_curate_starts_its_own_cluster_beside_a_running_one(sample_run):
    run, out = sample_run
    assert run.returncode == 0, run.stderr[-3000:]
    lines = [x for x in (run.stdout + run.stderr).splitlines() if x.startswith("ray: ")]
    assert len(lines) == 1 and "started a local cluster" in lines[0] and "not used" in lines[0], lines
    assert "object_store_memory" not in run.stderr


@pytest.mark.slow
def test_console_holds_no_ray_log_lines_and_the_log_file_does(sample_run):
    run, out = sample_run
    assert run.returncode == 0, run.stderr[-3000:]
    for stream in (run.stdout, run.stderr):
        noisy = [
            x
            for x in stream.splitlines()
            if "WARNING" in x or x.startswith(("E ", "[")) or "core_worker" in x
        ]
        assert not noisy, noisy
    logs = list((out / "_logs").glob("*.log"))
    assert len(logs) == 1 and logs[0].name in run.stderr
    text = logs[0].read_text()
    assert "WARNING" in text or "streaming_executor" in text  # Ray's lines went there


@pytest.mark.slow
def test_every_source_failing_one_way_is_a_systemic_fault(tmp_path):
    inputs = tmp_path / "in"
    inputs.mkdir()
    for i in range(3):  # tiny corrupt files: every probe fails the same way
        (inputs / f"broken_{i}.mp4").write_bytes(os.urandom(2000))
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "humo_data.cli", "curate", "-i", str(inputs), "-o", str(out), "--no-progress",
           "--set", "ray.num_cpus=2", "--set", "writer.report=false", *CUT_ONLY]  # fmt: skip
    run = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert run.returncode == 1, run.stderr[-3000:]
    message = [x for x in run.stderr.splitlines() if x.startswith("systemic fault")]
    assert message and "all 3 sources" in message[0] and "probe as unreadable" in message[0], run.stderr[
        -2000:
    ]
    m = json.loads((out / "_manifest.json").read_text())
    assert m["status"] == "running" and m["counts"]["rejects"] == 0 and not m["tables"]["rejects"]
    assert sorted(Path(u).name for u in m["retryable"]) == [f"broken_{i}.mp4" for i in range(3)]
