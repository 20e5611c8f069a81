"""Rows -> committed shards from a single process (importers, dataset-level passes).

The streaming job writes on workers (``shard_sink.py``); tools that produce rows in one process
(``humo-data import humoset``, takedowns) use this: rows buffer into shards of
``rows_per_shard``, each written atomically and committed through ``DatasetState``.

    writer = TableWriter(state, "triplets", triplet_schema(), run_id, rows_per_shard=64)
    writer.add(row, counts={"triplets": 1, "video_seconds": 4.0}, source="a.mp4")
    writer.close()
"""

from __future__ import annotations

import uuid
from typing import Any

import pyarrow as pa

from humo_data.io.manifest import DatasetState, add_counts
from humo_data.io.shards import shard_name, write_table


class TableWriter:
    def __init__(
        self, state: DatasetState, table: str, schema: pa.Schema, run_id: str, *, rows_per_shard: int = 128,
        row_group_rows: int = 16, compression: str = "zstd",
    ):  # fmt: skip
        self.state, self.table, self.schema, self.run_id = state, table, schema, run_id
        self.rows_per_shard, self.row_group_rows, self.compression = (
            rows_per_shard,
            row_group_rows,
            compression,
        )
        self._rows: list[dict[str, Any]] = []
        self._counts: dict[str, Any] = {}
        self._sources: set[str] = set()
        self.paths: list[str] = []

    def add(
        self, row: dict[str, Any], counts: dict[str, Any] | None = None, source: str | None = None
    ) -> None:
        self._rows.append(row)
        add_counts(self._counts, counts or {})
        if source:
            self._sources.add(source)
        if len(self._rows) >= self.rows_per_shard:
            self.flush()

    def flush(self) -> None:
        if not self._rows:
            return
        key = f"{self.run_id}-{uuid.uuid4().hex[:12]}"
        rel = shard_name(self.table, key)
        data = pa.Table.from_pylist(self._rows, schema=self.schema)
        info = write_table(
            self.state.store, rel, data, row_group_rows=self.row_group_rows, compression=self.compression
        )
        record = {"t": "shard", "table": self.table, "key": key, **info, "counts": self._counts,
                  "sources": sorted(self._sources)}  # fmt: skip
        if "video_seconds" in self._counts:
            record["seconds"] = self._counts["video_seconds"]
        self.state.record([record])
        self.state.flush()
        self.paths.append(rel)
        self._rows, self._counts, self._sources = [], {}, set()

    def close(self) -> None:
        self.flush()
