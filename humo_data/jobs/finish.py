"""Phase 4, finish: merge side tables into the triplet shards, set the subset flags, count.

Later phases (identity, captions, a rerun of one stage) never rewrite shards themselves: each
writes a side table per triplet shard, ``tables/<stage>/part-<key>.parquet`` (clip_id + its
columns, optionally ``_reject_reason``/``_reject_detail``). Finish rewrites each touched shard
once, on the workers: columns replaced, rows a later stage rejected moved to ``rejects/``, then
``stage1``/``stage2`` and their reasons computed for every row. The shard keeps its key (a new
file name: ``part-<key>-g<n>.parquet``); the old file and the merged side tables are dropped in
the same commit.

Flags (a subset gate keeps the row; only a reject removes it). They are derived here, from the
gate columns, every time finish runs, and never read back, so reruns and changed settings cannot
leave stale flags:
- stage1: a caption, and a reference of at least ``identity.min_reference_kind``;
- stage2: stage1, the clip has audio, the audio stage ran and its gates passed (``audio_gate``
  null, ``speech_backend`` set), and the sync stage ran and passed (``sync_gate`` null,
  ``sync_backend`` set). ``stage2_reason`` names the first gate that failed (an audio or sync gate
  is named even when stage 1 failed too, so the funnel counts every gate), then ``not_stage1``,
  then ``audio_not_checked`` / ``sync_not_checked`` for a stage that did not run.
"""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from humo_data.config import CurateConfig
from humo_data.ids import reject_id_for
from humo_data.io.dataset import Dataset
from humo_data.io.shard_sink import feature_table, write_table
from humo_data.io.store import Store
from humo_data.schema import FEATURE_TABLES, rejects_schema, triplet_schema

#: how well a reference kind separates identity from context (the stage-1 gate's order)
KIND_RANK = {"cross_source": 3, "cross_shot": 3, "same_shot": 2, "same_clip": 1}
SIDE_PREFIX = "tables/"
#: bumped when the flag rule changes, so the next finish re-derives every shard's flags
FLAGS_VERSION = "gates-v1"


def side_table_name(stage: str) -> str:
    return f"{SIDE_PREFIX}{stage}"


def side_path(stage: str, key: str) -> str:
    return f"{SIDE_PREFIX}{stage}/part-{key}.parquet"


def write_side_table(store: Store, stage: str, key: str, table: pa.Table, stage_hash: str) -> dict[str, Any]:
    """Write one side table (rows for triplet shard ``key``) and return its commit record."""
    info = write_table(store, side_path(stage, key), table, row_group_rows=256, compression="zstd")
    return {"t": "shard", "table": side_table_name(stage), "key": key, "hash": stage_hash, **info}


# --- flags --------------------------------------------------------------------------------------


def compute_flags(table: pa.Table, min_kind: str) -> dict[str, list]:
    """stage1/stage2 and their first failed reason for every row of a (merged) triplet table,
    derived from the gate columns only (see the module docstring)."""
    n = table.num_rows

    def values(name: str) -> list:
        return table.column(name).to_pylist() if name in table.column_names else [None] * n

    captions, refs, kinds = values("caption"), values("reference_images"), values("reference_kind")
    has_audio = values("has_audio")
    audio_gate, audio_ran = values("audio_gate"), values("speech_backend")
    sync_gate, sync_ran = values("sync_gate"), values("sync_backend")
    need = KIND_RANK[min_kind]
    s1, r1, s2, r2 = [], [], [], []
    for i in range(n):
        kind = kinds[i] or _best_kind(refs[i])
        if not (captions[i] or "").strip():
            reason1 = "no_caption"
        elif not refs[i]:
            reason1 = "no_reference"
        elif KIND_RANK.get(kind or "", 0) < need:
            reason1 = "reference_kind_below_minimum"
        else:
            reason1 = None
        if not has_audio[i]:
            reason2 = "no_audio"
        elif audio_gate[i]:
            reason2 = audio_gate[i]
        elif sync_gate[i]:
            reason2 = sync_gate[i]
        elif reason1 is not None:
            reason2 = "not_stage1"
        elif not audio_ran[i]:
            reason2 = "audio_not_checked"
        elif not sync_ran[i]:
            reason2 = "sync_not_checked"
        else:
            reason2 = None
        s1.append(reason1 is None)
        r1.append(reason1)
        s2.append(reason2 is None)
        r2.append(reason2)
    return {"stage1": s1, "stage1_reason": r1, "stage2": s2, "stage2_reason": r2}


def _best_kind(refs: list[dict] | None) -> str | None:
    kinds = [r.get("kind") for r in refs or [] if r.get("kind")]
    return max(kinds, key=lambda k: KIND_RANK.get(k, 0), default=None)


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


# --- merging ------------------------------------------------------------------------------------


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
        new = side.column(name).take(index).combine_chunks()
        if name in base.column_names:
            old = base.column(name).combine_chunks()
            if new.type != old.type:
                new = new.cast(old.type)
            order = np.arange(len(old), dtype=np.int64)
            order[mask] = len(old) + np.arange(int(mask.sum()), dtype=np.int64)
            merged = pa.concat_arrays([old, new]).take(pa.array(order))
            base = base.set_column(base.schema.get_field_index(name), name, merged)
        else:
            full = pa.nulls(len(ids), new.type)
            order = np.arange(len(ids), dtype=np.int64)
            order[mask] = len(ids) + np.arange(int(mask.sum()), dtype=np.int64)
            base = base.append_column(name, pa.concat_arrays([full, new]).take(pa.array(order)))
    return base


def finish_shard(task: dict[str, Any]) -> dict[str, Any]:
    """Rewrite one triplet shard (runs on a worker). Returns {"records": json} for the driver."""
    store = Store.from_spec(task["store"])
    entry = task["entry"]
    base = pq.read_table(store.open_read(entry["path"]))
    from humo_data.schema import upgrade_triplet_table

    base = upgrade_triplet_table(base)
    for side in task["sides"]:
        base = merge_side(base, pq.read_table(store.open_read(side["path"])))
    records: list[dict[str, Any]] = []
    reasons = (
        base.column("_reject_reason").to_pylist()
        if "_reject_reason" in base.column_names
        else [None] * base.num_rows
    )
    rejected = np.array([r is not None for r in reasons], bool)
    if rejected.any():
        records += _move_to_rejects(store, base.filter(pa.array(rejected)), entry["key"], task["gen"])
        base = base.filter(pa.array(~rejected))
    for name in FEATURE_TABLES:  # a rerun of the stage that makes a feature table replaces it
        features = feature_table(base, name)
        if features is not None:
            rel = f"features/{name}/part-{entry['key']}-g{task['gen']}.parquet"
            info = write_table(store, rel, features, row_group_rows=64, compression=task["compression"])
            records.append({"t": "shard", "table": f"features/{name}", "key": entry["key"], **info})
    flags = compute_flags(base, task["min_kind"])
    for name, vals in flags.items():
        base = base.set_column(
            base.schema.get_field_index(name), name, pa.array(vals, triplet_schema().field(name).type)
        )
    schema = triplet_schema()
    out = pa.Table.from_arrays([base.column(f.name).cast(f.type) if f.name in base.column_names else pa.nulls(base.num_rows, f.type)
                                for f in schema], schema=schema)  # fmt: skip
    seconds = float(pc.sum(pc.subtract(out.column("end_time"), out.column("start_time"))).as_py() or 0.0)
    old_seconds = float(task["old_seconds"])
    records.append({"t": "drop", "table": "triplets", "key": entry["key"],
                    "counts": {"triplets": -entry["rows"], "video_seconds": -old_seconds}})  # fmt: skip
    if out.num_rows:
        rel = f"triplets/part-{entry['key']}-g{task['gen']}.parquet"
        info = write_table(
            store, rel, out, row_group_rows=task["row_group_rows"], compression=task["compression"]
        )
        records.append({"t": "shard", "table": "triplets", "key": entry["key"], **info,
                        "counts": {"triplets": out.num_rows, "video_seconds": seconds},
                        "stats": shard_stats(out), "stages": task["stages"], "seconds": seconds})  # fmt: skip
    for side in task["sides"]:
        records.append({"t": "drop", "table": side["table"], "key": side["key"]})
    return {"records": json.dumps(records), "old_path": entry["path"],
            "side_paths": json.dumps([s["path"] for s in task["sides"]])}  # fmt: skip


def _move_to_rejects(store: Store, rows: pa.Table, key: str, gen: int) -> list[dict[str, Any]]:
    light = rows.select([c for c in ("source_uri", "source_id", "clip_id", "start_time", "end_time", "_reject_stage",
                                     "_reject_reason", "_reject_detail", "source_meta") if c in rows.column_names]).to_pylist()  # fmt: skip
    out = []
    for r in light:
        r.setdefault("_reject_stage", None)
        out.append({"reject_id": reject_id_for(r), "source_id": r["source_id"], "source_uri": r["source_uri"],
                    "clip_id": r["clip_id"], "stage": r.get("_reject_stage") or "finish", "reason": r["_reject_reason"],
                    "detail": r.get("_reject_detail"), "start_time": r["start_time"], "end_time": r["end_time"],
                    "source_meta": r.get("source_meta")})  # fmt: skip
    table = pa.Table.from_pylist(out, schema=rejects_schema())
    rel = f"rejects/part-{key}-g{gen}.parquet"
    info = write_table(store, rel, table, row_group_rows=4096, compression="zstd")
    by_stage = Counter(o["stage"] for o in out)
    by_reason = Counter(f"{o['stage']}/{o['reason']}" for o in out)
    return [{"t": "shard", "table": "rejects", "key": f"{key}-g{gen}", **info,
             "counts": {"rejects": len(out), "rejects_by_stage": dict(by_stage), "rejects_by_reason": dict(by_reason)}}]  # fmt: skip


# --- the phase ----------------------------------------------------------------------------------


def run_finish(ds: Dataset, cfg: CurateConfig, console=None, show_progress: bool = True) -> int:
    """Merge pending side tables and (re)compute flags; returns the number of shards rewritten."""
    state = ds.state
    sides_by_key: dict[str, list[dict[str, Any]]] = {}
    for table_name in list(state.manifest["tables"]):
        if table_name.startswith(SIDE_PREFIX):
            for e in state.shards(table_name):
                sides_by_key.setdefault(e["key"], []).append({**e, "table": table_name})
    flags_hash = f"{cfg.identity.min_reference_kind}|{FLAGS_VERSION}"
    tasks = []
    for entry in state.shards("triplets"):
        sides = sides_by_key.get(entry["key"], [])
        stages = dict(entry.get("stages") or {})
        for s in sides:
            stages[s["table"][len(SIDE_PREFIX) :]] = s.get("hash")
        if not sides and stages.get("flags") == flags_hash:
            continue  # nothing new for this shard
        stages["flags"] = flags_hash
        gen = (
            int(entry["path"].rsplit("-g", 1)[1].split(".")[0]) + 1
            if "-g" in entry["path"].rsplit("/", 1)[-1]
            else 1
        )
        tasks.append({
            "store": ds.store.spec(), "entry": entry, "sides": sides, "gen": gen, "stages": stages,
            "min_kind": cfg.identity.min_reference_kind,
            "row_group_rows": cfg.writer.row_group_rows, "compression": cfg.writer.compression,
            "old_seconds": _entry_seconds(ds, entry),
        })  # fmt: skip
    if not tasks:
        return 0
    results = _run_tasks(finish_shard, tasks)
    for res in results:
        state.record(json.loads(res["records"]))
    state.flush()
    for res in results:  # committed: the replaced files can go
        ds.store.delete_many([res["old_path"], *json.loads(res["side_paths"])])
    state.record([{"t": "phase", "name": "finish", "status": "complete"}])
    return len(tasks)


def _entry_seconds(ds: Dataset, entry: dict[str, Any]) -> float:
    if "seconds" in entry:
        return float(entry["seconds"])
    t = pq.read_table(ds.store.open_read(entry["path"]), columns=["start_time", "end_time"])
    return float(pc.sum(pc.subtract(t.column("end_time"), t.column("start_time"))).as_py() or 0.0)


def _run_tasks(fn, tasks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per-shard work on the cluster when Ray is up (the driver stays off the data path), else here."""
    import ray

    if not ray.is_initialized() or len(tasks) == 1:
        return [fn(t) for t in tasks]
    remote = ray.remote(num_cpus=0.5)(fn)
    return ray.get([remote.remote(t) for t in tasks])
