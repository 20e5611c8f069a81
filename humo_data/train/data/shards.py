"""Find triplet shards (local or any fsspec/pyarrow filesystem) and read them row group by row group.

A source is a dataset directory (its ``_manifest.json`` shard list wins: the manifest is the
commit point, so half-written shards are never read), a ``triplets/`` directory, one shard, or a
glob. Shards are opened lazily and read one row group at a time with only the needed columns,
so a worker holds at most one row group of media in memory.
"""

from __future__ import annotations

from dataclasses import dataclass

import fsspec
import pyarrow as pa
import pyarrow.parquet as pq

from humo_data.schema import file_column_for, upgrade_triplet_table


class ShardColumnError(ValueError):
    """A shard lacks a column the trainer needs; the message names the shard and the column."""


@dataclass(frozen=True)
class ShardInfo:
    uri: str
    num_rows: int
    row_group_rows: tuple[int, ...]


def _fs(uri: str) -> tuple[fsspec.AbstractFileSystem, str]:
    fs, path = fsspec.core.url_to_fs(uri)
    return fs, path


def _unstrip(fs: fsspec.AbstractFileSystem, path: str, like: str) -> str:
    """Give a listed path back its protocol so it can be reopened from anywhere."""
    if "://" in like and "://" not in path:
        proto = like.split("://", 1)[0]
        return f"{proto}://{path}"
    return path


def list_shards(source: str) -> list[str]:
    """Sorted shard URIs of one source."""
    fs, path = _fs(source)
    if any(ch in path for ch in "*?["):
        found = sorted(fs.glob(path))
    elif fs.isdir(path):
        manifest = f"{path.rstrip('/')}/_manifest.json"
        if fs.exists(manifest):  # a humo-data dataset: its committed shards only (log replayed)
            from humo_data.io.dataset import open_dataset

            shards = open_dataset(source).shards("triplets")
            found = [f"{path.rstrip('/')}/{s['path']}" for s in shards]
        elif fs.isdir(f"{path.rstrip('/')}/triplets"):
            found = sorted(fs.glob(f"{path.rstrip('/')}/triplets/*.parquet"))
        else:
            found = sorted(fs.glob(f"{path.rstrip('/')}/*.parquet"))
    elif fs.exists(path):
        found = [path]
    else:
        raise FileNotFoundError(f"training source not found: {source}")
    return [_unstrip(fs, p, source) for p in found]


def open_shard(uri: str) -> pq.ParquetFile:
    fs, path = _fs(uri)
    return pq.ParquetFile(fs.open(path, "rb"))


def shard_info(uri: str, required: tuple[str, ...]) -> ShardInfo:
    """Row-group layout of a shard, after checking it carries every required column."""
    pf = open_shard(uri)
    check_columns(pf.schema_arrow, uri, required)
    md = pf.metadata
    return ShardInfo(uri, md.num_rows, tuple(md.row_group(i).num_rows for i in range(md.num_row_groups)))


def check_columns(schema: pa.Schema, uri: str, required: tuple[str, ...]) -> None:
    missing = [c for c in required if file_column_for(c, schema) is None]
    if missing:
        raise ShardColumnError(
            f"shard {uri} lacks column(s) {missing} needed by the trainer (has {schema.names})"
        )


def read_row_group(uri: str, row_group: int, columns: list[str]) -> pa.Table:
    """Current-version columns of one row group; a v1 shard's renamed columns come back renamed."""
    pf = open_shard(uri)
    present = [f for c in columns if (f := file_column_for(c, pf.schema_arrow)) is not None]
    return upgrade_triplet_table(pf.read_row_group(row_group, columns=present))
