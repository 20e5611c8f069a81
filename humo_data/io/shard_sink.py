"""Worker-side shard writing: the last op of the streaming pass.

Each call gets a batch of working rows (``writer.rows_per_shard`` of them), splits it into the
dataset's tables and writes one shard per table straight to the output store (local or object
storage), hashing while writing. What goes back to the driver is a small table of records —
shard infos and one light line per row (source, unit, seconds, reason) — never media.

    triplets/part-<key>.parquet         live clip rows (triplet schema)
    rejects/part-<key>.parquet          rejected sources and clips (rejects schema)
    features/<name>/part-<key>.parquet  per-clip feature structs (schemas/features_<name>)

``key`` = ``<run_id>-<random>``: names never collide across tasks, retries or runs. A retried
task writes new files; the driver commits only the records it receives, and a file no record
lists is deleted as a leftover.
"""

from __future__ import annotations

import json
import time
import uuid
from collections import Counter
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from humo_data.io.shards import feature_table, reject_rows, shard_name, write_table
from humo_data.io.store import Store
from humo_data.schema import FEATURE_TABLES, conform, triplet_schema
from humo_data.stage_stats import collect

RECORD_SCHEMA = pa.schema(
    [
        pa.field("t", pa.string()),  # shard | row | done | retry | stats
        pa.field("table", pa.string()),
        pa.field("key", pa.string()),
        pa.field("source_uri", pa.string()),
        pa.field("source_id", pa.string()),
        pa.field("unit", pa.string()),
        pa.field("unit_parts", pa.int32()),
        pa.field("seconds", pa.float64()),
        pa.field("stage", pa.string()),
        pa.field("reason", pa.string()),
        pa.field("json", pa.string()),  # shard info / expected units / stats / error detail
    ]
)


class ShardSink:
    """Ray Data callable (task pool): writes a batch as shards, returns commit records."""

    def __init__(
        self, store_spec: dict[str, Any], run_id: str, *, row_group_rows: int = 16, compression: str = "zstd"
    ):
        self.store_spec, self.run_id = store_spec, run_id
        self.row_group_rows, self.compression = row_group_rows, compression
        self._store: Store | None = None

    @property
    def store(self) -> Store:
        if self._store is None:
            self._store = Store.from_spec(self.store_spec)
        return self._store

    def __call__(self, batch: pa.Table) -> pa.Table:
        t0, c0 = time.perf_counter(), time.process_time()
        batch = conform(batch)
        key = f"{self.run_id}-{uuid.uuid4().hex[:12]}"
        records: list[dict[str, Any]] = []
        kind = np.asarray(
            pc.fill_null(batch.column("_kind"), "").to_numpy(zero_copy_only=False), dtype=object
        )
        rejected = np.asarray(batch.column("_reject_reason").is_valid().to_numpy(zero_copy_only=False), bool)
        is_clip = (kind == "clip") & ~rejected
        is_reject = rejected & ((kind == "clip") | (kind == "source"))
        if is_clip.any():
            records += self._write_triplets(batch.filter(pa.array(is_clip)), key)
        if is_reject.any():
            records += self._write_rejects(batch.filter(pa.array(is_reject)), key)
        for row in (
            batch.filter(pa.array(kind == "done"))
            .select(["source_uri", "source_id", "_expected_units", "_source_stats"])
            .to_pylist()
        ):
            records.append(
                {"t": "done", "source_uri": row["source_uri"], "source_id": row["source_id"],
                 "json": json.dumps({"units": row["_expected_units"] or [], "stats": row["_source_stats"] or {}})}
            )  # fmt: skip
        for row in (
            batch.filter(pa.array(kind == "retry"))
            .select(["source_uri", "_reject_stage", "_reject_detail"])
            .to_pylist()
        ):
            records.append({"t": "retry", "source_uri": row["source_uri"], "stage": row["_reject_stage"],
                            "json": json.dumps({"detail": row["_reject_detail"]})})  # fmt: skip
        stats = collect(batch)
        if is_clip.any():  # which encoder and decoder made the clips (auto differs per worker)
            for column, key in (("video_encoder", "video_encoders"), ("video_decoder", "video_decoders")):
                names = batch.column(column).filter(pa.array(is_clip)).to_pylist()
                stats.setdefault("clips", {})[key] = dict(Counter(n or "unknown" for n in names))
        # sources NVDEC did not decode (clips.decoder), by reason
        done_stats = batch.filter(pa.array(kind == "done")).column("_source_stats").to_pylist()
        fallbacks = [s["decoder_fallback"] for s in done_stats if s and s.get("decoder_fallback")]
        if fallbacks:
            stats.setdefault("clips", {})["decoder_fallbacks"] = dict(Counter(fallbacks))
        written = int(is_clip.sum() + is_reject.sum())
        stats["write"] = {"rows_in": written, "rows_out": written, "seconds": time.perf_counter() - t0,
                          "cpu_seconds": time.process_time() - c0}  # fmt: skip
        records.append({"t": "stats", "json": json.dumps(stats)})
        return pa.Table.from_pylist(records, schema=RECORD_SCHEMA)

    def _shard_record(self, table: str, key: str, info: dict[str, Any], sources: list[str]) -> dict[str, Any]:
        return {"t": "shard", "table": table, "key": key, "json": json.dumps({**info, "sources": sources})}

    def _write_triplets(self, live: pa.Table, key: str) -> list[dict[str, Any]]:
        schema = triplet_schema()
        out = pa.Table.from_arrays([live.column(n).cast(f.type) for n, f in zip(schema.names, schema, strict=True)],
                                   schema=schema)  # fmt: skip
        rel = shard_name("triplets", key)
        info = write_table(
            self.store, rel, out, row_group_rows=self.row_group_rows, compression=self.compression
        )
        light = live.select(
            ["source_uri", "source_id", "_unit", "_unit_parts", "start_time", "end_time"]
        ).to_pylist()
        records = [self._shard_record("triplets", key, info, sorted({r["source_uri"] for r in light}))]
        records += [
            {"t": "row", "table": "triplets", "key": key, "source_uri": r["source_uri"], "source_id": r["source_id"],
             "unit": r["_unit"], "unit_parts": r["_unit_parts"], "seconds": r["end_time"] - r["start_time"]}
            for r in light
        ]  # fmt: skip
        for name in FEATURE_TABLES:
            records += self._write_features(live, name, key)
        return records

    def _write_features(self, live: pa.Table, name: str, key: str) -> list[dict[str, Any]]:
        table = feature_table(live, name)
        if table is None:
            return []
        rel = shard_name(f"features/{name}", key)
        info = write_table(self.store, rel, table, row_group_rows=self.row_group_rows * 4,
                           compression=self.compression)  # fmt: skip
        return [self._shard_record(f"features/{name}", key, info, [])]

    def _write_rejects(self, rows: pa.Table, key: str) -> list[dict[str, Any]]:
        light = rows.select(
            ["source_uri", "source_id", "clip_id", "_reject_stage", "_reject_reason", "_reject_detail",
             "start_time", "end_time", "_unit", "_unit_parts", "_kind", "source_meta"]
        ).to_pylist()  # fmt: skip
        table = reject_rows(light)
        rel = shard_name("rejects", key)
        info = write_table(self.store, rel, table, row_group_rows=4096, compression=self.compression)
        records = [self._shard_record("rejects", key, info, sorted({r["source_uri"] for r in light}))]
        for r, out in zip(light, table.select(["reject_id", "stage", "reason"]).to_pylist(), strict=True):
            records.append(
                {"t": "row", "table": "rejects", "key": key, "source_uri": r["source_uri"],
                 "source_id": r["source_id"], "unit": r["_unit"] or out["reject_id"], "unit_parts": r["_unit_parts"],
                 "stage": out["stage"], "reason": out["reason"],
                 "json": json.dumps({"whole_source": r["_kind"] == "source", "detail": r["_reject_detail"]})}
            )  # fmt: skip
        return records
