"""Opening a dataset for reading or for a run: its store, its state, its leftovers.

ds = open_dataset("s3://bucket/out")          # read-only: inspect, report, validate, export
for entry in ds.shards("triplets"): ...
table = ds.read("triplets", columns=["clip_id", "caption"])
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from humo_data.io.manifest import DATA_TABLES, LEDGER_DIR, LOG_DIR, MANIFEST_NAME, DatasetState
from humo_data.io.store import Store
from humo_data.schema import upgrade_triplet_table

#: folders that hold committed data (everything else at the root is bookkeeping or the report)
DATA_DIRS = ("triplets", "rejects", "features", "tables")


class DatasetNotFound(FileNotFoundError):
    """The location holds no humo-data dataset; the message says what was expected."""


@dataclass
class Dataset:
    store: Store
    state: DatasetState

    @property
    def manifest(self) -> dict[str, Any]:
        return self.state.manifest

    def shards(self, table: str) -> list[dict[str, Any]]:
        return self.state.shards(table)

    def open_shard(self, entry: dict[str, Any]) -> pq.ParquetFile:
        return pq.ParquetFile(self.store.open_read(entry["path"]))

    def read(self, table: str, columns: list[str] | None = None) -> pa.Table:
        """Columns of every committed shard of ``table`` (current column names, v1 shards too)."""
        parts = []
        for entry in self.shards(table):
            pf = self.open_shard(entry)
            names = pf.schema_arrow.names
            want = None
            if columns is not None:
                from humo_data.schema import file_column_for

                want = [c for col in columns if (c := file_column_for(col, pf.schema_arrow)) in names]
            parts.append(upgrade_triplet_table(pf.read(columns=want)))
        if not parts:
            return pa.table({})
        return pa.concat_tables(parts, promote_options="permissive")

    def iter_batches(
        self, table: str, columns: list[str] | None = None, batch_size: int = 16
    ) -> Iterator[tuple[dict[str, Any], pa.RecordBatch]]:
        """(shard entry, record batch) over every shard, a few rows at a time (media-safe)."""
        for entry in self.shards(table):
            pf = self.open_shard(entry)
            names = [c for c in columns if c in pf.schema_arrow.names] if columns else None
            for batch in pf.iter_batches(columns=names, batch_size=batch_size):
                yield entry, batch


def open_dataset(uri: str, *, run_id: str | None = None) -> Dataset:
    """The dataset at ``uri`` (manifest + ledger + log replayed); raises DatasetNotFound."""
    store = Store.open(uri, create=False)
    if not store.exists(MANIFEST_NAME):
        raise DatasetNotFound(
            f"{uri}: no {MANIFEST_NAME}; expected the output of `humo-data curate` "
            "(or its first run has not committed yet)"
        )
    return Dataset(store, DatasetState(store, run_id=run_id))


def leftover_files(ds: Dataset) -> list[str]:
    """Files under the data folders that no committed record lists: a killed run's shards, temp
    files, a retried task's first attempt. Only safe to delete while holding the lease."""
    listed = ds.state.listed_paths()
    out = []
    for folder in DATA_DIRS:
        for rel in ds.store.list(folder):
            name = rel.rsplit("/", 1)[-1]
            if name.endswith(".tmp") or rel not in listed:
                out.append(rel)
    return out


__all__ = [
    "DATA_TABLES",
    "LEDGER_DIR",
    "LOG_DIR",
    "Dataset",
    "DatasetNotFound",
    "leftover_files",
    "open_dataset",
]
