"""Check a curated dataset against its contract: manifest, shard integrity, schemas, counts.

    problems = validate_dataset("out/")   # [] when valid; each problem names the file it is about

Works on any store (local, s3://, ...). Everything streams: shards are hashed in chunks and only
small columns (ids, stage, reason) are read, so validating a multi-GB dataset needs little
memory. The manifest (compacted + its log replayed) is checked against schemas/manifest.v2.json
with a small JSON-Schema walker (the subset that file uses), so no extra dependency is needed.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from humo_data.io.dataset import Dataset, DatasetNotFound, leftover_files, open_dataset
from humo_data.schema import (
    FEATURE_TABLES,
    MANIFEST_VERSION,
    REJECTS_VERSION,
    TRIPLET_VERSION,
    feature_spec,
    manifest_json_schema,
    rejects_schema,
    triplet_schema,
)

HASH_CHUNK = 8 << 20


def _tables() -> dict[str, tuple[str, pa.Schema]]:
    """Manifest table -> (id column, contract schema)."""
    out = {"triplets": ("clip_id", triplet_schema()), "rejects": ("reject_id", rejects_schema())}
    for name in FEATURE_TABLES:
        out[f"features/{name}"] = ("clip_id", feature_spec(name).schema)
    return out


def validate_dataset(path: str) -> list[str]:
    """All problems found in the dataset at ``path``; an empty list means it is valid."""
    try:
        ds = open_dataset(str(path))
    except DatasetNotFound as err:
        return [str(err)]
    except ValueError as err:  # json.JSONDecodeError
        return [f"_manifest.json is not valid JSON: {err}"]
    except Exception as err:  # noqa: BLE001 - a corrupt manifest is a finding, not a crash
        return [f"{path}: manifest cannot be read: {type(err).__name__}: {err}"]
    raw = ds.store.read_json("_manifest.json")  # as written (the state fills defaults in memory)
    problems = [f"_manifest.json: {p}" for p in check_json(raw, manifest_json_schema())]
    manifest = ds.manifest
    if problems:  # shard checks below rely on the manifest's structure
        return problems
    problems += _check_versions(manifest["schema_versions"])
    if manifest["status"] != "complete":
        problems.append(f"run not finished (status {manifest['status']!r}); rerun the same command to resume")

    rows: dict[str, int] = {}
    reasons: Counter[str] = Counter()
    for kind, (id_column, schema) in _tables().items():
        seen_ids: set[str] = set()
        rows[kind] = 0
        for entry in ds.shards(kind):
            shard_problems, n = _check_shard(ds, kind, entry, schema, id_column, seen_ids, reasons)
            problems += shard_problems
            rows[kind] += n
    pending = [t for t in manifest["tables"] if t.startswith("tables/") and manifest["tables"][t]]
    if pending and manifest["status"] == "complete":
        problems.append(f"side tables {pending} are not merged yet; rerun curate to finish")
    problems += [
        f"{rel}: on disk but not committed (left by a killed run); rerun the same command to resume, or delete it"
        for rel in leftover_files(ds)
    ]
    problems += _check_counts(manifest["counts"], rows, reasons)
    return problems


# --- manifest -----------------------------------------------------------------------------------


def _check_versions(versions: dict[str, int]) -> list[str]:
    ours = {"triplet": TRIPLET_VERSION, "rejects": REJECTS_VERSION, "manifest": MANIFEST_VERSION}
    ours.update({f"features_{n}": v for n, v in FEATURE_TABLES.items() if f"features_{n}" in versions})
    return [
        f"written with {name} schema v{versions[name]}; this humo-data reads v{v} (upgrade humo-data)"
        for name, v in ours.items()
        if versions[name] != v
    ]


def _check_counts(counts: dict[str, Any], rows: dict[str, int], reasons: Counter[str]) -> list[str]:
    problems = []
    for kind in ("triplets", "rejects"):
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
    ds: Dataset,
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
        return [f"{rel}: listed under tables.{kind} but not in {kind}/"], 0
    if not ds.store.exists(rel):
        return [f"{rel}: listed in the manifest but missing"], 0
    problems = []
    size = ds.store.size(rel)
    if size != entry["bytes"]:
        problems.append(f"{rel}: {size} bytes stored, manifest says {entry['bytes']}")
    digest = ds.store.sha256(rel, HASH_CHUNK)
    if digest != entry["sha256"]:
        problems.append(
            f"{rel}: sha256 {digest[:12]}... does not match the manifest's {entry['sha256'][:12]}..."
        )
    try:
        pf = pq.ParquetFile(ds.store.open_read(rel))
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
