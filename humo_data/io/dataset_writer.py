"""Turns the stream of working rows into a dataset: triplet shards, reject shards, manifest, ledger.

Rows of one source may arrive in any order and interleaved with other sources. A source is
complete when its ``done`` marker has arrived, as many rows as the marker announces have been
seen, and none of them is still in an open shard; only then does it enter the ledger. On resume
the writer drops files that the manifest does not list (a killed run's last shard), reloads the
ids of committed rows, and skips rows it already has, so a rerun adds no duplicate and misses
nothing.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from humo_data.config import CurateConfig
from humo_data.io.ledger import Ledger
from humo_data.io.manifest import Manifest, utc_now
from humo_data.io.shards import ShardInfo, ShardWriter
from humo_data.schema import rejects_schema, triplet_schema


class ResumeConflict(RuntimeError):
    """The output directory holds a dataset written with a different config."""


def reject_id_for(row: dict[str, Any]) -> str:
    key = "|".join(
        str(row.get(k))
        for k in ("source_id", "source_uri", "_reject_stage", "_reject_reason", "clip_id", "start_time")
    )
    return hashlib.sha256(key.encode()).hexdigest()[:24]


def to_reject_row(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "reject_id": reject_id_for(row),
        "source_id": row.get("source_id"),
        "source_uri": row["source_uri"],
        "clip_id": row.get("clip_id"),
        "stage": row["_reject_stage"],
        "reason": row["_reject_reason"],
        "detail": row.get("_reject_detail"),
        "start_time": row.get("start_time"),
        "end_time": row.get("end_time"),
    }


class _SourceState:
    __slots__ = ("seen", "expected", "open_rows", "source_id", "rows", "announced", "duplicate_of")

    def __init__(self) -> None:
        self.seen = 0
        self.expected: int | None = None
        self.open_rows = 0
        self.source_id: str | None = None
        self.rows = 0
        self.announced = False
        self.duplicate_of: str | None = None


class DatasetWriter:
    def __init__(
        self,
        root: str | Path,
        config: CurateConfig,
        backends: dict[str, str],
        input_desc: str,
        on_source_processed: Callable[[str], None] | None = None,
    ):
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self.config = config
        # called once per source when all its rows have arrived (committed or not): progress display
        self.on_source_processed = on_source_processed or (lambda uri: None)
        previous = Manifest.load(self.root)
        if previous is not None and previous.config_hash != config.config_hash():
            raise ResumeConflict(
                f"{self.root} holds a dataset written with another config (hash {previous.config_hash}, "
                f"now {config.config_hash()}). Rerun with the same --config/--set values to resume, "
                "or choose a new --output."
            )
        self.resumed = previous is not None
        self.manifest = previous or Manifest(
            config=config.model_dump(mode="json"), config_hash=config.config_hash(), backends=backends
        )
        self.manifest.status = "running"
        self.manifest.backends.update(backends)
        self.manifest.runs.append({"started_at": utc_now(), "finished_at": None, "input": input_desc,
                                   "resumed": self.resumed})  # fmt: skip
        self._remove_uncommitted()
        self.ledger = Ledger(self.root)
        self.manifest.counts.sources_done = len(self.ledger)
        self.clip_ids = self._committed_ids("triplets", "clip_id")
        self.reject_ids = self._committed_ids("rejects", "reject_id")
        self._sources: dict[str, _SourceState] = defaultdict(_SourceState)
        # source_id -> the uri whose rows are kept; byte-identical copies under other names are
        # rejected as duplicate_content instead of repeating (or mixing) the same clips.
        self._owner: dict[str, str] = {
            e["source_id"]: e["uri"] for e in self.ledger.done.values() if e.get("source_id")
        }
        w = config.writer
        self.triplets = ShardWriter(
            self.root, "triplets", triplet_schema(),
            rows_per_shard=w.rows_per_shard, row_group_rows=w.row_group_rows, compression=w.compression,
            next_index=len(self.manifest.shards["triplets"]), on_commit=self._committed("triplets"),
        )  # fmt: skip
        self.rejects = ShardWriter(
            self.root, "rejects", rejects_schema(),
            rows_per_shard=w.rejects_per_shard, row_group_rows=w.rejects_per_shard, compression=w.compression,
            next_index=len(self.manifest.shards["rejects"]), on_commit=self._committed("rejects"),
        )  # fmt: skip
        self.manifest.save(self.root)
        self.rows_written = 0

    # --- resume ---------------------------------------------------------------------------------
    def _listed(self, kind: str) -> set[str]:
        return {Path(s["path"]).name for s in self.manifest.shards[kind]}

    def _remove_uncommitted(self) -> None:
        """Delete temp files and shards that a killed run renamed but never listed in the manifest."""
        for kind in ("triplets", "rejects"):
            folder = self.root / kind
            if not folder.exists():
                continue
            listed = self._listed(kind)
            for f in folder.iterdir():
                if f.name.endswith(".tmp") or (f.suffix == ".parquet" and f.name not in listed):
                    f.unlink()

    def _committed_ids(self, kind: str, column: str) -> set[str]:
        ids: set[str] = set()
        for shard in self.manifest.shards[kind]:
            ids.update(pq.read_table(self.root / shard["path"], columns=[column]).column(column).to_pylist())
        return ids

    def finished(self, uri: str) -> bool:
        return uri in self.ledger

    # --- rows -----------------------------------------------------------------------------------
    def add(self, row: dict[str, Any]) -> None:
        uri = row["source_uri"]
        state = self._sources[uri]
        state.source_id = state.source_id or row.get("source_id")
        if state.source_id and state.duplicate_of is None:
            owner = self._owner.setdefault(state.source_id, uri)
            state.duplicate_of = owner if owner != uri else None
        kind = row.get("_kind")
        if kind == "done":
            state.expected = int(row["_rows_expected"])
        elif state.duplicate_of is not None:
            state.seen += 1  # a copy of another source: its rows are dropped, one reject says why
            if kind == "source":
                state.expected = 1
        elif row.get("_reject_reason") is not None:
            state.seen += 1
            if kind == "source":  # rejected before cutting: the whole source is this one row
                state.expected = 1
            self._add_reject(row, state)
        else:
            state.seen += 1
            self._add_clip(row, state)
        self._maybe_finish(uri)

    def _add_clip(self, row: dict[str, Any], state: _SourceState) -> None:
        if row["clip_id"] in self.clip_ids:
            return  # committed by an earlier (killed) run
        self.clip_ids.add(row["clip_id"])
        state.open_rows += 1
        state.rows += 1
        self.triplets.add({k: row.get(k) for k in triplet_schema().names},
                          {"uri": row["source_uri"], "seconds": row["end_time"] - row["start_time"]})  # fmt: skip

    def _add_reject(self, row: dict[str, Any], state: _SourceState) -> None:
        reject = to_reject_row(row)
        if reject["reject_id"] in self.reject_ids:
            return
        self.reject_ids.add(reject["reject_id"])
        state.open_rows += 1
        state.rows += 1
        self.rejects.add(
            reject, {"uri": row["source_uri"], "stage": reject["stage"], "reason": reject["reason"]}
        )

    def _maybe_finish(self, uri: str) -> None:
        state = self._sources[uri]
        if state.expected is None or state.seen < state.expected:
            return
        if not state.announced:
            state.announced = True
            self.on_source_processed(uri)
            if state.duplicate_of is not None:
                row = {"source_uri": uri, "source_id": state.source_id, "_reject_stage": "sources",
                       "_reject_reason": "duplicate_content",
                       "_reject_detail": f"same bytes as {state.duplicate_of}; its clips are kept once"}  # fmt: skip
                self._add_reject(row, state)
        if state.open_rows:
            return
        self.ledger.append([{"uri": uri, "source_id": state.source_id, "rows": state.rows,
                             "finished_at": utc_now()}])  # fmt: skip
        self.manifest.counts.sources_done = len(self.ledger)
        del self._sources[uri]

    def _committed(self, kind: str) -> Callable[[ShardInfo, list[dict[str, Any]]], None]:
        def on_commit(info: ShardInfo, keys: list[dict[str, Any]]) -> None:
            counts = self.manifest.counts
            self.manifest.shards[kind].append(info.to_json())
            for key in keys:
                if kind == "triplets":
                    counts.triplets += 1
                    counts.video_seconds += key["seconds"]
                else:
                    counts.rejects += 1
                    counts.rejects_by_stage[key["stage"]] += 1
                    counts.rejects_by_reason[f"{key['stage']}/{key['reason']}"] += 1
            self.manifest.save(self.root)  # the commit point: the shard now exists for readers
            touched = set()
            for key in keys:
                self._sources[key["uri"]].open_rows -= 1
                touched.add(key["uri"])
            for uri in touched:
                self._maybe_finish(uri)

        return on_commit

    # --- end ------------------------------------------------------------------------------------
    def close(self, complete: bool = True) -> Manifest:
        self.triplets.flush()
        self.rejects.flush()
        unfinished = [u for u, s in self._sources.items() if s.expected is None or s.seen < s.expected]
        self.manifest.status = "complete" if complete and not unfinished else "running"
        self.manifest.runs[-1]["finished_at"] = utc_now()
        self.manifest.save(self.root)
        return self.manifest
