"""Synthetic datasets for the split, card and selection tests: real shards, manifest and commit log
(io/table_writer.py), tiny placeholder media, many people across many sources.

    people = synthetic_dataset(out, people=300)   # -> {identity_id: [source_id, ...]}
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

from humo_data.io.lease import Lease
from humo_data.io.manifest import DatasetState
from humo_data.io.store import Store
from humo_data.io.table_writer import TableWriter
from humo_data.schema import triplet_schema


def clip_row(source: str, index: int, identity: str | None, seconds: float = 4.0) -> dict[str, Any]:
    row = {name: None for name in triplet_schema().names}
    row.update(
        clip_id=f"{source}-c{index:03d}", source_id=source, source_uri=f"/videos/{source}.mp4", shot_index=0,
        clip_index=index, start_time=index * seconds, end_time=(index + 1) * seconds, fps=25.0,
        num_frames=int(seconds * 25) + 1, width=480, height=480, video=b"\x00" * 8, video_codec="h264",
        has_audio=False, shot_backend="synthetic", identity_id=identity, caption="a person speaking",
        stage1=identity is not None, stage2=False,
    )  # fmt: skip
    return row


def synthetic_rows(people: int, seed: int = 0, prefix: str = "s") -> tuple[list[dict], dict[str, set[str]]]:
    """Rows of ``people`` identities: each in 1-3 sources of 1-4 clips; one source in ten also
    shows a second person (co-appearance), and one in eight shows no face."""
    rng = random.Random(seed)
    rows: list[dict] = []
    sources_of: dict[str, set[str]] = {}
    n_source = 0
    for p in range(people):
        identity = f"id-{prefix}{p:05d}"
        for _ in range(rng.randint(1, 3)):
            source = f"{prefix}{n_source:06d}"
            n_source += 1
            other = f"id-{prefix}{rng.randrange(people):05d}" if rng.random() < 0.1 else None
            for i in range(rng.randint(1, 4)):
                who = other if other and i % 2 else identity
                rows.append(clip_row(source, i, who))
                sources_of.setdefault(who, set()).add(source)
        if rng.random() < 0.125:
            source = f"{prefix}{n_source:06d}"
            n_source += 1
            rows += [clip_row(source, i, None) for i in range(rng.randint(1, 3))]
    return rows, sources_of


def write_dataset(out: Path, rows: list[dict], run_id: str = "r0synthetic", rows_per_shard: int = 64) -> Path:
    """Commit ``rows`` as triplet shards (a new dataset, or more shards of an existing one)."""
    store = Store.open(str(out))
    with Lease(store, run_id):
        state = DatasetState(store, run_id=run_id)
        if not state.exists:
            state.create({}, "synthetic")
        writer = TableWriter(state, "triplets", triplet_schema(), run_id, rows_per_shard=rows_per_shard)
        for row in rows:
            writer.add(
                row,
                {"triplets": 1, "video_seconds": row["end_time"] - row["start_time"]},
                source=row["source_uri"],
            )
        writer.close()
        state.record([{"t": "phase", "name": "stream", "status": "complete"}])
        state.manifest["status"] = "complete"
        state.compact()
    return out
