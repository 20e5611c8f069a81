"""Fixtures every test directory shares (see tests/shared_media.py).

The suite runs on two pytest-xdist workers (README's test command). Each worker gets its own
Ray temp dir, so a plain ``ray.init()`` in one worker never joins a cluster that a test in the
other worker started (Ray records the newest local cluster's address in ``<temp>/ray``).
"""

import os
import shutil
import tempfile

from tests.shared_media import shared_media_dir  # noqa: F401  (the fixture behind needs_media)

_WORKER = os.environ.get("PYTEST_XDIST_WORKER")
if _WORKER and "RAY_TMPDIR" not in os.environ:
    # short: Ray puts unix sockets under it (108-byte path limit)
    os.environ["RAY_TMPDIR"] = tempfile.mkdtemp(prefix=f"ray{_WORKER}-")


def pytest_unconfigure(config):
    own = os.environ.get("RAY_TMPDIR", "")
    if _WORKER and os.path.basename(own).startswith(f"ray{_WORKER}-"):
        shutil.rmtree(own, ignore_errors=True)
