"""Where source videos come from: a directory, a glob, a .txt list or a Parquet manifest of URIs.

Any of these may be local or an fsspec URI (``s3://``, ``gs://``, ``memory://``, ``file://``). Local
files keep plain paths, so PyAV opens them directly; remote ones are opened as fsspec file objects.

    refs = list_sources("s3://bucket/videos/**/*.mp4", SourcesConfig(limit=100))
    with open_media(refs[0].uri) as f:
        container = av.open(f)

A source that a list or manifest names but that does not exist is still returned, with ``size=-1``,
so that the probe stage turns it into a reject row (``missing``) instead of the job failing.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, BinaryIO

import fsspec
from fsspec.core import url_to_fs

from humo_data.io.config import SourcesConfig

LIST_SUFFIXES = (".txt", ".lst", ".list")
MANIFEST_SUFFIXES = (".parquet", ".pq")
MISSING_SIZE = -1

FINGERPRINT_CHUNK = 1 << 20
FINGERPRINT_CHUNKS = 6


class SourcesError(ValueError):
    """The input cannot be turned into a list of sources; the message says what to do."""


@dataclass(frozen=True)
class SourceRef:
    uri: str
    size: int  # bytes; MISSING_SIZE when a list/manifest names a file that does not exist
    meta: tuple[tuple[str, str], ...] | None = None  # provenance from a Parquet manifest (key, value)

    def meta_dict(self) -> dict[str, str] | None:
        return dict(self.meta) if self.meta else None


# --- URIs ---------------------------------------------------------------------------------------


def _protocol(uri: str) -> str | None:
    head, sep, _ = uri.partition("://")
    return head.lower() if sep and head.isascii() and head.replace("+", "").isalnum() else None


def is_local(uri: str) -> bool:
    return _protocol(uri) in (None, "file", "local")


def local_path(uri: str) -> str:
    """Plain filesystem path of a local URI (``file:///a/b`` -> ``/a/b``)."""
    if _protocol(uri) in ("file", "local"):
        return uri.split("://", 1)[1]
    return uri


def _fs(uri: str) -> tuple[fsspec.AbstractFileSystem, str]:
    try:
        return url_to_fs(local_path(uri) if is_local(uri) else uri)
    except (ImportError, ValueError) as err:
        raise SourcesError(
            f"cannot open {uri!r}: {err} (install the fsspec backend for this protocol)"
        ) from err


def _to_uri(fs: fsspec.AbstractFileSystem, path: str, local: bool) -> str:
    return os.path.abspath(path) if local else fs.unstrip_protocol(path)


# --- listing ------------------------------------------------------------------------------------


def list_sources(input: str, cfg: SourcesConfig) -> list[SourceRef]:
    """All sources named by ``input``, sorted by URI, de-duplicated, ``cfg.limit`` applied."""
    input = str(input)
    local = is_local(input)
    fs, path = _fs(input)
    if any(ch in path for ch in "*?["):
        refs = _from_glob(fs, path, cfg, local)
        if not refs:
            raise SourcesError(
                f"no files match {input!r} with extensions {list(cfg.extensions)}; "
                "check the pattern or set sources.extensions"
            )
    elif not fs.exists(path):
        raise SourcesError(
            f"input not found: {input!r}; pass a directory, a glob, a .txt list or a .parquet manifest of videos"
        )
    elif fs.isdir(path):
        refs = _from_dir(fs, path, cfg, local)
        if not refs:
            depth = "recursively" if cfg.recursive else "at the top level (sources.recursive=false)"
            raise SourcesError(
                f"no videos with extensions {list(cfg.extensions)} found {depth} in {input!r}; "
                "check --input or set sources.extensions"
            )
    elif path.lower().endswith(LIST_SUFFIXES):
        refs = _from_list(fs, path, local, cfg.size_lookup_threads)
    elif path.lower().endswith(MANIFEST_SUFFIXES):
        refs = _from_manifest(fs, path, cfg, local)
    else:  # a single media file
        refs = [SourceRef(_to_uri(fs, path, local), int(fs.size(path)))]
    if not refs:
        raise SourcesError(f"{input!r} lists no sources; add one URI per line (or rows to the manifest)")
    unique = sorted({r.uri: r for r in refs}.values(), key=lambda r: r.uri)
    return unique[: cfg.limit] if cfg.limit else unique


def _wanted(path: str, cfg: SourcesConfig) -> bool:
    name = path.rsplit("/", 1)[-1]
    # "._x.mp4" AppleDouble files and other dot-files are metadata, not media.
    return not name.startswith(".") and name.lower().endswith(tuple(e.lower() for e in cfg.extensions))


def _files_with_sizes(
    fs: fsspec.AbstractFileSystem, entries: dict[str, dict], cfg: SourcesConfig, local: bool
) -> list[SourceRef]:
    refs = []
    for p, info in entries.items():
        if not _wanted(p, cfg):
            continue
        # a symlink to a file (data folders are often link farms) is followed; a dangling one skipped
        if info.get("type") != "file" and not (info.get("islink") and fs.isfile(p)):
            continue
        refs.append(SourceRef(_to_uri(fs, p, local), int(info.get("size") or 0)))
    return refs


def _from_glob(
    fs: fsspec.AbstractFileSystem, pattern: str, cfg: SourcesConfig, local: bool
) -> list[SourceRef]:
    return _files_with_sizes(fs, fs.glob(pattern, detail=True), cfg, local)


def _from_dir(fs: fsspec.AbstractFileSystem, root: str, cfg: SourcesConfig, local: bool) -> list[SourceRef]:
    entries = fs.find(root, maxdepth=None if cfg.recursive else 1, detail=True)
    return _files_with_sizes(fs, entries, cfg, local)


def _resolve_entry(entry: str, base_fs: fsspec.AbstractFileSystem, base_dir: str, base_local: bool) -> str:
    """A list entry as a URI: absolute/remote as written, relative ones against the list's folder."""
    if _protocol(entry) is not None and not is_local(entry):
        return entry
    if is_local(entry) and os.path.isabs(local_path(entry)):
        return local_path(entry)
    joined = f"{base_dir}/{local_path(entry)}" if base_dir else local_path(entry)
    return _to_uri(base_fs, joined, base_local)


def _size_of(uri: str) -> int:
    try:
        fs, path = _fs(uri)
        return int(fs.size(path))
    except (FileNotFoundError, OSError, SourcesError):
        return MISSING_SIZE


def _sized(uris: Iterable[str], threads: int = 32) -> list[SourceRef]:
    """Sizes looked up in parallel (object-store HEAD requests are latency-bound)."""
    uris = list(uris)
    if len(uris) <= 1 or threads <= 1:
        return [SourceRef(u, _size_of(u)) for u in uris]
    with ThreadPoolExecutor(max_workers=min(threads, len(uris))) as pool:
        sizes = list(pool.map(_size_of, uris))
    return [SourceRef(u, s) for u, s in zip(uris, sizes, strict=True)]


def _from_list(fs: fsspec.AbstractFileSystem, path: str, local: bool, threads: int = 32) -> list[SourceRef]:
    with fs.open(path, "rt", encoding="utf-8") as f:
        lines = [ln.strip() for ln in f]
    base = path.rsplit("/", 1)[0] if "/" in path else ""
    entries = [ln for ln in lines if ln and not ln.startswith("#")]
    return _sized((_resolve_entry(e, fs, base, local) for e in entries), threads)


def _from_manifest(
    fs: fsspec.AbstractFileSystem, path: str, cfg: SourcesConfig, local: bool
) -> list[SourceRef]:
    import pyarrow.parquet as pq

    with fs.open(path, "rb") as f:
        pf = pq.ParquetFile(f)
        names = pf.schema_arrow.names
        if cfg.manifest_column not in names:
            raise SourcesError(
                f"manifest {path!r} has no column {cfg.manifest_column!r} (columns: {names}); "
                "set sources.manifest_column"
            )
        wanted = _meta_columns(names, cfg)
        table = pf.read(columns=[cfg.manifest_column, *wanted])
    base = path.rsplit("/", 1)[0] if "/" in path else ""
    uris = table.column(cfg.manifest_column).to_pylist()
    keep = [i for i, u in enumerate(uris) if u]
    resolved = [_resolve_entry(str(uris[i]), fs, base, local) for i in keep]
    size_col = next((c for c in ("size", "bytes", "size_bytes") if c in wanted), None)
    if size_col is not None:  # sizes from the manifest: no look-up per URI
        sizes = table.column(size_col).to_pylist()
        refs = [
            SourceRef(u, int(sizes[i]) if sizes[i] is not None else MISSING_SIZE)
            for u, i in zip(resolved, keep, strict=True)
        ]
    else:
        refs = _sized(resolved, cfg.size_lookup_threads)
    if not wanted:
        return refs
    meta_rows = table.select(wanted).to_pylist()
    return [
        SourceRef(
            r.uri, r.size, tuple((k, _as_text(v)) for k, v in meta_rows[i].items() if v is not None) or None
        )
        for r, i in zip(refs, keep, strict=True)
    ]


def _meta_columns(names: list[str], cfg: SourcesConfig) -> list[str]:
    """Manifest columns carried into rows as provenance (``sources.metadata_columns``)."""
    if cfg.metadata_columns == "all":
        return [n for n in names if n != cfg.manifest_column]
    missing = [c for c in cfg.metadata_columns if c not in names]
    if missing:
        raise SourcesError(
            f"sources.metadata_columns names {missing}, absent from the manifest (columns: {names})"
        )
    return [c for c in cfg.metadata_columns if c != cfg.manifest_column]


def _as_text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, default=str)


# --- reading ------------------------------------------------------------------------------------


@contextmanager
def open_media(uri: str) -> Iterator[str | BinaryIO]:
    """A local path for local files (PyAV opens it directly), else an open fsspec file object."""
    if is_local(uri):
        yield local_path(uri)
        return
    fs, path = _fs(uri)
    with fs.open(path, "rb") as f:
        yield f


def source_size(uri: str) -> int:
    fs, path = _fs(uri)
    return int(fs.size(path))


def fingerprint(uri: str) -> str:
    """Stable source id: blake2b over the size and up to 6 sampled 1 MiB chunks, 24 hex chars.

    Sampling head, tail and evenly spaced chunks keeps the cost flat for multi-GB files while any
    re-encode or truncation changes the id; a renamed or copied file keeps it.
    """
    fs, path = _fs(uri)
    h = hashlib.blake2b(digest_size=12, person=b"humo-src-v1")
    with fs.open(path, "rb") as f:
        size = f.seek(0, os.SEEK_END)
        h.update(int(size).to_bytes(8, "little"))
        for offset in _chunk_offsets(size):
            f.seek(offset)
            h.update(f.read(FINGERPRINT_CHUNK))
    return h.hexdigest()


def _chunk_offsets(size: int) -> list[int]:
    if size <= FINGERPRINT_CHUNK * FINGERPRINT_CHUNKS:
        return list(range(0, size, FINGERPRINT_CHUNK))
    last = size - FINGERPRINT_CHUNK
    return [round(i * last / (FINGERPRINT_CHUNKS - 1)) for i in range(FINGERPRINT_CHUNKS)]
