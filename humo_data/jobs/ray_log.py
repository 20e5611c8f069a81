"""Ray's console output goes to a log file inside the output, so the console shows ours only.

Ray writes from many places into the driver's stdout/stderr: Python loggers (token auth,
``Progress bars disabled``, the streaming executor), the C++ core worker (``E`` lines) and the
workers' output forwarded by ``log_to_driver``. Only a redirect of the process's file descriptors
1 and 2 catches all of them; our console keeps a copy of the original stderr.

    with ray_output_to_log(store, run_id, verbose=False) as (stream, log):
        console = Console(file=stream)   # ours; Ray's lines land in OUT/_logs/<run_id>.log

On an object store the log is written locally and uploaded when the block ends (also on errors).
"""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
from collections.abc import Iterator
from typing import TextIO

from humo_data.io.store import Store

LOGS_DIR = "_logs"


@contextlib.contextmanager
def ray_output_to_log(store: Store, run_id: str, verbose: bool) -> Iterator[tuple[TextIO, str | None]]:
    """Yield (a stream on the original stderr for our console, where Ray's output goes or None)."""
    if verbose:
        yield sys.stderr, None
        return
    rel = f"{LOGS_DIR}/{run_id}.log"
    if store.local:
        path = store.path(rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        shown = path
    else:
        fd, path = tempfile.mkstemp(prefix=f"humo-{run_id}-", suffix=".log")
        os.close(fd)
        shown = store.url(rel)
    for s in (sys.stdout, sys.stderr):
        s.flush()
    saved = os.dup(1), os.dup(2)
    ours = os.fdopen(os.dup(saved[1]), "w", buffering=1)
    log_fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    try:
        os.dup2(log_fd, 1)
        os.dup2(log_fd, 2)
        yield ours, shown
    finally:
        for s in (sys.stdout, sys.stderr):
            with contextlib.suppress(Exception):
                s.flush()
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        for fd in (*saved, log_fd):
            os.close(fd)
        if not store.local:
            with contextlib.suppress(Exception), open(path, "rb") as f:
                store.write_bytes(rel, f.read())
            os.unlink(path)
