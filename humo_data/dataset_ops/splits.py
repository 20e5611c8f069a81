"""``humo-data split OUT``: identity-disjoint train / validation / test splits as separate shards.

Groups, then a seeded hash:

- ``identity+source`` (default): a person (dataset-wide ``identity_id`` of the main face, from the
  identity pass's cross-source index) and every source they appear in form one group, joined
  transitively (person A's sources, the other people of those sources, their sources...). No
  person and no source video lands in two splits, so a test clip's room, clothes and voice are
  never seen in training either.
- ``identity``: one group per identity; clips without a face go by source.

Each group's split is ``sha256(seed/group key)`` mapped onto the configured fractions, so adding
data never moves an existing group; a group that already holds assigned rows keeps the split of
most of them (a rerun after new sources, or after the identity pass merged two people, moves only
the rows that would otherwise leak, and says how many).

Shards: rows are rewritten into split-separated shards ``triplets/part-split-<name>-<hash>.parquet``
(and their ``features/*`` companions under the same key), so the dataset card's configs select a
split by file pattern (``triplets/part-split-train-*.parquet``), which is what a Hugging Face
``datasets.load_dataset(OUT)`` needs. A shard already holding one split's rows only is left alone.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from humo_data.dataset_ops.common import OpRun, curate_config, dataset_op, maybe_ray, merge_pending, run_tasks
from humo_data.dataset_ops.config import DatasetOpsConfig, SplitConfig
from humo_data.io.dataset import Dataset
from humo_data.io.shards import (
    common_stages,
    companions,
    drop_record,
    filter_feature_shard,
    read_triplets,
    triplet_record,
    write_feature_shard,
)
from humo_data.io.splits import split_key_prefix, split_of_key, split_sizes
from humo_data.io.store import Store

STAGE = "split"


def hash_split(group_key: str, cfg: SplitConfig) -> str:
    u = int(hashlib.sha256(f"{cfg.seed}/{group_key}".encode()).hexdigest()[:15], 16) / float(16**15)
    acc = 0.0
    names = list(cfg.fractions)
    for name in names:
        acc += cfg.fractions[name]
        if u < acc:
            return name
    return names[-1]


# --- groups -------------------------------------------------------------------------------------


class _UnionFind:
    def __init__(self) -> None:
        self.parent: dict[str, str] = {}

    def find(self, x: str) -> str:
        self.parent.setdefault(x, x)
        root = x
        while self.parent[root] != root:
            root = self.parent[root]
        while self.parent[x] != root:
            self.parent[x], x = root, self.parent[x]
        return root

    def union(self, a: str, b: str) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[max(ra, rb)] = min(ra, rb)


def node_of(source_id: str, identity_id: str | None, mode: str) -> str:
    """The group-graph node a clip belongs to (sources and identities share one namespace)."""
    if mode == "identity" and identity_id:
        return f"i:{identity_id}"
    return f"s:{source_id}"


@dataclass
class Assignment:
    """Split of every node, and what the assignment cost."""

    split_of: dict[str, str]  # node -> split
    groups: int = 0
    largest_group_clips: int = 0
    moved_clips: int = 0
    warnings: list[str] = field(default_factory=list)

    def split_for(self, source_id: str, identity_id: str | None, mode: str) -> str:
        return self.split_of[node_of(source_id, identity_id, mode)]


def assign(pairs: Counter, cfg: SplitConfig, sticky: bool = True) -> Assignment:
    """``pairs``: (source_id, identity_id or None, current split or None) -> clips. Returns the
    split of every node. ``sticky``: groups keep the split their rows hold (off when the split
    settings changed: a new seed or new fractions mean a new assignment)."""
    mode = cfg.group_by
    uf = _UnionFind()
    clips_of_node: Counter = Counter()
    for (source, identity, _), n in pairs.items():
        node = node_of(source, identity, mode)
        uf.find(node)
        clips_of_node[node] += n
        if mode == "identity+source" and identity:
            uf.union(node, f"i:{identity}")
    members: dict[str, list[str]] = defaultdict(list)
    for node in list(uf.parent):
        members[uf.find(node)].append(node)
    # existing assignments, per group, by clips
    current: dict[str, Counter] = defaultdict(Counter)
    for (source, identity, split), n in pairs.items():
        if split and sticky:
            current[uf.find(node_of(source, identity, mode))][split] += n
    order = {name: i for i, name in enumerate(cfg.fractions)}
    split_of: dict[str, str] = {}
    out = Assignment(split_of, groups=len(members))
    for root, nodes in members.items():
        held = {s: n for s, n in current.get(root, {}).items() if s in order}
        if held:
            split = min(held, key=lambda s: (-held[s], order[s]))
            out.moved_clips += sum(n for s, n in current[root].items() if s != split)
        else:
            identities = sorted(n for n in nodes if n.startswith("i:"))
            split = hash_split((identities or sorted(nodes))[0], cfg)
        for node in nodes:
            split_of[node] = split
        out.largest_group_clips = max(out.largest_group_clips, sum(clips_of_node[n] for n in nodes))
    if out.moved_clips:
        out.warnings.append(
            f"{out.moved_clips} clip(s) changed split: their group now links people or sources that were in "
            "different splits (new sources, or the identity pass joined two identities)"
        )
    return out


# --- reading and planning -----------------------------------------------------------------------


def read_pairs(ds: Dataset) -> tuple[Counter, dict[str, Counter]]:
    """(all (source, identity, split) -> clips, per shard key the same counter); light columns only."""
    total: Counter = Counter()
    per_shard: dict[str, Counter] = {}
    for entry in ds.shards("triplets"):
        pf = pq.ParquetFile(ds.store.open_read(entry["path"]))
        names = pf.schema_arrow.names
        t = pf.read(columns=[c for c in ("source_id", "identity_id", "split") if c in names])
        cols = [t.column(c).to_pylist() if c in t.column_names else [None] * t.num_rows
                for c in ("source_id", "identity_id", "split")]  # fmt: skip
        c = Counter(zip(*cols, strict=True))
        per_shard[entry["key"]] = c
        total.update(c)
    return total, per_shard


def plan_repack(
    ds: Dataset, per_shard: dict[str, Counter], a: Assignment, cfg: SplitConfig, rows_per_shard: int
) -> list[dict]:
    """Output shards: pieces (old shard, split) of the shards not already holding one split only,
    packed up to ``rows_per_shard`` rows per split."""
    mode = cfg.group_by
    pieces: dict[str, list[tuple[str, int]]] = defaultdict(list)
    for entry in sorted(ds.shards("triplets"), key=lambda e: e["key"]):
        counts = per_shard[entry["key"]]
        target: Counter = Counter()
        for (source, identity, split), n in counts.items():
            target[(a.split_for(source, identity, mode), split)] += n
        here = split_of_key(entry["key"])
        if len(target) == 1 and next(iter(target)) == (here, here):
            continue  # settled: one split, in a shard named for it, rows labelled with it
        by_split: Counter = Counter()
        for (new, _), n in target.items():
            by_split[new] += n
        for name, n in by_split.items():
            pieces[name].append((entry["key"], n))
    plans = []
    for name in cfg.fractions:
        bins: list[list[tuple[str, int]]] = []
        for piece in pieces.get(name, []):
            if not bins or (sum(n for _, n in bins[-1]) + piece[1] > rows_per_shard and bins[-1]):
                bins.append([])
            bins[-1].append(piece)
        for b in bins:
            digest = hashlib.sha1(json.dumps([name, b]).encode()).hexdigest()[:12]
            plans.append(
                {"split": name, "key": f"{split_key_prefix(name)}{digest}", "pieces": [k for k, _ in b]}
            )
    return plans


def _node_map(per_shard: dict[str, Counter], keys: list[str], a: Assignment, mode: str) -> dict[str, str]:
    out = {}
    for key in keys:
        for source, identity, _ in per_shard[key]:
            out[f"{source}|{identity or ''}"] = a.split_for(source, identity, mode)
    return out


def repack_task(task: dict[str, Any]) -> dict[str, Any]:
    """Write one split shard from pieces of old shards (runs on a worker); returns its records."""
    store = Store.from_spec(task["store"])
    name, key, mapping = task["split"], task["key"], task["assign"]
    parts: list[pa.Table] = []
    kept_ids: set[str] = set()
    for piece in task["pieces"]:
        t = read_triplets(store, piece["entry"])
        ids = t.column("identity_id").to_pylist() if "identity_id" in t.column_names else [None] * t.num_rows
        want = [
            mapping[f"{s}|{i or ''}"] == name
            for s, i in zip(t.column("source_id").to_pylist(), ids, strict=True)
        ]
        t = t.filter(pa.array(want, pa.bool_()))
        split_col = pa.array([name] * t.num_rows, pa.string())
        t = (
            t.set_column(t.schema.get_field_index("split"), "split", split_col)
            if "split" in t.column_names
            else t.append_column("split", split_col)
        )
        parts.append(t)
        kept_ids.update(t.column("clip_id").to_pylist())
    table = pa.concat_tables(parts, promote_options="permissive")
    stages = common_stages([p["entry"] for p in task["pieces"]])
    records = [triplet_record(store, key, f"triplets/part-{key}.parquet", table, stages,
                                   row_group_rows=task["row_group_rows"], compression=task["compression"])]  # fmt: skip
    by_table: dict[str, list[pa.Table]] = defaultdict(list)
    for piece in task["pieces"]:
        for ftable, fentry in piece["companions"].items():
            by_table[ftable].append(filter_feature_shard(store, ftable, fentry, keep_ids=kept_ids))
    for ftable, tables in sorted(by_table.items()):
        data = pa.concat_tables(tables, promote_options="permissive")
        if data.num_rows:
            records.append(write_feature_shard(store, ftable, key, f"{ftable}/part-{key}.parquet", data))
    return {"records": records}


# --- sizes --------------------------------------------------------------------------------------


def fraction_warnings(sizes: dict[str, dict[str, Any]], cfg: SplitConfig) -> list[str]:
    total = sum(v["clips"] for k, v in sizes.items() if k != "unassigned")
    if not total:
        return []
    out = []
    for name, target in cfg.fractions.items():
        got = sizes.get(name, {}).get("clips", 0) / total
        if abs(got - target) > cfg.tolerance:
            out.append(f"split {name}: {got:.3f} of the clips, target {target:.3f} (groups are indivisible)")
    return out


# --- the command --------------------------------------------------------------------------------


def run_split(output: str, ops: DatasetOpsConfig) -> dict[str, Any]:
    cfg = ops.split
    with dataset_op(output, STAGE) as op:
        ds = op.ds
        maybe_ray(ds, ops)
        merge_pending(ds)
        pairs, per_shard = read_pairs(ds)
        settings = {"seed": cfg.seed, "fractions": cfg.fractions, "group_by": cfg.group_by}
        before = {k: op.previous.get(k) for k in settings}
        sticky = before == settings or not any(before.values())
        if not sticky:
            op.notes.append(
                f"split settings changed ({before} -> {settings}): every group is assigned afresh"
            )
        a = assign(pairs, cfg, sticky=sticky)
        writer = curate_config(ds.manifest).writer
        plans = plan_repack(ds, per_shard, a, cfg, cfg.rows_per_shard or writer.rows_per_shard)
        rewritten = _repack(op, plans, per_shard, a, cfg, writer.row_group_rows, writer.compression)
        sizes = split_sizes(ds)
        total = sum(v["clips"] for v in sizes.values()) or 1
        warnings = a.warnings + fraction_warnings(sizes, cfg)
        if a.largest_group_clips / total > min(cfg.fractions.values()):
            warnings.append(
                f"the largest group holds {a.largest_group_clips} of {total} clips: more than the smallest split's "
                "share, so the fractions cannot all be met (try group_by=identity)"
            )
        info = {"seed": cfg.seed, "fractions": cfg.fractions, "group_by": cfg.group_by, "groups": a.groups,
                "largest_group_clips": a.largest_group_clips, "moved_clips": a.moved_clips, "sizes": sizes,
                "shards_written": rewritten, "identity_phase": ds.manifest["phases"].get("identity", {}).get("hash"),
                "warnings": warnings}  # fmt: skip
        ds.state.record(
            [
                {
                    "t": "stage",
                    "name": STAGE,
                    "info": {"hash": cfg.output_hash(), "backend": f"hash:{cfg.group_by}"},
                }
            ]
        )
        op.done(info)
        from humo_data.dataset_ops.card import refresh_documents

        refresh_documents(ds, ops)
        return {**info, "notes": op.notes}


def _repack(op: OpRun, plans: list[dict], per_shard: dict[str, Counter], a: Assignment, cfg: SplitConfig,
            row_group_rows: int, compression: str) -> int:  # fmt: skip
    ds = op.ds
    if not plans:
        return 0
    old_keys = sorted({k for p in plans for k in p["pieces"]})
    entries = {k: ds.state.shard("triplets", k) for k in old_keys}
    comps = {k: companions(ds, k) for k in old_keys}
    tasks = [
        {"store": ds.store.spec(), "split": p["split"], "key": p["key"], "row_group_rows": row_group_rows,
         "compression": compression, "assign": _node_map(per_shard, p["pieces"], a, cfg.group_by),
         "pieces": [{"entry": entries[k], "companions": comps[k]} for k in p["pieces"]]}
        for p in plans
    ]  # fmt: skip
    results = run_tasks(repack_task, tasks)
    records = [r for res in results for r in res["records"]]
    new_paths = {r["path"] for r in records}
    old_paths = []
    for k in old_keys:
        records.append(drop_record(entries[k]))
        old_paths.append(entries[k]["path"])
        for table, entry in comps[k].items():
            records.append({"t": "drop", "table": table, "key": k})
            old_paths.append(entry["path"])
    # drops first: a new key never equals an old one, and each old key is dropped once
    ds.state.record([r for r in records if r["t"] == "drop"] + [r for r in records if r["t"] == "shard"])
    ds.state.flush()  # one segment: every new shard and every retired one commit together
    ds.store.delete_many([p for p in old_paths if p not in new_paths])
    return len(plans)
