"""How splits are laid out in a dataset and how big they are: the dataset I/O side of splits
(``humo-data split`` assigns them, dataset_ops/splits.py; the card, the report and ``inspect``
read them).

A split's rows live in their own triplet shards, keyed ``split-<name>-...``, because a dataset
card's configs select files, not rows.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from typing import Any

import pyarrow.parquet as pq

from humo_data.io.dataset import Dataset

KEY_PREFIX = "split-"
LIGHT = ["source_id", "identity_id", "split", "start_time", "end_time"]


def split_key_prefix(name: str) -> str:
    return f"{KEY_PREFIX}{name}-"


def split_of_key(key: str) -> str | None:
    """The split a shard key holds (``split-<name>-<hash>``), else None."""
    if not key.startswith(KEY_PREFIX):
        return None
    return key[len(KEY_PREFIX) :].split("-", 1)[0]


def split_pattern(name: str) -> str:
    """File pattern of one split's shards (dataset card data_files; any later -g<n> rewrite matches)."""
    return f"triplets/part-{split_key_prefix(name)}*.parquet"


def split_sizes(ds: Dataset) -> dict[str, dict[str, Any]]:
    """Clips, hours, identities and sources per split (``unassigned`` for rows without one)."""
    clips: Counter = Counter()
    seconds: Counter = Counter()
    identities: dict[str, set] = defaultdict(set)
    sources: dict[str, set] = defaultdict(set)
    for entry in ds.shards("triplets"):
        pf = pq.ParquetFile(ds.store.open_read(entry["path"]))
        names = pf.schema_arrow.names
        t = pf.read(columns=[c for c in LIGHT if c in names]).to_pylist()
        for r in t:
            s = r.get("split") or "unassigned"
            clips[s] += 1
            seconds[s] += (r["end_time"] or 0.0) - (r["start_time"] or 0.0)
            if r.get("identity_id"):
                identities[s].add(r["identity_id"])
            sources[s].add(r["source_id"])
    return {
        s: {"clips": clips[s], "hours": round(seconds[s] / 3600.0, 4), "identities": len(identities[s]),
            "sources": len(sources[s])}
        for s in sorted(clips)
    }  # fmt: skip
