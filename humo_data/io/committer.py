"""Driver side of the streaming pass: commit the small records workers send, track sources.

Workers write shards (``io/shard_sink.py``); the driver receives, per shard, its info and one
light line per row, and commits them to the log (``io/manifest.py``). Completion is tracked by
ids: the cutter's ``done`` marker lists every unit (clip or reject id) a source produced, so a
source is finished when each of them is in a committed shard, whatever order rows arrive in and
whatever a stage in between did, and only then enters the ledger.

Duplicates never reach readers: a row whose unit is already committed (a retried Ray task, a
source redone after a crash) is dropped by rewriting that one shard without it.
"""

from __future__ import annotations

import json
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from humo_data import stage_stats
from humo_data.io.manifest import DatasetState, utc_now
from humo_data.io.shards import reason_counts, write_table


@dataclass
class _Source:
    source_id: str | None = None
    expected: list[str] | None = None
    stats: dict[str, Any] = field(default_factory=dict)
    got: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    parts: dict[str, int] = field(default_factory=dict)
    rows: int = 0
    clips: int = 0
    #: (stage, reason) of each reject row, with one detail per pair (for a systemic fault's message)
    rejects: dict[tuple[str, str], str | None] = field(default_factory=dict)
    announced: bool = False


@dataclass
class SystemicFault:
    """Every source of a run was rejected one way: the likely cause is the setup, not the files."""

    stage: str
    reason: str
    detail: str | None
    sources: list[str]

    def message(self) -> str:
        example = f" (e.g. {self.detail})" if self.detail else ""
        return (
            f"systemic fault: all {len(self.sources)} sources of this run were rejected at {self.stage} as "
            f"{self.reason}{example}; nothing of this run was kept and the sources stay to do. Fix the cause "
            "(a missing codec, model or package, a wrong input) and rerun the same command; if these rejects "
            "are what you expect, rerun with --set writer.systemic_fault_min_sources=0."
        )


class Committer:
    """Consumes record tables from ``ShardSink`` and commits them through ``DatasetState``."""

    def __init__(
        self,
        state: DatasetState,
        *,
        row_group_rows: int = 16,
        compression: str = "zstd",
        flush_every_seconds: float = 0.5,
        compact_every_seconds: float = 300.0,
        systemic_fault_min_sources: int = 0,
        on_source_processed: Callable[[str], None] | None = None,
        shard_stages: dict[str, str] | None = None,
    ):
        self.state = state
        self.shard_stages = dict(shard_stages or {})  # stage hashes every new triplet shard reflects
        self.row_group_rows, self.compression = row_group_rows, compression
        self.flush_every, self.compact_every = flush_every_seconds, compact_every_seconds
        self.on_source_processed = on_source_processed or (lambda uri: None)
        self.sources: dict[str, _Source] = defaultdict(_Source)
        self.clips_committed = 0
        self.seconds_committed = 0.0
        self.duplicates_dropped = 0
        self.retryable: list[str] = []
        self._retried: set[str] = set()  # sources given up on in this run: their late rows commit, untracked
        self.notes: list[str] = []
        #: per-stage numbers of this run's stream (summed from the writers' records)
        self.stats: dict[str, dict[str, Any]] = {}
        self._last_flush = time.monotonic()
        # Systemic faults: while this run has committed no clip and every finished source was
        # rejected with one (stage, reason), the sources' ledger records wait here, so that a run
        # found faulty at the end leaves them to do; the first other outcome releases them.
        self.fault_min_sources = systemic_fault_min_sources
        self._holding = systemic_fault_min_sources > 0
        self._held: list[dict[str, Any]] = []
        self._held_uris: set[str] = set()
        self._held_pair: tuple[str, str] | None = None
        self._held_detail: str | None = None
        self._run_shards: list[dict[str, Any]] = []  # (table, key, counts) of every shard committed here
        self._load_open_sources()

    # --- resume ---------------------------------------------------------------------------------
    def _load_open_sources(self) -> None:
        """Units already committed for sources a killed run left unfinished: read only the few
        shards that hold them (``open_sources``), never every shard."""
        open_sources = self.state.manifest.get("open_sources", {})
        by_shard: dict[tuple[str, str], set[str]] = defaultdict(set)
        for uri, shards in open_sources.items():
            if uri in self.state.finished:
                continue
            for table, key in shards:
                by_shard[(table, key)].add(uri)
        for (table, key), uris in by_shard.items():
            entry = self.state.shard(table, key)
            if entry is None:
                continue
            for uri, unit in _units_in_shard(self.state, table, entry["path"], uris):
                src = self.sources[uri]
                src.got[unit] += 1

    # --- records --------------------------------------------------------------------------------
    def add(self, records: pa.Table) -> None:
        rows = records.to_pylist()
        shards = [r for r in rows if r["t"] == "shard"]
        row_lines = [r for r in rows if r["t"] == "row"]
        by_key: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
        for r in row_lines:
            by_key[(r["table"], r["key"])].append(r)
        out: list[dict[str, Any]] = []
        kept_clips: dict[str, set[str]] = {}  # shard key -> clip ids kept after a duplicate rewrite
        for s in shards:
            info = json.loads(s["json"])
            if s["table"].startswith("features/"):
                if s["key"] in kept_clips:
                    info = self._rewrite(s["table"], info, "clip_id", kept_clips[s["key"]])
                if info is not None:
                    out.append(self._feature_record(s, info))
                    self._run_shards.append(out[-1])
                continue
            lines = by_key.get((s["table"], s["key"]), [])
            fresh = [r for r in lines if not self._seen(r)]
            if len(fresh) < len(lines):
                self.duplicates_dropped += len(lines) - len(fresh)
                keep = {r["unit"] for r in fresh}
                if s["table"] == "triplets":
                    kept_clips[s["key"]] = keep
                info = self._rewrite(
                    s["table"], info, "clip_id" if s["table"] == "triplets" else "unit", keep
                )
                if info is None:
                    continue
            for r in fresh:
                if r["source_uri"] in self._retried:
                    continue
                src = self.sources[r["source_uri"]]
                src.source_id = src.source_id or r["source_id"]
                src.got[r["unit"]] += 1
                src.parts[r["unit"]] = r["unit_parts"] or 1
                src.rows += 1
                if s["table"] == "triplets":
                    src.clips += 1
                elif s["table"] == "rejects":
                    pair = (r.get("stage") or "", r.get("reason") or "")
                    src.rejects.setdefault(pair, json.loads(r["json"] or "{}").get("detail"))
            out.append(self._shard_record(s["table"], s["key"], info, fresh))
            self._run_shards.append(out[-1])
        for r in rows:
            if r["t"] == "stats":
                delta = json.loads(r["json"])
                stage_stats.add(self.stats, delta)
                out.append({"t": "stats", "run_id": self.state.run_id, "stages": delta})
            elif r["t"] == "done" and r["source_uri"] not in self._retried:
                payload = json.loads(r["json"])
                src = self.sources[r["source_uri"]]
                src.source_id = src.source_id or r["source_id"]
                src.expected = list(payload["units"])
                src.stats = payload.get("stats") or {}
            elif r["t"] == "retry":
                out.append({"t": "retry", "uri": r["source_uri"], "stage": r["stage"],
                            "detail": json.loads(r["json"]).get("detail"), "at": utc_now()})  # fmt: skip
                self.retryable.append(r["source_uri"])
                self._retried.add(r["source_uri"])
                self.sources.pop(r["source_uri"], None)
                self.on_source_processed(r["source_uri"])
        for r in rows:
            if (
                r["t"] == "row"
                and r["table"] == "rejects"
                and json.loads(r["json"] or "{}").get("whole_source")
            ):
                src = self.sources[r["source_uri"]]
                if src.expected is None:  # rejected before cutting: this row is the whole source
                    src.expected = [r["unit"]]
        self.state.record(out)
        out = self._finish_ready()
        self.state.record(out)
        now = time.monotonic()
        if now - self._last_flush >= self.flush_every:
            self.flush()
        self.state.maybe_compact(self.compact_every)

    def flush(self) -> None:
        self.state.flush()
        self._last_flush = time.monotonic()

    def _seen(self, r: dict[str, Any]) -> bool:
        src = self.sources.get(r["source_uri"])
        if r["source_uri"] in self.state.finished or r["source_uri"] in self._held_uris:
            return True
        return src is not None and src.got.get(r["unit"], 0) >= (r["unit_parts"] or 1)

    def _feature_record(self, s: dict[str, Any], info: dict[str, Any]) -> dict[str, Any]:
        return {
            "t": "shard",
            "table": s["table"],
            "key": s["key"],
            **{k: info[k] for k in ("path", "rows", "bytes", "sha256")},
        }

    def _shard_record(
        self, table: str, key: str, info: dict[str, Any], rows: list[dict[str, Any]]
    ) -> dict[str, Any]:
        if table == "triplets":
            seconds = sum(r["seconds"] or 0.0 for r in rows)
            counts = {"triplets": len(rows), "video_seconds": seconds}
            self.clips_committed += len(rows)
            self.seconds_committed += seconds
        else:
            counts = reason_counts(rows)
        record = {"t": "shard", "table": table, "key": key,
                  **{k: info[k] for k in ("path", "rows", "bytes", "sha256")},
                  "sources": sorted({r["source_uri"] for r in rows}), "counts": counts}  # fmt: skip
        if table == "triplets":
            record["seconds"] = counts["video_seconds"]
            record["stages"] = dict(self.shard_stages)
        return record

    def _rewrite(
        self, table: str, info: dict[str, Any], id_column: str, keep: set[str]
    ) -> dict[str, Any] | None:
        """Rare path (a retried task, a redone source): rewrite a shard keeping only ``keep`` ids;
        delete it when nothing is left."""
        store = self.state.store
        if not keep:
            store.delete(info["path"])
            return None
        data = pq.read_table(store.open_read(info["path"]))
        ids = (
            pc.coalesce(data.column("clip_id"), data.column("reject_id"))
            if id_column == "unit"
            else data.column(id_column)
        )
        kept = data.filter(pc.is_in(ids, value_set=pa.array(sorted(keep))))
        return write_table(
            store, info["path"], kept, row_group_rows=self.row_group_rows, compression=self.compression
        )

    # --- completion -----------------------------------------------------------------------------
    def _finish_ready(self) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for uri in list(self.sources):
            src = self.sources[uri]
            if src.expected is None:
                continue
            if not src.announced:
                src.announced = True
                self.on_source_processed(uri)
            if all(src.got.get(u, 0) >= src.parts.get(u, 1) for u in src.expected):
                stats = src.stats or {}
                delta = {
                    k: stats[k]
                    for k in ("dropped_tails", "dropped_tail_seconds", "blank_frames")
                    if stats.get(k)
                }
                if stats.get("ranges"):  # cut in time ranges by several workers (clips/ranges.py)
                    delta |= {"split_sources": 1, "split_ranges": stats["ranges"]}
                    if stats.get("redone"):
                        delta["split_redone"] = 1
                if delta:
                    out.append({"t": "counts", "counts": delta})
                out += self._hold_or_release(
                    {"t": "source", "uri": uri, "source_id": src.source_id, "rows": src.rows,
                     "finished_at": utc_now()}, src)  # fmt: skip
                del self.sources[uri]
        return out

    # --- systemic faults ------------------------------------------------------------------------
    def _hold_or_release(self, record: dict[str, Any], src: _Source) -> list[dict[str, Any]]:
        if self._holding and src.clips == 0 and len(src.rejects) == 1:
            pair = next(iter(src.rejects))
            if self._held_pair in (None, pair):
                self._held_pair = pair
                self._held_detail = self._held_detail or src.rejects[pair]
                self._held.append(record)
                self._held_uris.add(record["uri"])
                return []
        self._holding = False
        released, self._held = self._held, []
        self._held_uris.clear()
        return [*released, record]

    def settle(self, sources: int) -> SystemicFault | None:
        """End of the stream: a run of ``sources`` (>= ``systemic_fault_min_sources``) whose every
        source was rejected one way is a systemic fault: its shards are dropped and its sources
        recorded as retryable (a rerun after the fix redoes them). Otherwise the held sources
        enter the ledger."""
        held, self._held = self._held, []
        self._held_uris.clear()
        if not (self._holding and self._held_pair and len(held) == sources >= self.fault_min_sources):
            self.state.record(held)
            return None
        stage, reason = self._held_pair
        fault = SystemicFault(stage, reason, self._held_detail, [r["uri"] for r in held])
        drops = [{"t": "drop", "table": r["table"], "key": r["key"], "counts": _negated(r.get("counts") or {})}
                 for r in self._run_shards]  # fmt: skip
        retries = [{"t": "retry", "uri": uri, "stage": stage, "detail": f"systemic fault: {reason} ({fault.detail})", "at": utc_now()}
                   for uri in fault.sources]  # fmt: skip
        self.state.record(drops + retries)
        self.retryable += fault.sources
        self.clips_committed, self.seconds_committed = 0, 0.0
        return fault

    def unfinished(self) -> list[str]:
        return list(self.sources)


def _negated(counts: dict[str, Any]) -> dict[str, Any]:
    return {k: _negated(v) if isinstance(v, dict) else -v for k, v in counts.items()
            if isinstance(v, (dict, int, float)) and not isinstance(v, bool)}  # fmt: skip


def _units_in_shard(state: DatasetState, table: str, path: str, uris: set[str]) -> list[tuple[str, str]]:
    if table == "triplets":
        cols = ["source_uri", "clip_id"]
    elif table == "rejects":
        cols = ["source_uri", "clip_id", "reject_id"]
    else:
        return []
    data = pq.read_table(state.store.open_read(path), columns=cols)
    data = data.filter(pc.is_in(data.column("source_uri"), value_set=pa.array(sorted(uris))))
    out = []
    for r in data.to_pylist():
        out.append(
            (r["source_uri"], r["clip_id"] if table == "triplets" else (r["clip_id"] or r["reject_id"]))
        )
    return out
