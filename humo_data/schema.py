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

TRIPLET_VERSION = 1
REJECTS_VERSION = 1
MANIFEST_VERSION = 1

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


def manifest_json_schema() -> dict[str, Any]:
    """JSON Schema of ``_manifest.json`` (schemas/manifest.v1.json)."""
    return json.loads((_schemas_dir() / f"manifest.v{MANIFEST_VERSION}.json").read_text())


# --- working rows -------------------------------------------------------------------------------
# Rows travel between stages with the triplet columns plus these internal ones (never written):
#   _kind           "source" before cutting, "clip" after, "done" = end-of-source marker
#   _reject_*       set by Stage.reject(); the writer routes such rows to rejects/
#   _rows_expected  on a "done" marker: clip + reject rows the source produced, so the writer knows
#                   when a source is complete even if blocks arrive out of order
#   _source_size    bytes of the source file
WORK_COLUMNS: tuple[pa.Field, ...] = (
    pa.field("_kind", pa.string()),
    pa.field("_reject_stage", pa.string()),
    pa.field("_reject_reason", pa.string()),
    pa.field("_reject_detail", pa.string()),
    pa.field("_rows_expected", pa.int64()),
    pa.field("_source_size", pa.int64()),
)


@cache
def work_schema() -> pa.Schema:
    """Schema of rows between stages: every triplet column nullable, plus the internal columns."""
    fields = [f.with_nullable(True) for f in triplet_schema()] + list(WORK_COLUMNS)
    return pa.schema(fields)
