"""The dataset's storage: a root on any filesystem fsspec reaches (local, s3://, gs://, memory://).

Every write that readers may see is atomic:
- local: write a hidden ``.name.tmp`` beside the target, fsync, rename (POSIX rename is atomic);
- object stores: one PUT per object (an object appears whole or not at all; a multipart upload
  becomes visible only when it completes), so no temp name is needed.

Readers (pyarrow datasets, duckdb globs, ``datasets``) skip names starting with ``.`` or ``_``, so
temp files and bookkeeping (``_manifest.json``, ``_log/``) never look like data.

    store = Store.open("s3://bucket/out")
    with store.open_atomic("triplets/part-x.parquet") as f:   # HashingFile: sha256 while writing
        pq.write_table(table, f)
    info = f.info    # bytes + sha256, no second read
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import posixpath
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, BinaryIO

import fsspec
from fsspec.core import url_to_fs

from humo_data.io.atomic import fsync_dir


class StoreError(RuntimeError):
    """The output location cannot be used; the message says what to do."""


def _protocol(uri: str) -> str | None:
    head, sep, _ = uri.partition("://")
    return head.lower() if sep and head.isascii() and head.replace("+", "").isalnum() else None


def _discard(raw: Any) -> None:
    """Drop an unfinished object-store upload without publishing it."""
    with contextlib.suppress(Exception):
        if hasattr(raw, "discard"):
            raw.discard()  # s3fs/gcsfs: abort the multipart upload, drop the buffer
    if hasattr(raw, "closed"):
        with contextlib.suppress(AttributeError):
            raw.closed = True  # so close() in __del__ never uploads the partial buffer


@dataclass(frozen=True)
class WrittenFile:
    path: str  # relative to the store root
    bytes: int
    sha256: str


class HashingFile:
    """A write-only file wrapper that hashes and counts what passes through (no second read)."""

    def __init__(self, raw: BinaryIO):
        self._raw = raw
        self._sha = hashlib.sha256()
        self.bytes = 0
        self.closed = False

    def write(self, data: bytes | bytearray | memoryview) -> int:
        view = memoryview(data)
        self._sha.update(view)
        self.bytes += view.nbytes
        self._raw.write(view)
        return view.nbytes

    def tell(self) -> int:
        return self.bytes

    def flush(self) -> None:
        self._raw.flush()

    def writable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return False

    def readable(self) -> bool:
        return False

    def close(self) -> None:  # the owner closes the raw file (after fsync / upload)
        self.closed = True

    @property
    def sha256(self) -> str:
        return self._sha.hexdigest()


class Store:
    """A dataset root: relative paths in, atomic writes, listing, deletes."""

    def __init__(self, fs: fsspec.AbstractFileSystem, root: str, uri: str, local: bool):
        self.fs, self.root, self.uri, self.local = fs, root.rstrip("/"), uri, local

    @classmethod
    def open(cls, uri: str | os.PathLike[str], create: bool = True) -> Store:
        uri = os.fspath(uri)
        proto = _protocol(uri)
        local = proto in (None, "file", "local")
        path = uri.split("://", 1)[1] if proto in ("file", "local") else uri
        try:
            fs, root = url_to_fs(os.path.abspath(path) if local else uri)
        except (ImportError, ValueError) as err:
            raise StoreError(
                f"cannot use output {uri!r}: {err} (install the fsspec backend, e.g. s3fs)"
            ) from err
        if local:
            root = os.path.abspath(path)
            if create:
                os.makedirs(root, exist_ok=True)
        return cls(fs, root, uri if not local else root, local)

    # --- paths ----------------------------------------------------------------------------------
    def path(self, rel: str) -> str:
        return posixpath.join(self.root, rel) if not self.local else os.path.join(self.root, rel)

    def url(self, rel: str) -> str:
        """A URI a reader (pyarrow, PyAV, fsspec) can open."""
        return self.path(rel) if self.local else self.fs.unstrip_protocol(self.path(rel))

    def spec(self) -> dict[str, Any]:
        """Picklable description for workers (``Store.from_spec``)."""
        return {"uri": self.uri}

    @classmethod
    def from_spec(cls, spec: dict[str, Any]) -> Store:
        return cls.open(spec["uri"], create=False)

    # --- reads ----------------------------------------------------------------------------------
    def exists(self, rel: str) -> bool:
        return self.fs.exists(self.path(rel))

    def read_bytes(self, rel: str) -> bytes:
        with self.fs.open(self.path(rel), "rb") as f:
            return f.read()

    def read_json(self, rel: str) -> Any | None:
        try:
            return json.loads(self.read_bytes(rel))
        except FileNotFoundError:
            return None

    def open_read(self, rel: str) -> BinaryIO:
        return self.fs.open(self.path(rel), "rb")

    def list(self, prefix: str) -> list[str]:
        """Relative paths of files under ``prefix`` (recursive); [] when it does not exist."""
        base = self.path(prefix)
        try:
            found = self.fs.find(base)
        except FileNotFoundError:
            return []
        finally:
            # s3fs/gcsfs keep the listing and answer later lookups from it: a file another process
            # (a worker) writes there afterwards would read as missing. Listings here are one-shot.
            if not self.local:
                self.fs.invalidate_cache()
        root = self.root.rstrip("/") + "/"
        return sorted(p[len(root) :] if p.startswith(root) else p for p in found)

    def size(self, rel: str) -> int:
        return int(self.fs.size(self.path(rel)))

    # --- writes ---------------------------------------------------------------------------------
    @contextlib.contextmanager
    def open_atomic(self, rel: str) -> Iterator[HashingFile]:
        """Write ``rel`` atomically; the yielded file hashes what is written (``.sha256``)."""
        final = self.path(rel)
        if self.local:
            os.makedirs(os.path.dirname(final), exist_ok=True)
            tmp = os.path.join(os.path.dirname(final), f".{os.path.basename(final)}.tmp")
            try:
                with open(tmp, "wb") as raw:
                    wrapper = HashingFile(raw)
                    yield wrapper
                    raw.flush()
                    os.fsync(raw.fileno())
                os.replace(tmp, final)
                fsync_dir(os.path.dirname(final))
            except BaseException:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(tmp)
                raise
        else:
            # One object: visible only once the upload completes. A failed write is discarded (an
            # fsspec file's ``__exit__`` would upload what it has), so it leaves nothing (or an
            # aborted multipart upload), never a partial object, and an older object stays intact.
            raw = self.fs.open(final, "wb")
            try:
                wrapper = HashingFile(raw)
                yield wrapper
            except BaseException:
                _discard(raw)
                raise
            raw.close()

    def write_bytes(self, rel: str, data: bytes) -> WrittenFile:
        with self.open_atomic(rel) as f:
            f.write(data)
        return WrittenFile(rel, f.bytes, f.sha256)

    def write_json(self, rel: str, obj: Any, indent: int | None = 2) -> WrittenFile:
        text = json.dumps(obj, indent=indent, sort_keys=False, default=str) + "\n"
        return self.write_bytes(rel, text.encode())

    def delete(self, rel: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.fs.rm(self.path(rel))

    def delete_many(self, rels: list[str]) -> None:
        if not rels:
            return
        if self.local:
            for rel in rels:
                self.delete(rel)
        else:
            with contextlib.suppress(FileNotFoundError):
                self.fs.rm([self.path(r) for r in rels])

    def sha256(self, rel: str, chunk: int = 8 << 20) -> str:
        h = hashlib.sha256()
        with self.open_read(rel) as f:
            while block := f.read(chunk):
                h.update(block)
        return h.hexdigest()
