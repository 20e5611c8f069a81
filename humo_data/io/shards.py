"""Shards of a dataset, one module: reading (with upgrades), conforming, writing with counts and
stats, reject rows, drop records, generations, side tables and their merge, feature companions.

Used by the streaming writer (``shard_sink.py``), the finish phase, the dataset operations and
takedowns, so every path writes the same records:

    t = read_triplets(store, entry)                              # any version, current names
    rec = triplet_record(store, key, gen_path("triplets", key, 2), t, stages, row_group_rows=16)
    recs = rejects_records(store, key, reject_rows(rows), compression="zstd")
    drop = drop_record(entry)                                    # retire the old file

Naming: a shard is ``<table>/part-<key>.parquet``; a rewrite keeps its key with a generation
suffix (``part-<key>-g<n>.parquet``), so a key's companions in ``features/<name>/`` stay findable.
Every function returns commit records; the caller commits them (``DatasetState.record``) and
then deletes replaced files.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from humo_data.columns import scatter
from humo_data.ids import reject_id_for
from humo_data.io.dataset import Dataset
from humo_data.io.store import Store
from humo_data.schema import (
    FEATURE_KEYS,
    feature_spec,
    feature_work_column,
    rejects_schema,
    triplet_schema,
    upgrade_triplet_table,
)

MEDIA_COLUMNS = ("video", "audio", "reference_images")  # already-compressed bytes: no codec on top
GEN = re.compile(r"-g(\d+)\.parquet$")
SIDE_PREFIX = "tables/"


# --- names and generations -------------------------------------------------------------------------


def shard_name(table: str, key: str) -> str:
    return f"{table}/part-{key}.parquet"


def gen_path(table: str, key: str, gen: int) -> str:
    """The file of generation ``gen`` of shard ``key`` (a rewrite keeps the key)."""
    return f"{table}/part-{key}-g{gen}.parquet"


def next_gen(path: str) -> int:
    m = GEN.search(path)
    return int(m.group(1)) + 1 if m else 1


# --- reading and conforming --------------------------------------------------------------------------


def read_triplets(store: Store, entry: dict[str, Any], columns: list[str] | None = None) -> pa.Table:
    """A triplet shard of any version, with current column names."""
    return upgrade_triplet_table(pq.read_table(store.open_read(entry["path"]), columns=columns))


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


def entry_seconds(store: Store, entry: dict[str, Any]) -> float:
    """A triplet shard's seconds (recorded since the finish phase; read for older shards)."""
    if entry.get("seconds") is not None:
        return float(entry["seconds"])
    t = pq.read_table(store.open_read(entry["path"]), columns=["start_time", "end_time"])
    return seconds_of(t)


# --- writing ---------------------------------------------------------------------------------------


def write_table(
    store: Store, rel: str, table: pa.Table, *, row_group_rows: int, compression: str
) -> dict[str, Any]:
    """Write ``table`` as one Parquet file at ``rel`` atomically; return its shard info."""
    codec = None if compression == "none" else compression
    per_column = {n: ("none" if n in MEDIA_COLUMNS or codec is None else codec) for n in table.schema.names}
    with store.open_atomic(rel) as f:
        pq.write_table(
            table, f, row_group_size=max(1, row_group_rows), compression=per_column, write_statistics=True
        )
    return {"path": rel, "rows": table.num_rows, "bytes": f.bytes, "sha256": f.sha256}


def shard_stats(table: pa.Table) -> dict[str, Any]:
    """Per-shard subset numbers (summed into manifest counts.subsets)."""
    stats: dict[str, Any] = {
        "stage1": int(pc.sum(table.column("stage1")).as_py() or 0),
        "stage2": int(pc.sum(table.column("stage2")).as_py() or 0),
        "stage1_reason": dict(Counter(r for r in table.column("stage1_reason").to_pylist() if r)),
        "stage2_reason": dict(Counter(r for r in table.column("stage2_reason").to_pylist() if r)),
    }
    if "reference_kind" in table.column_names:
        stats["reference_kind"] = dict(
            Counter(k or "none" for k in table.column("reference_kind").to_pylist())
        )
    if "language" in table.column_names:
        langs = [
            lang
            for lang, s2 in zip(
                table.column("language").to_pylist(), table.column("stage2").to_pylist(), strict=True
            )
            if s2
        ]
        if langs:
            stats["stage2_by_language"] = dict(Counter(lang or "unknown" for lang in langs))
    return stats


def triplet_record(
    store: Store, key: str, rel: str, table: pa.Table, stages: dict[str, Any] | None, *, row_group_rows: int,
    compression: str,
) -> dict[str, Any]:  # fmt: skip
    """Write a triplet shard (conformed to the contract) and return its commit record: counts and
    per-shard subset stats (summed into the manifest's counts.subsets)."""
    out = conform_triplets(table)
    info = write_table(store, rel, out, row_group_rows=row_group_rows, compression=compression)
    seconds = seconds_of(out)
    record = {"t": "shard", "table": "triplets", "key": key, **info,
              "counts": {"triplets": out.num_rows, "video_seconds": seconds}, "stats": shard_stats(out),
              "seconds": seconds}  # fmt: skip
    if stages:
        record["stages"] = stages
    return record


def drop_record(
    entry: dict[str, Any], table: str = "triplets", seconds: float | None = None
) -> dict[str, Any]:
    """The record that retires a shard (a triplet shard's rows and seconds leave the counts)."""
    record: dict[str, Any] = {"t": "drop", "table": table, "key": entry["key"]}
    if table == "triplets":
        secs = float(entry.get("seconds") or 0.0) if seconds is None else seconds
        record["counts"] = {"triplets": -int(entry["rows"]), "video_seconds": -secs}
    return record


# --- rejects ---------------------------------------------------------------------------------------


def reject_rows(rows: Iterable[dict[str, Any]], *, default_stage: str = "unknown") -> pa.Table:
    """Working rows (``_reject_stage``/``_reason``/``_detail`` set) as rows of the rejects table.
    The reject id is stable (``ids.reject_id_for``), so a rerun writes the same ids."""
    out = []
    for r in rows:
        work = {**r, "_reject_stage": r.get("_reject_stage") or default_stage}
        out.append({
            "reject_id": reject_id_for(work), "source_id": r.get("source_id"), "source_uri": r.get("source_uri"),
            "clip_id": r.get("clip_id"), "stage": work["_reject_stage"], "reason": r.get("_reject_reason"),
            "detail": r.get("_reject_detail"), "start_time": r.get("start_time"), "end_time": r.get("end_time"),
            "source_meta": r.get("source_meta"),
        })  # fmt: skip
    return pa.Table.from_pylist(out, schema=rejects_schema())


def reason_counts(rows: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """Count deltas of reject rows (``stage``/``reason`` keys) for the manifest."""
    by_stage: Counter[str] = Counter()
    by_reason: Counter[str] = Counter()
    n = 0
    for r in rows:
        n += 1
        by_stage[r["stage"]] += 1
        by_reason[f"{r['stage']}/{r['reason']}"] += 1
    return {"rejects": n, "rejects_by_stage": dict(by_stage), "rejects_by_reason": dict(by_reason)}


def rejects_record(store: Store, key: str, table: pa.Table, *, compression: str = "zstd") -> dict[str, Any]:
    """Write a rejects shard and return its commit record with the reject counts."""
    info = write_table(store, shard_name("rejects", key), table, row_group_rows=4096, compression=compression)
    counts = reason_counts(table.select(["stage", "reason"]).to_pylist())
    return {"t": "shard", "table": "rejects", "key": key, **info, "counts": counts}


# --- side tables -----------------------------------------------------------------------------------


def side_table_name(stage: str) -> str:
    return f"{SIDE_PREFIX}{stage}"


def side_path(stage: str, key: str) -> str:
    return f"{SIDE_PREFIX}{stage}/part-{key}.parquet"


def write_side_table(store: Store, stage: str, key: str, table: pa.Table, stage_hash: str) -> dict[str, Any]:
    """Write one side table (rows for triplet shard ``key``) and return its commit record."""
    info = write_table(store, side_path(stage, key), table, row_group_rows=256, compression="zstd")
    return {"t": "shard", "table": side_table_name(stage), "key": key, "hash": stage_hash, **info}


def merge_side(base: pa.Table, side: pa.Table) -> pa.Table:
    """``base`` with ``side``'s columns written into the rows whose clip_id it lists."""
    ids = base.column("clip_id").to_pylist()
    where = {cid: i for i, cid in enumerate(side.column("clip_id").to_pylist())}
    take = [where.get(cid, -1) for cid in ids]
    mask = np.array([t >= 0 for t in take], bool)
    if not mask.any():
        return base
    index = pa.array([t for t in take if t >= 0], pa.int64())
    for name in side.column_names:
        if name == "clip_id":
            continue
        new = side.column(name).take(index)
        if name in base.column_names:
            base = base.set_column(
                base.schema.get_field_index(name), name, scatter(base.column(name), mask, new)
            )
        else:
            base = base.append_column(name, scatter(pa.nulls(len(ids), new.type), mask, new))
    return base


def split_rejected(table: pa.Table) -> tuple[pa.Table, pa.Table]:
    """(live rows, rows a later stage rejected) of a merged triplet table."""
    if "_reject_reason" not in table.column_names:
        return table, table.slice(0, 0)
    rejected = np.asarray(table.column("_reject_reason").is_valid().to_numpy(zero_copy_only=False), bool)
    return table.filter(pa.array(~rejected)), table.filter(pa.array(rejected))


# --- feature companions (features/<name>/ shards keyed like the triplet shards) ----------------------


def feature_table(rows: pa.Table, name: str) -> pa.Table | None:
    """The ``features/<name>`` rows of working ``rows`` (those whose ``_features_<name>`` is set)."""
    column = feature_work_column(name)
    if column not in rows.column_names:
        return None
    present = rows.column(column).is_valid()
    if not pc.any(present).as_py():
        return None
    rows = rows.filter(present)
    spec = feature_spec(name).schema
    struct = rows.column(column).combine_chunks()
    arrays = []
    for f in spec:
        if f.name in FEATURE_KEYS:
            arrays.append(rows.column(f.name).cast(f.type))
        else:
            arrays.append(pc.struct_field(struct, f.name).cast(f.type))
    return pa.Table.from_arrays(arrays, schema=spec)


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
