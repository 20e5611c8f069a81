"""Ray's console output goes to a log file inside the output, so the console shows ours only.

Ray writes from many places into the driver's stdout/stderr: Python loggers (token auth,
``Progress bars disabled``, the streaming executor), the C++ core worker (``E`` lines) and the
workers' output forwarded by ``log_to_driver``. Only a redirect of the process's file descriptors
1 and 2 catches all of them; our console writes to a copy of the original stderr.

    with RayOutput(store, run_id, verbose=False) as ray_out:
        console = Console(file=ray_out.console_stream)
        ...                       # lease taken, dataset opened
        ray_out.start()           # from here Ray's lines land in OUT/_logs/<run_id>.log
        init_ray(...)

Nothing is created before ``start`` (a refused or empty run leaves no log). On an object store the
log is written locally and uploaded when the block ends (also on errors).
"""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
from typing import TextIO

from humo_data.io.store import Store

LOGS_DIR = "_logs"


class RayOutput:
    def __init__(self, store: Store, run_id: str, verbose: bool):
        self.store, self.rel, self.verbose = store, f"{LOGS_DIR}/{run_id}.log", verbose
        self.console_stream: TextIO = sys.stderr
        self.shown: str | None = None  # where Ray's output goes (None: here, --verbose)
        self._saved: tuple[int, int] | None = None
        self._local_path: str | None = None

    def __enter__(self) -> RayOutput:
        if not self.verbose:
            sys.stderr.flush()
            self.console_stream = os.fdopen(os.dup(2), "w", buffering=1)
        return self

    def start(self) -> None:
        """Send fds 1 and 2 (Ray's output) to the log file from now on; once per run."""
        if self.verbose or self._saved is not None:
            return
        if self.store.local:
            path = self.store.path(self.rel)
            os.makedirs(os.path.dirname(path), exist_ok=True)
            self.shown = path
        else:
            fd, path = tempfile.mkstemp(prefix="humo-ray-", suffix=".log")
            os.close(fd)
            self.shown = self.store.url(self.rel)
        self._local_path = path
        for s in (sys.stdout, sys.stderr):
            s.flush()
        self._saved = os.dup(1), os.dup(2)
        log_fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        os.dup2(log_fd, 1)
        os.dup2(log_fd, 2)
        os.close(log_fd)

    def __exit__(self, *exc: object) -> None:
        if self._saved is not None:
            for s in (sys.stdout, sys.stderr):
                with contextlib.suppress(Exception):
                    s.flush()
            os.dup2(self._saved[0], 1)
            os.dup2(self._saved[1], 2)
            for fd in self._saved:
                os.close(fd)
            self._saved = None
            if not self.store.local and self._local_path:
                with contextlib.suppress(Exception), open(self._local_path, "rb") as f:
                    self.store.write_bytes(self.rel, f.read())
                os.unlink(self._local_path)
        if self.console_stream is not sys.stderr:
            with contextlib.suppress(Exception):
                self.console_stream.close()
