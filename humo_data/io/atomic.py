"""Atomic file writes: write beside the target under a hidden temporary name, fsync, rename.

Readers (pyarrow datasets, duckdb globs) skip names that start with ``.`` or ``_``, so a
half-written file is never visible, and a rename is atomic on one filesystem.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any


def temp_path_for(path: Path) -> Path:
    return path.with_name(f".{path.name}.tmp")


def fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def commit_file(tmp: Path, final: Path) -> None:
    """fsync ``tmp`` and rename it to ``final`` atomically."""
    with open(tmp, "rb+") as f:
        os.fsync(f.fileno())
    os.replace(tmp, final)
    fsync_dir(final.parent)


def atomic_write_bytes(path: Path, data: bytes) -> None:
    tmp = temp_path_for(path)
    tmp.write_bytes(data)
    commit_file(tmp, path)


def atomic_write_json(path: Path, obj: Any) -> None:
    atomic_write_bytes(path, (json.dumps(obj, indent=2, sort_keys=False, default=str) + "\n").encode())


def sha256_file(path: Path, chunk: int = 1 << 22) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()
