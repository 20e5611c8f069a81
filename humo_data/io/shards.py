"""Parquet shard writer: rows stream into row groups of a hidden temp file, renamed when full.

part-00000.parquet   committed: listed in _manifest.json with rows, bytes and sha256
.part-00001.parquet.tmp   being written; invisible to readers; deleted on resume
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from humo_data.io.atomic import commit_file, sha256_file, temp_path_for

MEDIA_COLUMNS = ("video", "audio", "reference_images")  # already-compressed bytes: no codec on top


@dataclass(frozen=True)
class ShardInfo:
    path: str  # relative to the dataset root, e.g. triplets/part-00000.parquet
    rows: int
    bytes: int
    sha256: str

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def shard_name(index: int) -> str:
    return f"part-{index:05d}.parquet"


class ShardWriter:
    """Writes ``schema`` rows into ``root/subdir/part-NNNNN.parquet`` shards of ``rows_per_shard``."""

    def __init__(
        self,
        root: Path,
        subdir: str,
        schema: pa.Schema,
        *,
        rows_per_shard: int,
        row_group_rows: int,
        compression: str,
        next_index: int,
        on_commit: Callable[[ShardInfo, list[dict[str, Any]]], None],
    ):
        self.root, self.subdir, self.schema = root, subdir, schema
        self.rows_per_shard, self.row_group_rows = rows_per_shard, row_group_rows
        codec = None if compression == "none" else compression
        self.compression = {
            name: ("none" if name in MEDIA_COLUMNS or codec is None else codec) for name in schema.names
        }
        self.next_index = next_index
        self.on_commit = on_commit
        (root / subdir).mkdir(parents=True, exist_ok=True)
        self._writer: pq.ParquetWriter | None = None
        self._tmp: Path | None = None
        self._group: list[dict[str, Any]] = []
        self._rows_in_shard = 0
        self._keys: list[dict[str, Any]] = []  # light per-row keys handed to on_commit

    def add(self, row: dict[str, Any], key: dict[str, Any]) -> None:
        self._group.append(row)
        self._keys.append(key)
        if len(self._group) >= self.row_group_rows:
            self._write_group()
        if self._rows_in_shard + len(self._group) >= self.rows_per_shard:
            self.flush()

    @property
    def pending_rows(self) -> int:
        return self._rows_in_shard + len(self._group)

    def _write_group(self) -> None:
        if not self._group:
            return
        if self._writer is None:
            final = self.root / self.subdir / shard_name(self.next_index)
            self._tmp = temp_path_for(final)
            self._writer = pq.ParquetWriter(
                self._tmp, self.schema, compression=self.compression, write_statistics=True
            )
        table = pa.Table.from_pylist(self._group, schema=self.schema)
        self._writer.write_table(table, row_group_size=len(self._group))
        self._rows_in_shard += len(self._group)
        self._group = []

    def flush(self) -> None:
        """Close and commit the open shard (no-op when empty)."""
        self._write_group()
        if self._writer is None:
            return
        self._writer.close()
        final = self.root / self.subdir / shard_name(self.next_index)
        commit_file(self._tmp, final)
        info = ShardInfo(
            path=f"{self.subdir}/{final.name}",
            rows=self._rows_in_shard,
            bytes=final.stat().st_size,
            sha256=sha256_file(final),
        )
        keys, self._keys = self._keys, []
        self._writer, self._tmp, self._rows_in_shard = None, None, 0
        self.next_index += 1
        self.on_commit(info, keys)
