"""What produced each stage's fields, for the manifest: settings hash, backend, and for every weights
path a stage names, its size and sha256 (a file, or every file of a model directory).

Digests are cached by (path, size, mtime) for the life of the process, so a rerun of several
phases hashes multi-GB weights once.
"""

from __future__ import annotations

import hashlib
import os
from functools import lru_cache
from typing import Any

from humo_data.stage import Stage

CHUNK = 8 << 20


@lru_cache(maxsize=256)
def _file_digest(path: str, size: int, mtime: float) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(CHUNK):
            h.update(block)
    return h.hexdigest()


def weights_digest(path: str) -> dict[str, Any] | None:
    """{path, bytes, sha256} of a local weights file or directory (files hashed in name order,
    the directory digest = sha256 over "relative path + file digest" lines); None if absent."""
    if not path or "://" in path or not os.path.exists(path):
        return None
    if os.path.isfile(path):
        st = os.stat(path)
        return {"path": path, "bytes": st.st_size, "sha256": _file_digest(path, st.st_size, st.st_mtime)}
    lines, total = [], 0
    for root, _, files in sorted(os.walk(path)):
        for name in sorted(files):
            full = os.path.join(root, name)
            st = os.stat(full)
            total += st.st_size
            lines.append(f"{os.path.relpath(full, path)} {_file_digest(full, st.st_size, st.st_mtime)}")
    return {"path": path, "bytes": total, "sha256": hashlib.sha256("\n".join(lines).encode()).hexdigest()}


def describe(stage: Stage, name: str | None = None) -> dict[str, Any]:
    """The manifest entry of a stage: hash, provenance fields, and digests of the weights they name."""
    info: dict[str, Any] = {"hash": stage.output_hash(), **stage.provenance()}
    weights = []
    for key, value in sorted(info.items()):
        if isinstance(value, str) and key != "backend" and (digest := weights_digest(value)) is not None:
            weights.append({"field": key, **digest})
    if weights:
        info["weights"] = weights
    return info
