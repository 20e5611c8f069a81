"""Phase 4, finish: merge side tables into the triplet shards, set the subset flags, count.

Later phases (identity, captions, a rerun of one stage) never rewrite shards themselves: each
writes a side table per triplet shard, ``tables/<stage>/part-<key>.parquet`` (clip_id + its
columns, optionally ``_reject_reason``/``_reject_detail``). Finish rewrites each touched shard
once, on the workers (``io/shards.py`` does the reading, merging and writing): columns replaced,
rows a later stage rejected moved to ``rejects/``, then ``stage1``/``stage2`` and their reasons
computed for every row. The shard keeps its key (a new file name: ``part-<key>-g<n>.parquet``);
the old file and the merged side tables are dropped in the same commit.

Flags (a subset gate keeps the row; only a reject removes it). They are derived here, from the
gate columns, every time finish runs, and never read back, so reruns and changed settings cannot
leave stale flags:
- stage1: a caption, and a reference of at least ``identity.min_reference_kind`` in the one
  order of identity/config.py (cross_source > cross_shot > same_shot > same_clip; the default
  cross_shot takes both other-context kinds);
- stage2: stage1, the clip has audio, the audio stage ran and its gates passed (``audio_gate``
  null, ``speech_backend`` set), and the sync stage ran and passed (``sync_gate`` null,
  ``sync_backend`` set). ``stage2_reason`` names the first gate that failed (an audio or sync gate
  is named even when stage 1 failed too, so the funnel counts every gate), then ``not_stage1``,
  then ``audio_not_checked`` / ``sync_not_checked`` for a stage that did not run.
"""

from __future__ import annotations

import json
import time
from typing import Any

import pyarrow as pa

from humo_data.config import CurateConfig
from humo_data.identity.config import KIND_RANK
from humo_data.io.dataset import Dataset
from humo_data.io.shards import (
    SIDE_PREFIX,
    drop_record,
    entry_seconds,
    feature_table,
    gen_path,
    merge_side,
    next_gen,
    read_triplets,
    reject_rows,
    rejects_record,
    split_rejected,
    triplet_record,
    write_table,
)
from humo_data.io.store import Store
from humo_data.schema import FEATURE_TABLES, triplet_schema

#: bumped when the flag rule changes, so the next finish re-derives every shard's flags
FLAGS_VERSION = "gates-v1+kinds-v2"  # kinds-v2: one strict kind order (identity/config.py)


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


# --- the phase ----------------------------------------------------------------------------------


def finish_shard(task: dict[str, Any]) -> dict[str, Any]:
    """Rewrite one triplet shard (runs on a worker). Returns {"records": json, "stats": json} for
    the driver."""
    t0, c0 = time.perf_counter(), time.process_time()
    store = Store.from_spec(task["store"])
    entry, key, gen = task["entry"], task["entry"]["key"], task["gen"]
    base = read_triplets(store, entry)
    rows_in = base.num_rows
    for side in task["sides"]:
        base = merge_side(base, read_triplets(store, side))
    base, rejected = split_rejected(base)
    records: list[dict[str, Any]] = []
    if rejected.num_rows:
        table = reject_rows(rejected.to_pylist(), default_stage="finish")
        records.append(rejects_record(store, f"{key}-g{gen}", table, compression="zstd"))
    for name in FEATURE_TABLES:  # a rerun of the stage that makes a feature table replaces it
        features = feature_table(base, name)
        if features is not None:
            info = write_table(store, gen_path(f"features/{name}", key, gen), features, row_group_rows=64,
                               compression=task["compression"])  # fmt: skip
            records.append({"t": "shard", "table": f"features/{name}", "key": key, **info})
    flags = compute_flags(base, task["min_kind"])
    for name, vals in flags.items():
        field = triplet_schema().field(name)
        values = pa.array(vals, field.type)
        i = base.schema.get_field_index(name)
        base = base.set_column(i, name, values) if i >= 0 else base.append_column(name, values)
    records.append(drop_record(entry, seconds=float(task["old_seconds"])))
    if base.num_rows:
        records.append(triplet_record(store, key, gen_path("triplets", key, gen), base, task["stages"],
                                      row_group_rows=task["row_group_rows"], compression=task["compression"]))  # fmt: skip
    records += [drop_record(side, table=side["table"]) for side in task["sides"]]
    stats = {"finish": {"rows_in": rows_in, "rows_out": base.num_rows, "seconds": time.perf_counter() - t0,
                        "cpu_seconds": time.process_time() - c0}}  # fmt: skip
    return {"records": json.dumps(records), "old_path": entry["path"], "stats": json.dumps(stats),
            "side_paths": json.dumps([s["path"] for s in task["sides"]])}  # fmt: skip


def run_finish(ds: Dataset, cfg: CurateConfig) -> tuple[int, dict[str, Any]]:
    """Merge pending side tables and (re)compute flags; returns the shards rewritten and the
    finish stage's stats."""
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
        tasks.append({
            "store": ds.store.spec(), "entry": entry, "sides": sides, "gen": next_gen(entry["path"]),
            "stages": stages, "min_kind": cfg.identity.min_reference_kind,
            "row_group_rows": cfg.writer.row_group_rows, "compression": cfg.writer.compression,
            "old_seconds": entry_seconds(ds.store, entry),
        })  # fmt: skip
    if not tasks:
        return 0, {}
    results = _run_tasks(finish_shard, tasks, in_process=len(tasks) <= cfg.ray.in_process_max_shards)
    stats: dict[str, Any] = {}
    for res in results:
        state.record(json.loads(res["records"]))
        from humo_data import stage_stats

        stage_stats.add(stats, json.loads(res["stats"]))
    state.flush()
    for res in results:  # committed: the replaced files can go
        ds.store.delete_many([res["old_path"], *json.loads(res["side_paths"])])
    state.record([{"t": "phase", "name": "finish", "status": "complete"}])
    return len(tasks), stats


def _run_tasks(fn, tasks: list[dict[str, Any]], in_process: bool = False) -> list[dict[str, Any]]:
    """Per-shard work on the cluster when Ray is up (the driver stays off the data path), else here;
    a few shards (``in_process``: at most ``ray.in_process_max_shards``) here too, since a task
    costs a worker start-up (imports) that a small shard's rewrite does not."""
    import ray

    if in_process or not ray.is_initialized() or len(tasks) == 1:
        return [fn(t) for t in tasks]
    remote = ray.remote(num_cpus=0.5)(fn)
    return ray.get([remote.remote(t) for t in tasks])
