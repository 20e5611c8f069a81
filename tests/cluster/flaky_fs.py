"""A real fsspec filesystem over local files whose reads fail on purpose: ``flaky:///abs/a.mp4``
reads ``/abs/a.mp4``, except that reads of files the plan names raise a transient I/O error.

The plan is a JSON file named by ``$HUMO_FLAKY_PLAN``, read when a file is opened:

    {"a.mp4": {"failures": 2, "error": "ConnectionResetError"},   # the first 2 reads fail
     "b.mp4": {"failures": -1, "error": "TimeoutError"}}          # every read fails

Failures are drawn from one budget per file, counted in ``<plan>.count/<name>`` under a file lock,
so every process reading it (the driver, each Ray worker) shares the budget, and the count says how
many failures were really raised. Ray workers are separate processes: they register the protocol
through ``runtime_env={"worker_process_setup_hook": "tests.cluster.flaky_fs.register", ...}``.
"""

from __future__ import annotations

import errno
import fcntl
import io
import json
import os
from pathlib import Path
from typing import Any

import fsspec
from fsspec.implementations.local import LocalFileSystem
from fsspec.spec import AbstractFileSystem
from fsspec.utils import stringify_path

PLAN_ENV = "HUMO_FLAKY_PLAN"
PROTOCOL = "flaky"
ERRORS = {
    "ConnectionResetError": lambda name: ConnectionResetError(errno.ECONNRESET, f"connection reset by peer reading {name} (flaky://)"),
    "TimeoutError": lambda name: TimeoutError(errno.ETIMEDOUT, f"read timed out on {name} (flaky://)"),
}  # fmt: skip


def register() -> None:
    """Make ``flaky://`` known to fsspec in this process (a Ray worker setup hook)."""
    fsspec.register_implementation(PROTOCOL, FlakyFileSystem, clobber=True)


def write_plan(path: Path, plan: dict[str, dict[str, Any]]) -> None:
    """Write (or replace) the plan; counts of failures already raised are kept."""
    path.write_text(json.dumps(plan))


def failures_raised(plan_path: Path | str, name: str) -> int:
    counter = Path(f"{plan_path}.count") / name
    return int(counter.read_text() or 0) if counter.exists() else 0


def _plan() -> tuple[str | None, dict[str, Any]]:
    path = os.environ.get(PLAN_ENV)
    if not path or not os.path.exists(path):
        return None, {}
    with open(path) as f:
        return path, json.load(f)


def _draw_failure(plan_path: str, name: str, budget: int) -> bool:
    """True if this read should fail: one failure taken from the shared budget (-1 = endless)."""
    folder = Path(f"{plan_path}.count")
    folder.mkdir(exist_ok=True)
    with open(folder / name, "a+") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        f.seek(0)
        raised = int(f.read() or 0)
        if 0 <= budget <= raised:
            return False
        f.seek(0)
        f.truncate()
        f.write(str(raised + 1))
        f.flush()
        return True


class _FlakyRaw(io.RawIOBase):
    """The local file, with reads that may raise the plan's error."""

    def __init__(self, path: str):
        self._f = open(path, "rb")  # noqa: SIM115 - closed by close()
        self.name = os.path.basename(path)
        self._plan_path, plan = _plan()
        self._spec = plan.get(self.name)

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        spec = self._spec
        if spec and _draw_failure(self._plan_path, self.name, int(spec["failures"])):
            raise ERRORS[spec.get("error", "ConnectionResetError")](self.name)
        return self._f.readinto(buffer)

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        return self._f.seek(offset, whence)

    def tell(self) -> int:
        return self._f.tell()

    def close(self) -> None:
        self._f.close()
        super().close()


class FlakyFileSystem(AbstractFileSystem):
    protocol = (PROTOCOL,)
    root_marker = "/"

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self._local = LocalFileSystem()

    @classmethod
    def _strip_protocol(cls, path: Any) -> str:
        path = stringify_path(path)
        if path.startswith(f"{PROTOCOL}://"):
            path = path[len(PROTOCOL) + 3 :]
        return path.rstrip("/") or "/"

    def ls(self, path: str, detail: bool = True, **kwargs: Any) -> list:
        entries = self._local.ls(self._strip_protocol(path), detail=True)
        return entries if detail else [e["name"] for e in entries]

    def info(self, path: str, **kwargs: Any) -> dict[str, Any]:
        return self._local.info(self._strip_protocol(path))

    def _open(self, path: str, mode: str = "rb", **kwargs: Any) -> io.BufferedReader:
        if mode != "rb":
            raise PermissionError(f"{PROTOCOL}:// is read-only (mode {mode!r})")
        return io.BufferedReader(_FlakyRaw(self._strip_protocol(path)), buffer_size=64 << 10)
