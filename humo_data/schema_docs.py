"""Render schemas/README.md from the schema files (the files are the source of truth).

    python -m humo_data.schema_docs > schemas/README.md

``tests/io/test_validate.py`` fails when the committed README differs from this rendering.
"""

from __future__ import annotations

import json
from typing import Any

from humo_data.schema import (
    FEATURE_TABLES,
    MANIFEST_VERSION,
    REJECTS_VERSION,
    TRIPLET_RENAMES,
    TRIPLET_VERSION,
    _schemas_dir,
    manifest_json_schema,
)

INTRO = """# Output schemas

Versioned contracts of a humo-data dataset. The code loads these files (`humo_data/schema.py`);
nothing else declares a column. This page is generated from them
(`python -m humo_data.schema_docs > schemas/README.md`); edit the schema file first.

```
OUT/
  _manifest.json                  manifest.v2.json: the compacted commit point; lists every shard
  _log/<run>-<seq>.jsonl          commit records since the last compaction (replayed by readers of humo-data)
  _ledger/<run>-<seq>.jsonl       finished sources (resume); not part of the read contract
  triplets/part-<key>.parquet     triplet.v2.json: one row per accepted clip
  rejects/part-<key>.parquet      rejects.v2.json: one row per rejected source or clip
  features/faces/part-<key>.parquet  features_faces.v1.json: per-clip face data keyed by clip_id
  tables/<stage>/part-<key>.parquet  side tables of later phases, merged into triplets by the finish phase
  report/index.html               human-readable report
```

Readers need no humo-data: `pyarrow.dataset.dataset("OUT/triplets")`, duckdb
`SELECT * FROM 'OUT/triplets/*.parquet'`, `datasets.load_dataset("parquet", data_files="OUT/triplets/*.parquet")`.
Only committed shards count: a `part-*.parquet` that neither the manifest nor the log lists is the
leftover of a killed run (the next run deletes it; `validate` reports it). In a finished dataset
(`status: complete`) every file under `triplets/` is committed.

**Versions.** Triplet v2 renamed `references` to `reference_images` (`references` is an SQL
keyword) and added the faces, identity, audio, sync, quality, flag and provenance columns; v1
shards stay readable: `humo_data.schema.upgrade_triplet_table` renames on read, and the trainer,
`inspect` and the report use it.
"""


def _type(spec: Any) -> str:
    if isinstance(spec, str):
        return spec
    if "list" in spec:
        return f"list<{_type(spec['list'])}>"
    if "map" in spec:
        return f"map<{_type(spec['map'][0])}, {_type(spec['map'][1])}>"
    if "struct" in spec:
        return "struct"
    return str(spec)


def _table_section(name: str, version: int, title: str | None = None) -> str:
    raw = json.loads((_schemas_dir() / f"{name}.v{version}.json").read_text())
    lines = [f"## {title or name} v{version} (`{name}.v{version}.json`)", "", raw.get("doc", ""), ""]
    lines += ["| column | type | null | doc |", "|---|---|---|---|"]
    for c in raw["columns"]:
        null = "yes" if c.get("nullable", True) else "no"
        lines.append(f"| `{c['name']}` | {_type(c['type'])} | {null} | {c.get('doc', '')} |")
        inner = c["type"]
        while isinstance(inner, dict) and "list" in inner:
            inner = inner["list"]
        if isinstance(inner, dict) and "struct" in inner:
            for f in inner["struct"]:
                lines.append(f"| `{c['name']}.{f['name']}` | {_type(f['type'])} | | {f.get('doc', '')} |")
    return "\n".join(lines) + "\n"


def _manifest_section() -> str:
    schema = manifest_json_schema()
    lines = [f"## manifest v{MANIFEST_VERSION} (`manifest.v{MANIFEST_VERSION}.json`, JSON Schema)", "",
             schema.get("description", ""), "", "| key | type | doc |", "|---|---|---|"]  # fmt: skip

    def walk(node: dict[str, Any], prefix: str) -> None:
        for key, sub in node.get("properties", {}).items():
            kind = "const" if "const" in sub else "enum" if "enum" in sub else sub.get("type", "object")
            if isinstance(kind, list):
                kind = " or ".join(kind)
            lines.append(f"| `{prefix}{key}` | {kind} | {sub.get('description', '')} |")
            walk(sub, f"{prefix}{key}.")

    walk(schema, "")
    shard = schema["$defs"]["shard"]
    for key, sub in shard["properties"].items():
        lines.append(f"| `tables.*[].{key}` | {sub.get('type')} | {sub.get('description', '')} |")
    return "\n".join(lines) + "\n"


def render() -> str:
    parts = [INTRO, _table_section("triplet", TRIPLET_VERSION)]
    renames = ", ".join(f"`{old}` -> `{new}`" for old, new in TRIPLET_RENAMES.items())
    parts.append(
        f"Renamed since v1: {renames}. v1 is kept as `triplet.v1.json` for readers of old datasets.\n"
    )
    parts.append(_table_section("rejects", REJECTS_VERSION))
    for name, version in FEATURE_TABLES.items():
        parts.append(_table_section(f"features_{name}", version))
    parts.append(_manifest_section())
    return "\n".join(parts)


if __name__ == "__main__":
    print(render(), end="")
