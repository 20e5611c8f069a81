"""One run per output: a second concurrent `humo-data curate` is refused with a message naming the
holder; a lease whose holder was killed (kill -9) or stopped heartbeating is taken over."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from humo_data.io.lease import LEASE_NAME, Lease, LeaseHeld
from humo_data.io.store import Store
from tests.cluster.conftest import SAMPLE, curate_cmd

HOLD = """
import sys, time
from humo_data.io.lease import Lease
from humo_data.io.store import Store
Lease(Store.open(sys.argv[1]), "r-holder", lease_seconds=float(sys.argv[2])).acquire()
print("held", flush=True)
time.sleep(300)
"""


def _hold(out: Path, lease_seconds: float = 60.0) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-c", HOLD, str(out), str(lease_seconds)], stdout=subprocess.PIPE,
                            text=True)  # fmt: skip
    assert proc.stdout.readline().strip() == "held"
    return proc


def test_second_run_is_refused_then_a_killed_holders_lease_is_taken_over(tmp_path):
    out = tmp_path / "out"
    holder = _hold(out)
    try:
        refused = subprocess.run(
            curate_cmd(str(SAMPLE), str(out)), capture_output=True, text=True, timeout=120
        )
        assert refused.returncode == 2, refused.stderr
        msg = " ".join(refused.stderr.split())
        assert f"is in use by run r-holder on {socket.gethostname()} (pid {holder.pid}" in msg
        assert "Wait for it to finish" in msg
        assert not (out / "_manifest.json").exists()  # refused before touching the dataset
    finally:
        os.kill(holder.pid, signal.SIGKILL)
        holder.wait()
    store = Store.open(out)
    assert store.read_json(LEASE_NAME)["run_id"] == "r-holder"  # kill -9 left it behind
    lease = Lease(store, "r-rerun")
    with lease:
        assert lease.took_over and lease.took_over["pid"] == holder.pid
    assert not store.exists(LEASE_NAME)


def test_heartbeat_keeps_a_lease_and_an_expired_one_is_taken_over(tmp_path):
    store = Store.open(tmp_path / "out")
    with Lease(store, "r-live", lease_seconds=3.0):
        first = store.read_json(LEASE_NAME)
        time.sleep(2.5)  # > one heartbeat period (lease_seconds / 3, at least 1 s)
        renewed = store.read_json(LEASE_NAME)
        assert renewed["heartbeat"] > first["heartbeat"] and renewed["expires"] > first["expires"]
        elsewhere = Lease(store, "r-other")
        elsewhere.host = "another-node"  # a run on another machine: its pid says nothing here
        with pytest.raises(LeaseHeld, match="in use by run r-live"):
            elsewhere.acquire()
    # a holder on another node that stopped renewing: stale once its lease expires
    store.write_json(LEASE_NAME, {"run_id": "r-gone", "host": "another-node", "pid": 1,
                                  "heartbeat": time.time() - 2, "expires": time.time() + 1.0})  # fmt: skip
    with pytest.raises(LeaseHeld, match="r-gone"):
        Lease(store, "r-next").acquire()
    time.sleep(1.2)
    lease = Lease(store, "r-next")
    with lease:
        assert lease.took_over["run_id"] == "r-gone"
