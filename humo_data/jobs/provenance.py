"""Digests of the weights a stage names (``Stage.weights()``: explicit fields, never guessed from
strings), for the manifest: path, size and sha256 of a file, or of every file of a model directory.

Digests are cached by (path, size, mtime) for the life of the process, so a rerun of several
phases hashes multi-GB weights once.
"""

from __future__ import annotations

import hashlib
import os
from functools import lru_cache
from typing import Any

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


def describe_weights(weights: dict[str, str | None]) -> list[dict[str, Any]]:
    """``[{field, path, bytes, sha256}]`` for each named local weights path that exists; a path that
    is named but absent is listed with ``missing: true`` (the stage says so again when it loads)."""
    out = []
    for key, path in sorted(weights.items()):
        if not path:
            continue
        digest = weights_digest(path)
        out.append({"field": key, **digest} if digest else {"field": key, "path": path, "missing": True})
    return out
