"""The output contract, loaded from the versioned files in ``schemas/``.

This is the one place where column names live in code: every other module asks this one for a
schema (``triplet_schema()``) or a column list, never re-declares them. A new stage adds prefixed
columns in a new schema version file.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import pyarrow as pa

TRIPLET_VERSION = 2
REJECTS_VERSION = 2
MANIFEST_VERSION = 2

#: triplet columns renamed since an older version: old name -> current name. Readers of v1 shards
#: go through ``upgrade_triplet_table`` / ``file_column_for``, so v1 datasets stay readable.
TRIPLET_RENAMES: dict[str, str] = {"references": "reference_images"}

_PRIMITIVES: dict[str, pa.DataType] = {
    "string": pa.string(),
    "binary": pa.binary(),
    "bool": pa.bool_(),
    "int32": pa.int32(),
    "int64": pa.int64(),
    "float32": pa.float32(),
    "float64": pa.float64(),
}


def _schemas_dir() -> Path:
    """schemas/ (repo root); in a wheel the humo_data/_schemas link is a real folder."""
    return Path(__file__).parent / "_schemas"


def _to_arrow(spec: Any) -> pa.DataType:
    if isinstance(spec, str):
        return _PRIMITIVES[spec]
    if "list" in spec:
        return pa.list_(_to_arrow(spec["list"]))
    if "map" in spec:
        key, value = spec["map"]
        return pa.map_(_to_arrow(key), _to_arrow(value))
    if "struct" in spec:
        return pa.struct([pa.field(f["name"], _to_arrow(f["type"])) for f in spec["struct"]])
    raise ValueError(f"unknown type spec in schema file: {spec!r}")


@dataclass(frozen=True)
class TableSpec:
    """A versioned table contract: the Arrow schema plus the doc of every column."""

    name: str
    version: int
    schema: pa.Schema
    docs: dict[str, str]

    @property
    def columns(self) -> list[str]:
        return self.schema.names


@cache
def load_table_spec(name: str, version: int) -> TableSpec:
    path = _schemas_dir() / f"{name}.v{version}.json"
    raw = json.loads(path.read_text())
    fields = [
        pa.field(c["name"], _to_arrow(c["type"]), nullable=c.get("nullable", True)) for c in raw["columns"]
    ]
    meta = {b"humo_data.table": name.encode(), b"humo_data.version": str(version).encode()}
    return TableSpec(
        name=name,
        version=version,
        schema=pa.schema(fields, metadata=meta),
        docs={c["name"]: c.get("doc", "") for c in raw["columns"]},
    )


def triplet_spec() -> TableSpec:
    return load_table_spec("triplet", TRIPLET_VERSION)


def rejects_spec() -> TableSpec:
    return load_table_spec("rejects", REJECTS_VERSION)


def triplet_schema() -> pa.Schema:
    return triplet_spec().schema


def rejects_schema() -> pa.Schema:
    return rejects_spec().schema


def file_column_for(name: str, file_schema: pa.Schema) -> str | None:
    """The column holding current column ``name`` in a shard written with any triplet version."""
    if name in file_schema.names:
        return name
    for old, new in TRIPLET_RENAMES.items():
        if new == name and old in file_schema.names:
            return old
    return None


#: gate reasons the audio / sync stages wrote into stage2_reason before each gate had its own
#: column (audio_gate / sync_gate); finish's derived reasons (not_stage1, ...) are not gates
LEGACY_AUDIO_GATES = frozenset({"no_audio", "not_enough_speech", "several_speakers", "audio_clipped",
                                "asr_low_logprob", "asr_no_speech", "asr_repetitive"})  # fmt: skip
LEGACY_SYNC_GATES = frozenset({"out_of_sync", "low_sync_confidence", "no_face_track", "no_face", "too_short"})


def upgrade_triplet_table(table: pa.Table) -> pa.Table:
    """A triplet table of any version with current column names (v1 ``references`` ->
    ``reference_images``); columns added since stay absent (readers treat them as null), except the
    gate columns, recovered from ``stage2_reason`` for shards written before they existed."""
    renames = {old: new for old, new in TRIPLET_RENAMES.items() if old in table.column_names}
    if renames:
        table = table.rename_columns([renames.get(n, n) for n in table.column_names])
    if "stage2_reason" in table.column_names:
        reasons = table.column("stage2_reason").to_pylist()
        for column, gates, ran in (("audio_gate", LEGACY_AUDIO_GATES, "speech_backend"),
                                   ("sync_gate", LEGACY_SYNC_GATES, "sync_backend")):  # fmt: skip
            if column in table.column_names or ran not in table.column_names:
                continue
            table = table.append_column(
                column, pa.array([r if r in gates else None for r in reasons], pa.string())
            )
    return table


def manifest_json_schema() -> dict[str, Any]:
    """JSON Schema of ``_manifest.json`` (schemas/manifest.v2.json)."""
    return json.loads((_schemas_dir() / f"manifest.v{MANIFEST_VERSION}.json").read_text())


# --- feature tables -----------------------------------------------------------------------------
# Heavy per-clip arrays live beside the triplets in OUT/features/<name>/, keyed by clip_id, so
# triplet shards stay light. A stage fills the working column ``_features_<name>`` (a struct of the
# table's columns after clip_id/source_id); the shard writer routes it to its table.
FEATURE_TABLES: dict[str, int] = {"faces": 1}
FEATURE_KEYS = ("clip_id", "source_id")


def feature_spec(name: str) -> TableSpec:
    return load_table_spec(f"features_{name}", FEATURE_TABLES[name])


def feature_work_column(name: str) -> str:
    return f"_features_{name}"


# --- working rows -------------------------------------------------------------------------------
# Rows travel between stages with the triplet columns plus these internal ones (never written as
# triplet columns):
#   _kind            "source" before cutting, "clip" after, "done" = end-of-source marker,
#                    "retry" = the source hit a retryable I/O error (listed for the next run)
#   _unit            the id completion is tracked by (clip_id for clips, reject_id for rejects
#                    emitted by the cutter); later stages never change it
#   _unit_parts      rows sharing one _unit after a fan-out stage (null = 1)
#   _expected_units  on a "done" marker: every _unit the source produced, so the writer knows a
#                    source is complete whatever order its rows arrive in
#   _reject_*        set by a stage's reject; the writer routes such rows to rejects/
#   _source_size     bytes of the source file
#   _frames          frames sampled by the cutter at source resolution (capped): clip-relative
#                    time, frame index in the clip, size and encoded image (FramesConfig)
#   _motion          mean |difference| of consecutive frames at detection size, [0, 1], per frame
#   _audio_pcm       float32 little-endian mono PCM of the clip plus _audio_margin seconds on each
#                    side (zero where the source has none): the sync stage shifts audio with it
#   _audio_vocals    the same framing as _audio_pcm after vocal separation (set only when the audio
#                    stage separated music/noise): VAD, ASR and sync use it, the stored audio stays the mix
#   _source_stats    on a "done" marker: frames decoded, blank frames, short tails dropped, time ranges (counted
#                    in the manifest: nothing is dropped without a number), why NVDEC did not decode it
#   _features_<name> per-clip feature struct routed to OUT/features/<name>/ (FEATURE_TABLES)
#   _stage_stats     per stage that worked on the row: its share of the stage's wall and CPU
#                    seconds (a fan-out stage's cost rides on the source's "done" marker); the
#                    shard writer sums them into the manifest's per-stage stats
FRAME_TYPE = pa.struct(
    [
        pa.field("index", pa.int32()),
        pa.field("time", pa.float64()),
        pa.field("width", pa.int32()),
        pa.field("height", pa.int32()),
        pa.field("image", pa.binary()),
    ]
)
WORK_COLUMNS: tuple[pa.Field, ...] = (
    pa.field("_kind", pa.string()),
    pa.field("_unit", pa.string()),
    pa.field("_unit_parts", pa.int32()),
    pa.field("_expected_units", pa.list_(pa.string())),
    pa.field("_reject_stage", pa.string()),
    pa.field("_reject_reason", pa.string()),
    pa.field("_reject_detail", pa.string()),
    pa.field("_source_size", pa.int64()),
    pa.field("_frames", pa.list_(FRAME_TYPE)),
    pa.field("_motion", pa.list_(pa.float32())),
    pa.field("_audio_pcm", pa.binary()),
    pa.field("_audio_margin", pa.float64()),
    pa.field("_audio_vocals", pa.binary()),
    pa.field(
        "_source_stats",
        pa.struct(
            [
                pa.field("frames", pa.int64()),
                pa.field("blank_frames", pa.int64()),
                pa.field("dropped_tails", pa.int32()),
                pa.field("dropped_tail_seconds", pa.float64()),
                pa.field("decoder_fallback", pa.string()),
                pa.field("ranges", pa.int32()),
                pa.field("redone", pa.int32()),
            ]
        ),
    ),
    pa.field(
        "_stage_stats",
        pa.list_(
            pa.struct(
                [
                    pa.field("stage", pa.string()),
                    pa.field("seconds", pa.float64()),
                    pa.field("cpu_seconds", pa.float64()),
                ]
            )
        ),
    ),
)
STAGE_STATS = "_stage_stats"
#: separated vocals (audio stage) for the sync stage: the one place the name is declared
VOCALS_COLUMN = "_audio_vocals"


def _feature_work_fields() -> list[pa.Field]:
    fields = []
    for name in FEATURE_TABLES:
        payload = [f for f in feature_spec(name).schema if f.name not in FEATURE_KEYS]
        fields.append(pa.field(feature_work_column(name), pa.struct(payload)))
    return fields


@cache
def work_schema() -> pa.Schema:
    """Schema of rows between stages: every triplet column nullable, plus the internal columns."""
    fields = [f.with_nullable(True) for f in triplet_schema()] + list(WORK_COLUMNS) + _feature_work_fields()
    return pa.schema(fields)


#: MB-sized columns a rejected row drops at the stage that rejects it
MEDIA_WORK_COLUMNS: tuple[str, ...] = (
    "video", "audio", "reference_images", "_frames", "_audio_pcm", "_audio_vocals",
    *(feature_work_column(n) for n in FEATURE_TABLES),
)  # fmt: skip


def rows_to_table(rows: list[dict[str, Any]]) -> pa.Table:
    """Working rows (dicts) as a table in the full working schema (missing keys -> null)."""
    schema = work_schema()
    return pa.Table.from_pylist([{k: r.get(k) for k in schema.names} for r in rows], schema=schema)


def conform(table: pa.Table) -> pa.Table:
    """``table`` with every working-schema column present (absent ones null), in schema order.
    Lets stages rely on a column existing, and keeps block schemas identical across the stream."""
    schema = work_schema()
    if table.schema.names == schema.names:
        return table
    cols, n = [], table.num_rows
    for f in schema:
        if f.name in table.column_names:
            col = table.column(f.name)
            cols.append(col if col.type == f.type else col.cast(f.type))
        else:
            cols.append(pa.nulls(n, f.type))
    extra = [c for c in table.column_names if c not in schema.names]
    return pa.Table.from_arrays(cols + [table.column(c) for c in extra], names=schema.names + extra)
