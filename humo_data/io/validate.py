"""Check a curated dataset against its contract: manifest, shard integrity, schemas, counts.

    problems = validate_dataset("out/")   # [] when valid; each problem names the file it is about

Everything streams: shards are hashed in chunks and only small columns (ids, stage, reason) are
read, so validating a multi-GB dataset needs little memory. The manifest is checked against
schemas/manifest.v1.json with a small JSON-Schema walker (the subset that file uses), so no
extra dependency is needed.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from humo_data.io.atomic import sha256_file
from humo_data.schema import (
    MANIFEST_VERSION,
    REJECTS_VERSION,
    TRIPLET_VERSION,
    manifest_json_schema,
    rejects_schema,
    triplet_schema,
)

MANIFEST_NAME = "_manifest.json"
HASH_CHUNK = 8 << 20
TABLES: dict[str, tuple[str, str]] = {  # manifest shard key -> (id column, contract name)
    "triplets": ("clip_id", "triplet"),
    "rejects": ("reject_id", "rejects"),
}


def validate_dataset(path: str | Path) -> list[str]:
    """All problems found in the dataset at ``path``; an empty list means it is valid."""
    root = Path(path)
    if not root.is_dir():
        return [f"{root}: not a directory"]
    manifest_path = root / MANIFEST_NAME
    if not manifest_path.is_file():
        return [
            f"{MANIFEST_NAME} missing in {root}: not a humo-data dataset, or its first run never committed"
        ]
    try:
        manifest = json.loads(manifest_path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        return [f"{MANIFEST_NAME} is not valid JSON: {err}"]

    problems = [f"{MANIFEST_NAME}: {p}" for p in check_json(manifest, manifest_json_schema())]
    if problems:  # shard checks below rely on the manifest's structure
        return problems
    problems += _check_versions(manifest["schema_versions"])
    if manifest["status"] != "complete":
        problems.append(f"run not finished (status {manifest['status']!r}); rerun the same command to resume")

    rows: dict[str, int] = {}
    reasons: Counter[str] = Counter()
    for kind, (id_column, contract) in TABLES.items():
        schema = triplet_schema() if contract == "triplet" else rejects_schema()
        seen_ids: set[str] = set()
        rows[kind] = 0
        for entry in manifest["shards"][kind]:
            shard_problems, n = _check_shard(root, kind, entry, schema, id_column, seen_ids, reasons)
            problems += shard_problems
            rows[kind] += n
        problems += _orphans(root, kind, {e["path"] for e in manifest["shards"][kind]})

    counts = manifest["counts"]
    problems += _check_counts(counts, rows, reasons)
    return problems


# --- manifest -----------------------------------------------------------------------------------


def _check_versions(versions: dict[str, int]) -> list[str]:
    ours = {"triplet": TRIPLET_VERSION, "rejects": REJECTS_VERSION, "manifest": MANIFEST_VERSION}
    return [
        f"written with {name} schema v{versions[name]}; this humo-data reads v{v} (upgrade humo-data)"
        for name, v in ours.items()
        if versions[name] != v
    ]


def _check_counts(counts: dict[str, Any], rows: dict[str, int], reasons: Counter[str]) -> list[str]:
    problems = []
    for kind in TABLES:
        if counts[kind] != rows[kind]:
            problems.append(
                f"counts.{kind} is {counts[kind]} but the listed {kind} shards hold {rows[kind]} rows"
            )
    by_reason, by_stage = counts["rejects_by_reason"], counts["rejects_by_stage"]
    if sum(by_reason.values()) != counts["rejects"]:
        problems.append(
            f"counts.rejects_by_reason sums to {sum(by_reason.values())}, not counts.rejects={counts['rejects']}"
        )
    if sum(by_stage.values()) != counts["rejects"]:
        problems.append(
            f"counts.rejects_by_stage sums to {sum(by_stage.values())}, not counts.rejects={counts['rejects']}"
        )
    stage_from_reasons: Counter[str] = Counter()
    for key, n in by_reason.items():
        stage_from_reasons[key.split("/", 1)[0]] += n
    if {k: v for k, v in stage_from_reasons.items() if v} != {k: v for k, v in by_stage.items() if v}:
        problems.append("counts.rejects_by_stage does not match the stages in counts.rejects_by_reason")
    if sum(reasons.values()) == rows["rejects"] and dict(reasons) != {
        k: v for k, v in by_reason.items() if v
    }:
        diff = sorted(set(reasons.items()) ^ {(k, v) for k, v in by_reason.items() if v})
        problems.append(f"counts.rejects_by_reason disagrees with the rejects shards: {diff[:6]}")
    return problems


# --- shards -------------------------------------------------------------------------------------


def _check_shard(
    root: Path,
    kind: str,
    entry: dict[str, Any],
    schema: pa.Schema,
    id_column: str,
    seen_ids: set[str],
    reasons: Counter[str],
) -> tuple[list[str], int]:
    """Problems of one listed shard and the rows it actually holds (0 when unreadable)."""
    rel = entry["path"]
    if not rel.startswith(f"{kind}/"):
        return [f"{rel}: listed under shards.{kind} but not in {kind}/"], 0
    file = root / rel
    if not file.is_file():
        return [f"{rel}: listed in the manifest but missing on disk"], 0
    problems = []
    size = file.stat().st_size
    if size != entry["bytes"]:
        problems.append(f"{rel}: {size} bytes on disk, manifest says {entry['bytes']}")
    digest = sha256_file(file)
    if digest != entry["sha256"]:
        problems.append(
            f"{rel}: sha256 {digest[:12]}... does not match the manifest's {entry['sha256'][:12]}..."
        )
    try:
        pf = pq.ParquetFile(file)
    except (pa.ArrowException, OSError) as err:
        return [*problems, f"{rel}: not a readable Parquet file: {err}"], 0
    n = pf.metadata.num_rows
    if n != entry["rows"]:
        problems.append(f"{rel}: {n} rows, manifest says {entry['rows']}")
    schema_problems = compare_schema(pf.schema_arrow, schema)
    problems += [f"{rel}: {p}" for p in schema_problems]
    if schema_problems:
        return problems, n
    try:
        problems += [f"{rel}: {p}" for p in _check_values(pf, schema, id_column, seen_ids, reasons, kind)]
    except (pa.ArrowException, OSError) as err:
        problems.append(f"{rel}: data cannot be read: {err}")
    return problems, n


def compare_schema(actual: pa.Schema, contract: pa.Schema) -> list[str]:
    """Column names (in order), types and non-null flags of ``actual`` against the contract."""
    problems = []
    names, want = actual.names, contract.names
    missing = [c for c in want if c not in names]
    extra = [c for c in names if c not in want]
    if missing:
        problems.append(f"missing columns {missing}")
    if extra:
        problems.append(f"unexpected columns {extra}")
    if not missing and not extra and names != want:
        problems.append("columns are not in the contract's order")
    for field in contract:
        if field.name not in names:
            continue
        got = actual.field(field.name)
        if not got.type.equals(field.type):
            problems.append(f"column {field.name!r} has type {got.type}, the contract says {field.type}")
        elif not field.nullable and got.nullable:
            problems.append(f"column {field.name!r} must be declared non-nullable")
    return problems


def _iter_column(pf: pq.ParquetFile, columns: list[str]) -> Iterator[pa.RecordBatch]:
    yield from pf.iter_batches(columns=columns, batch_size=65536)


def _check_values(
    pf: pq.ParquetFile,
    schema: pa.Schema,
    id_column: str,
    seen_ids: set[str],
    reasons: Counter[str],
    kind: str,
) -> list[str]:
    """Nulls in non-null columns (from row-group statistics), duplicate ids, reject reasons."""
    problems = []
    for field in schema:
        if field.nullable:
            continue
        nulls = _null_count(pf, field.name)
        if nulls:
            problems.append(f"column {field.name!r} has {nulls} null value(s) but is non-nullable")
    dupes = 0
    for batch in _iter_column(pf, [id_column]):
        for value in batch.column(0).to_pylist():
            if value in seen_ids:
                dupes += 1
            else:
                seen_ids.add(value)
    if dupes:
        problems.append(f"{dupes} {id_column} value(s) already seen (duplicates across or within shards)")
    if kind == "rejects":
        for batch in _iter_column(pf, ["stage", "reason"]):
            for stage, reason in zip(batch.column(0).to_pylist(), batch.column(1).to_pylist(), strict=True):
                reasons[f"{stage}/{reason}"] += 1
    return problems


def _null_count(pf: pq.ParquetFile, column: str) -> int:
    """Nulls in a column: from Parquet statistics when every row group has them, else by reading it."""
    meta = pf.metadata
    index = pf.schema_arrow.get_field_index(column)
    total = 0
    for rg in range(meta.num_row_groups):
        col = meta.row_group(rg).column(_leaf_index(pf, index))
        stats = col.statistics
        if stats is None or not stats.has_null_count:
            return sum(b.column(0).null_count for b in _iter_column(pf, [column]))
        total += stats.null_count
    return total


def _leaf_index(pf: pq.ParquetFile, arrow_index: int) -> int:
    """Parquet leaf column of a top-level primitive Arrow column (nested columns come before it)."""
    name = pf.schema_arrow.names[arrow_index]
    for i in range(pf.metadata.num_columns):
        if pf.metadata.schema.column(i).path == name:
            return i
    raise KeyError(name)


def _orphans(root: Path, kind: str, listed: set[str]) -> list[str]:
    folder = root / kind
    if not folder.is_dir():
        return []
    return [
        f"{kind}/{p.name}: on disk but not in the manifest (left by a killed run); "
        "rerun the same command to resume, or delete it"
        for p in sorted(folder.glob("part-*.parquet"))
        if f"{kind}/{p.name}" not in listed
    ]


# --- a small JSON-Schema walker -----------------------------------------------------------------

_JSON_TYPES: dict[str, tuple[type, ...]] = {
    "object": (dict,),
    "array": (list,),
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
    "null": (type(None),),
}


def check_json(
    value: Any, schema: dict[str, Any], root: dict[str, Any] | None = None, where: str = ""
) -> list[str]:
    """Problems of ``value`` against ``schema``: the keywords schemas/*.json use (type, const, enum,
    required, properties, additionalProperties, items, minimum, minLength, pattern, $ref)."""
    root = root or schema
    label = where or "<root>"
    if "$ref" in schema:
        ref = schema["$ref"]
        if not ref.startswith("#/"):
            raise ValueError(f"only local $ref is supported, got {ref!r}")
        target: Any = root
        for part in ref[2:].split("/"):
            target = target[part]
        return check_json(value, target, root, where)
    if "const" in schema and value != schema["const"]:
        return [f"{label}: must be {schema['const']!r}, got {value!r}"]
    if "enum" in schema and value not in schema["enum"]:
        return [f"{label}: must be one of {schema['enum']}, got {value!r}"]
    if "type" in schema:
        types = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
        if not any(_is_type(value, t) for t in types):
            return [f"{label}: expected {' or '.join(types)}, got {type(value).__name__}"]
    problems: list[str] = []
    if isinstance(value, dict):
        for key in schema.get("required", []):
            if key not in value:
                problems.append(f"{label}: missing required key {key!r}")
        props = schema.get("properties", {})
        extra = schema.get("additionalProperties", True)
        for key, item in value.items():
            sub = f"{where}.{key}" if where else key
            if key in props:
                problems += check_json(item, props[key], root, sub)
            elif extra is False:
                problems.append(f"{label}: unexpected key {key!r}")
            elif isinstance(extra, dict):
                problems += check_json(item, extra, root, sub)
    if isinstance(value, list) and "items" in schema:
        for i, item in enumerate(value):
            problems += check_json(item, schema["items"], root, f"{where}[{i}]")
    number = isinstance(value, (int, float)) and not isinstance(value, bool)
    if number and "minimum" in schema and value < schema["minimum"]:
        problems.append(f"{label}: {value} is below the minimum {schema['minimum']}")
    if isinstance(value, str):
        if len(value) < schema.get("minLength", 0):
            problems.append(f"{label}: must not be empty")
        if "pattern" in schema and not re.search(schema["pattern"], value):
            problems.append(f"{label}: {value!r} does not match {schema['pattern']}")
    return problems


def _is_type(value: Any, name: str) -> bool:
    if name in ("integer", "number") and isinstance(value, bool):
        return False
    if name == "integer" and isinstance(value, float):
        return value.is_integer()
    return isinstance(value, _JSON_TYPES[name])
