"""Rewriting committed triplet shards together with the feature shards that share their key.

A triplet shard ``triplets/part-<key>...`` has companions under the same key in every
``features/<name>/`` table (faces, signatures): the identity pass finds a triplet shard's face data
by key. So an operation that moves rows between shards (split) or removes rows (takedown) writes
the companions in the same commit. Records only; the caller commits and deletes the old files.
"""

from __future__ import annotations

import re
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from humo_data.io.dataset import Dataset
from humo_data.io.shard_sink import write_table
from humo_data.io.store import Store
from humo_data.schema import triplet_schema, upgrade_triplet_table

GEN = re.compile(r"-g(\d+)\.parquet$")


def feature_tables(ds: Dataset) -> list[str]:
    """Manifest tables keyed like the triplet shards (features/<name>)."""
    return sorted(t for t in ds.manifest["tables"] if t.startswith("features/"))


def companions(ds: Dataset, key: str) -> dict[str, dict[str, Any]]:
    """features/<name> table -> its shard entry for triplet shard ``key`` (when there is one)."""
    out = {}
    for table in feature_tables(ds):
        entry = ds.state.shard(table, key)
        if entry is not None:
            out[table] = entry
    return out


def next_gen(path: str) -> int:
    m = GEN.search(path)
    return int(m.group(1)) + 1 if m else 1


def read_triplets(store: Store, entry: dict[str, Any]) -> pa.Table:
    return upgrade_triplet_table(pq.read_table(store.open_read(entry["path"])))


def conform_triplets(table: pa.Table) -> pa.Table:
    """``table`` in the triplet contract's columns, order and types (absent columns null)."""
    schema = triplet_schema()
    cols = [
        table.column(f.name).cast(f.type)
        if f.name in table.column_names
        else pa.nulls(table.num_rows, f.type)
        for f in schema
    ]
    return pa.Table.from_arrays(cols, schema=schema)


def seconds_of(table: pa.Table) -> float:
    if table.num_rows == 0:
        return 0.0
    return float(pc.sum(pc.subtract(table.column("end_time"), table.column("start_time"))).as_py() or 0.0)


def write_triplet_shard(
    store: Store, key: str, rel: str, table: pa.Table, stages: dict[str, Any] | None, *, row_group_rows: int,
    compression: str,
) -> dict[str, Any]:  # fmt: skip
    """Write a triplet shard and return its commit record (counts, per-shard subset stats)."""
    from humo_data.jobs.finish import shard_stats

    out = conform_triplets(table)
    info = write_table(store, rel, out, row_group_rows=row_group_rows, compression=compression)
    seconds = seconds_of(out)
    record = {"t": "shard", "table": "triplets", "key": key, **info,
              "counts": {"triplets": out.num_rows, "video_seconds": seconds}, "stats": shard_stats(out),
              "seconds": seconds}  # fmt: skip
    if stages:
        record["stages"] = stages
    return record


def drop_triplets(entry: dict[str, Any]) -> dict[str, Any]:
    """The record that retires a triplet shard (its rows and seconds leave the counts)."""
    seconds = float(entry.get("seconds") or 0.0)
    return {"t": "drop", "table": "triplets", "key": entry["key"],
            "counts": {"triplets": -int(entry["rows"]), "video_seconds": -seconds}}  # fmt: skip


def entry_seconds(store: Store, entry: dict[str, Any]) -> float:
    """A triplet shard's seconds (recorded since the finish phase; read for older shards)."""
    if entry.get("seconds") is not None:
        return float(entry["seconds"])
    t = pq.read_table(store.open_read(entry["path"]), columns=["start_time", "end_time"])
    return seconds_of(t)


def filter_feature_shard(
    store: Store, table: str, entry: dict[str, Any], keep_ids: set[str] | None = None,
    drop_ids: set[str] | None = None,
) -> pa.Table:  # fmt: skip
    """Rows of a feature shard whose clip_id is in ``keep_ids`` (and not in ``drop_ids``)."""
    t = pq.read_table(store.open_read(entry["path"]))
    ids = t.column("clip_id").to_pylist()
    mask = [(keep_ids is None or c in keep_ids) and (drop_ids is None or c not in drop_ids) for c in ids]
    return t.filter(pa.array(mask, pa.bool_()))


def write_feature_shard(store: Store, table: str, key: str, rel: str, data: pa.Table,
                        extra: dict[str, Any] | None = None) -> dict[str, Any]:  # fmt: skip
    info = write_table(store, rel, data, row_group_rows=64, compression="zstd")
    return {"t": "shard", "table": table, "key": key, **info, **(extra or {})}


def common_stages(entries: list[dict[str, Any]]) -> dict[str, Any]:
    """Stage hashes every one of ``entries`` reflects: a stage on which they disagree is left out,
    so a later curate run reruns it over the merged shard (the safe side)."""
    if not entries:
        return {}
    first = dict(entries[0].get("stages") or {})
    return {k: v for k, v in first.items() if all((e.get("stages") or {}).get(k) == v for e in entries[1:])}
