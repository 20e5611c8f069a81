"""One run at a time per output: a lease file with holder and heartbeat.

``_lease.json`` names the run holding the output (run id, host, pid) and when it last renewed
its heartbeat. A second run is refused with a message naming the holder. A lease whose heartbeat
is older than ``lease_seconds``, or whose holder was on this host and has exited (``kill -9``),
is stale and taken over, so rerunning the same command after a crash just works.

On object stores the lease is best effort (no compare-and-swap through fsspec): after writing it
the run reads it back and proceeds only if it is still its own.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from typing import Any

from humo_data.io.store import Store

LEASE_NAME = "_lease.json"


class LeaseHeld(RuntimeError):
    """Another live run holds the output."""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class Lease:
    def __init__(self, store: Store, run_id: str, lease_seconds: float = 60.0):
        self.store, self.run_id, self.lease_seconds = store, run_id, lease_seconds
        self.host, self.pid = socket.gethostname(), os.getpid()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.took_over: dict[str, Any] | None = None

    def _body(self) -> dict[str, Any]:
        now = time.time()
        return {"run_id": self.run_id, "host": self.host, "pid": self.pid, "heartbeat": now,
                "expires": now + self.lease_seconds}  # fmt: skip

    def is_stale(self, held: dict[str, Any]) -> bool:
        if time.time() > float(held.get("expires", 0)):
            return True
        return held.get("host") == self.host and not _alive(int(held.get("pid", -1)))

    def acquire(self) -> None:
        held = self.store.read_json(LEASE_NAME)
        if held and held.get("run_id") != self.run_id and not self.is_stale(held):
            age = time.time() - float(held.get("heartbeat", 0))
            raise LeaseHeld(
                f"{self.store.uri} is in use by run {held.get('run_id')} on {held.get('host')} (pid "
                f"{held.get('pid')}, heartbeat {age:.0f}s ago). Wait for it to finish, or if it died, rerun "
                f"after its lease expires (writer.lease_seconds={self.lease_seconds:g})."
            )
        if held and held.get("run_id") != self.run_id:
            self.took_over = held
        self.store.write_json(LEASE_NAME, self._body())
        if not self.store.local:  # no compare-and-swap: check that nobody overwrote us
            time.sleep(0.2)
            mine = self.store.read_json(LEASE_NAME) or {}
            if mine.get("run_id") != self.run_id:
                raise LeaseHeld(
                    f"{self.store.uri}: another run took the lease at the same time ({mine.get('run_id')})"
                )
        self._thread = threading.Thread(target=self._heartbeat, name="humo-lease", daemon=True)
        self._thread.start()

    def _heartbeat(self) -> None:
        while not self._stop.wait(max(1.0, self.lease_seconds / 3)):
            try:
                self.store.write_json(LEASE_NAME, self._body())
            except Exception:  # noqa: BLE001 - a missed heartbeat only shortens the lease
                continue

    def release(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        held = self.store.read_json(LEASE_NAME)
        if held and held.get("run_id") == self.run_id:
            self.store.delete(LEASE_NAME)

    def __enter__(self) -> Lease:
        self.acquire()
        return self

    def __exit__(self, *exc) -> None:
        self.release()
