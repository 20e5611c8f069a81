"""``humo-data dedup OUT``: near-duplicate clips across sources leave the dataset.

    1. signatures  Ray Data over triplet shards: decode each stored clip once (signatures.py) into
                   features/signatures/ (one shard per triplet shard key, committed as it lands:
                   a killed run resumes; a shard whose clips all have signatures is skipped)
    2. blocks      Ray tasks: signatures + keep-order metadata of ~block_clips clips each
    3. index       one Ray task: faiss indexes of every clip's anchor keys and vectors (index.py)
    4. matches     Ray task per block: nearest keys -> verified pairs (matching.py)
    5. select      one Ray task: leader selection over the pairs (best clip stays), then a side
                   table tables/dedup/ per affected triplet shard: rows ``near_duplicate`` with a
                   detail naming the kept clip_id and the evidence
    6. finish      the curate job's finish phase moves those rows to rejects/ and recomputes flags

The driver holds shard records and object references only; the signatures live in the object
store (~1 KB per clip), the keys in one index task. Deterministic: the same clips and settings give
the same pairs and the same kept clips, and a rerun with nothing new is skipped (the phase records
a hash of the triplet shards it left and of its settings).
"""

from __future__ import annotations

import bisect
import json
import uuid
from collections import OrderedDict, defaultdict
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from humo_data.config_base import short_hash
from humo_data.dataset_ops.card import refresh_documents
from humo_data.dataset_ops.common import OpRun, dataset_op, maybe_ray, merge_pending, resolve
from humo_data.dataset_ops.config import DatasetOpsConfig, DedupConfig
from humo_data.dataset_ops.neardup import (
    META_COLUMNS,
    Block,
    block_matches,
    decisions,
    index_bundle,
    make_block,
    reject_detail,
)
from humo_data.dataset_ops.signatures import Signature, compute_signature
from humo_data.io.dataset import Dataset
from humo_data.io.shards import write_side_table, write_table
from humo_data.io.store import Store
from humo_data.schema import load_table_spec

SIG_TABLE = "features/signatures"
STAGE = "dedup"
REASON = "near_duplicate"
LOOKUP_CACHE_BLOCKS = 4


def signature_schema() -> pa.Schema:
    return load_table_spec("features_signatures", 1).schema


def dedup_hash(cfg: DedupConfig) -> str:
    """Settings that change which clips go (not task sizes)."""
    dump = cfg.output_dump()
    dump.pop("block_clips", None)
    return short_hash(dump)


# --- 1. signatures ------------------------------------------------------------------------------


def signature_tasks(ds: Dataset, cfg: DedupConfig) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(tasks for triplet shards whose signature shard does not reflect them, orphan signature
    shards whose triplet shard is gone). A signature shard records ``<signature hash>-<triplet
    sha256 prefix>``; a rewritten triplet shard (rows moved to rejects) needs only a subset check."""
    sig_hash = cfg.signature_hash()
    sigs = {e["key"]: e for e in ds.shards(SIG_TABLE)}
    keys = set()
    tasks = []
    for entry in ds.shards("triplets"):
        keys.add(entry["key"])
        have = sigs.get(entry["key"])
        want = f"{sig_hash}-{entry['sha256'][:16]}"
        if have is not None and have.get("hash") == want:
            continue
        reuse = have if have is not None and str(have.get("hash", "")).startswith(f"{sig_hash}-") else None
        tasks.append({"store": ds.store.spec(), "entry": entry, "old": reuse, "replace": have, "want": want,
                      "cfg": cfg.model_dump(mode="json")})  # fmt: skip
    orphans = [e for k, e in sigs.items() if k not in keys]
    return tasks, orphans


class SignatureWorker:
    """Ray Data callable: one triplet shard -> its signature shard (appearance model loaded once)."""

    def __init__(self, cfg: dict[str, Any]):
        self.cfg = DedupConfig(**cfg)
        self._embedder: Any = None
        self._loaded = False

    def embedder(self) -> Any:
        if not self._loaded:
            from humo_data.dataset_ops.appearance import make_embedder

            self._embedder, self._loaded = make_embedder(self.cfg), True
        return self._embedder

    def __call__(self, batch: pa.Table) -> pa.Table:
        task = json.loads(batch.column("task")[0].as_py())
        return pa.table({"result": [json.dumps(self.run(task))]})

    def run(self, task: dict[str, Any]) -> dict[str, Any]:
        store = Store.from_spec(task["store"])
        entry = task["entry"]
        pf = pq.ParquetFile(store.open_read(entry["path"]))
        ids = pf.read(columns=["clip_id"]).column(0).to_pylist()
        old: dict[str, dict[str, Any]] = {}
        if task["old"]:
            table = pq.read_table(store.open_read(task["old"]["path"]))
            old = {r["clip_id"]: r for r in table.to_pylist()}
        missing = {c for c in ids if c not in old}
        new: dict[str, dict[str, Any]] = {}
        if missing:
            for batch in pf.iter_batches(columns=["clip_id", "source_id", "video"], batch_size=8):
                for cid, sid, video in zip(*(batch.column(i).to_pylist() for i in range(3)), strict=True):
                    if cid in missing:
                        sig = compute_signature(video, self.cfg, self.embedder()) or {}
                        new[cid] = {"clip_id": cid, "source_id": sid, **sig}
        key = entry["key"]
        records: list[dict[str, Any]] = []
        delete: list[str] = []
        if not missing and len(old) == len(ids) and task["old"] is not None:
            records.append({**_record(task["old"]), "hash": task["want"]})  # same rows: re-stamp only
        else:
            rows = [old.get(c) or new[c] for c in ids]
            rel = f"{SIG_TABLE}/part-{key}-{uuid.uuid4().hex[:8]}.parquet"
            table = pa.Table.from_pylist(rows, schema=signature_schema())
            info = write_table(store, rel, table, row_group_rows=512, compression="zstd")
            records.append({"t": "shard", "table": SIG_TABLE, "key": key, **info, "hash": task["want"]})
            if task["replace"]:
                delete.append(task["replace"]["path"])
        return {"records": records, "delete": delete, "computed": len(new)}


def _signature_task(batch: pa.Table, cfg: dict[str, Any]) -> pa.Table:
    return SignatureWorker(cfg)(batch)


def _record(entry: dict[str, Any]) -> dict[str, Any]:
    return {
        "t": "shard",
        "table": SIG_TABLE,
        **{k: entry[k] for k in ("key", "path", "rows", "bytes", "sha256")},
    }


def run_signatures(ds: Dataset, cfg: DedupConfig, on_progress=None) -> int:
    """Bring features/signatures up to date with the triplets; returns signatures computed."""
    import ray

    from humo_data.ray_compute import actor_pool

    tasks, orphans = signature_tasks(ds, cfg)
    computed = 0

    def commit(res: dict[str, Any]) -> None:
        nonlocal computed
        ds.state.record(res["records"])
        ds.state.flush()
        ds.store.delete_many(res["delete"])
        computed += res["computed"]
        if on_progress:
            on_progress(res)

    if tasks and not ray.is_initialized():
        worker = SignatureWorker(cfg.model_dump(mode="json"))
        for t in tasks:
            commit(worker.run(json.loads(json.dumps(t, default=str))))
    elif tasks:
        items = [{"task": json.dumps(t, default=str)} for t in tasks]
        data = ray.data.from_items(items, override_num_blocks=len(items))
        kwargs: dict[str, Any] = {
            "batch_size": 1,
            "batch_format": "pyarrow",
            "num_cpus": cfg.resources.num_cpus,
        }
        if cfg.backend == "phash":  # no model: plain tasks (no actor start-up)
            out = data.map_batches(_signature_task, fn_kwargs={"cfg": cfg.model_dump(mode="json")}, **kwargs)
        else:  # the embedding model loads once per actor
            if cfg.resources.num_gpus:
                kwargs["num_gpus"] = cfg.resources.num_gpus
            out = data.map_batches(SignatureWorker, compute=actor_pool(cfg.resources, default=_default_pool()),
                                   fn_constructor_kwargs={"cfg": cfg.model_dump(mode="json")}, **kwargs)  # fmt: skip
        for batch in out.iter_batches(batch_format="pyarrow", batch_size=None):
            for raw in batch.column("result").to_pylist():
                commit(json.loads(raw))
    if orphans:
        ds.state.record([{"t": "drop", "table": SIG_TABLE, "key": e["key"]} for e in orphans])
        ds.state.flush()
        ds.store.delete_many([e["path"] for e in orphans])
    return computed


def _default_pool() -> int:
    import ray

    return max(1, int(ray.available_resources().get("CPU", 1)))


# --- 2-5. blocks, index, matches, select -------------------------------------------------------


def plan_blocks(ds: Dataset, cfg: DedupConfig) -> list[dict[str, Any]]:
    sigs = {e["key"]: e for e in ds.shards(SIG_TABLE)}
    blocks: list[dict[str, Any]] = []
    start = 0
    for entry in sorted(ds.shards("triplets"), key=lambda e: e["key"]):
        if not blocks or blocks[-1]["rows"] + entry["rows"] > cfg.block_clips:
            blocks.append({"start": start, "rows": 0, "parts": []})
        blocks[-1]["parts"].append({"triplets": entry, "signatures": sigs.get(entry["key"])})
        blocks[-1]["rows"] += entry["rows"]
        start += entry["rows"]
    return blocks


def load_block(store_spec: dict[str, Any], plan: dict[str, Any], cfg: DedupConfig) -> Block:
    store = Store.from_spec(store_spec)
    meta: list[dict[str, Any]] = []
    sigs: list[Signature | None] = []
    for part in plan["parts"]:
        pf = pq.ParquetFile(store.open_read(part["triplets"]["path"]))
        cols = [c for c in META_COLUMNS if c in pf.schema_arrow.names]
        rows = pf.read(columns=cols).to_pylist()
        by_id: dict[str, Signature] = {}
        if part["signatures"]:
            for r in pq.read_table(store.open_read(part["signatures"]["path"])).to_pylist():
                if r.get("motion") is not None:
                    by_id[r["clip_id"]] = Signature.from_row(r)
        for r in rows:
            r["_shard"] = part["triplets"]["key"]
            meta.append(r)
            sigs.append(by_id.get(r["clip_id"]))
    return make_block(plan["start"], meta, sigs)


def _bundle_task(block_refs: list[Any], total: int, cfg: DedupConfig):
    def blocks():
        for ref in block_refs:
            yield resolve(ref)

    return index_bundle(blocks, total, cfg)


def _match_task(block: Block, bundle, block_refs: list[Any], starts: list[int], cfg: DedupConfig) -> list:
    cache: OrderedDict[int, Block] = OrderedDict()

    def lookup(g: int):
        b = bisect.bisect_right(starts, g) - 1
        if starts[b] == block.start:
            other = block
        else:
            if b not in cache:
                cache[b] = resolve(block_refs[b])
                if len(cache) > LOOKUP_CACHE_BLOCKS:
                    cache.popitem(last=False)
            other = cache[b]
        i = g - other.start
        return other.signatures[i], other.meta[i]

    return block_matches(block, bundle, lookup, cfg, home=lambda g: bisect.bisect_right(starts, g) - 1)


def _select_task(
    store_spec: dict[str, Any], match_refs: list[Any], cfg: DedupConfig, stage_hash: str
) -> dict[str, Any]:
    """Leader selection over every verified pair; side tables per affected triplet shard."""
    matches = [m for ref in match_refs for m in resolve(ref)]
    chosen = decisions(matches, cfg.keep_order)
    store = Store.from_spec(store_spec)
    by_shard: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for gone, kept, match in chosen:
        by_shard[gone["_shard"]].append({
            "clip_id": gone["clip_id"], "_reject_reason": REASON, "_reject_stage": STAGE,
            "_reject_detail": reject_detail(kept, gone, match, cfg),
        })  # fmt: skip
    records = []
    for key, rows in sorted(by_shard.items()):
        table = pa.Table.from_pylist(rows, schema=pa.schema([
            ("clip_id", pa.string()), ("_reject_reason", pa.string()), ("_reject_stage", pa.string()),
            ("_reject_detail", pa.string())]))  # fmt: skip
        records.append(write_side_table(store, STAGE, key, table, stage_hash))
    pairs = len({(m.a, m.b) for m, *_ in matches})
    return {"records": records, "rejected": len(chosen), "pairs": pairs,
            "examples": [reject_detail(k, g, m, cfg) for g, k, m in chosen[:5]]}  # fmt: skip


def find_duplicates(ds: Dataset, cfg: DedupConfig) -> dict[str, Any]:
    """Steps 2-5 (Ray tasks when Ray is up, else here); returns the select step's summary with
    the side-table records."""
    import ray

    plans = plan_blocks(ds, cfg)
    if not plans:
        return {"records": [], "rejected": 0, "pairs": 0, "examples": []}
    spec = ds.store.spec()
    starts = [p["start"] for p in plans]
    total = plans[-1]["start"] + plans[-1]["rows"]
    if not ray.is_initialized():
        blocks = [load_block(spec, p, cfg) for p in plans]
        bundle = _bundle_task(blocks, total, cfg)
        matches = [_match_task(b, bundle, blocks, starts, cfg) for b in blocks]
        return _select_task(spec, matches, cfg, dedup_hash(cfg))
    cpus = cfg.resources.num_cpus
    load = ray.remote(num_cpus=cpus)(load_block)
    block_refs = [load.remote(spec, p, cfg) for p in plans]
    bundle_ref = ray.remote(num_cpus=cpus)(_bundle_task).remote(block_refs, total, cfg)
    match = ray.remote(num_cpus=cpus)(_match_task)
    match_refs = [match.remote(ref, bundle_ref, block_refs, starts, cfg) for ref in block_refs]
    return ray.get(ray.remote(num_cpus=cpus)(_select_task).remote(spec, match_refs, cfg, dedup_hash(cfg)))


def inputs_hash(ds: Dataset, cfg: DedupConfig) -> str:
    shards = sorted(f"{e['key']}:{e['sha256'][:16]}" for e in ds.shards("triplets"))
    return short_hash({"dedup": dedup_hash(cfg), "triplets": shards})


# --- the command --------------------------------------------------------------------------------


def run_dedup(output: str, ops: DatasetOpsConfig, console=None) -> dict[str, Any]:
    """The whole pass under the dataset's lease; returns a summary for the CLI."""
    cfg = ops.dedup
    with dataset_op(output, STAGE, lease_seconds=60.0) as op:
        ds = op.ds
        maybe_ray(ds, ops)
        merged = merge_pending(ds)
        if merged:
            op.notes.append(f"merged pending side tables into {merged} shard(s) first")
        before = ds.manifest["counts"].get("triplets", 0)
        computed = run_signatures(ds, cfg)
        h = inputs_hash(ds, cfg)
        previous = op.previous
        if previous.get("status") == "complete" and previous.get("hash") == h:
            op.done({k: v for k, v in previous.items() if k not in ("status", "at")})
            refresh_documents(ds, ops)
            return _summary(op, previous | {"skipped": True, "signatures_computed": computed})
        found = find_duplicates(ds, cfg)
        ds.state.record(
            [{"t": "stage", "name": STAGE, "info": {"hash": dedup_hash(cfg), "backend": _backend(cfg)}}]
        )
        ds.state.record(found["records"])
        ds.state.flush()
        rewritten = merge_pending(ds)
        run_signatures(ds, cfg)  # drop the signatures of the clips that left
        info = {"hash": inputs_hash(ds, cfg), "rejected": found["rejected"],
                "pairs": found["pairs"], "clips_before": before, "clips_after": ds.manifest["counts"].get("triplets", 0),
                "shards_rewritten": rewritten, "signatures_computed": computed, "backend": _backend(cfg)}  # fmt: skip
        op.done(info)
        refresh_documents(ds, ops)
        return _summary(op, info | {"examples": found["examples"]})


def _backend(cfg: DedupConfig) -> str:
    return "phash+motion" if cfg.backend == "phash" else f"open_clip:{cfg.open_clip_arch}+motion"


def _summary(op: OpRun, info: dict[str, Any]) -> dict[str, Any]:
    return {**{k: v for k, v in info.items() if k not in ("hash", "status", "at")}, "notes": op.notes}
