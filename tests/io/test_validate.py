"""validate_dataset: a good dataset passes; each kind of damage is found and names its file."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from humo_data.io.validate import check_json, validate_dataset
from humo_data.schema import manifest_json_schema, triplet_schema
from tests.fault_corpus import reject_row, triplet_row, write_dataset

REJECTS = [reject_row(0, "probe", "unreadable"), reject_row(1, "probe", "no_audio_stream"),
           reject_row(2, "clips", "shot_too_short")]  # fmt: skip


@pytest.fixture()
def dataset(tmp_path: Path) -> Path:
    root = tmp_path / "out"
    write_dataset(root, [triplet_row(i, source=i % 2) for i in range(5)], REJECTS, rows_per_shard=2)
    return root


def _manifest(root: Path) -> dict:
    return json.loads((root / "_manifest.json").read_text())


def _save(root: Path, manifest: dict) -> None:
    (root / "_manifest.json").write_text(json.dumps(manifest))


def test_good_dataset_passes(dataset: Path):
    assert validate_dataset(str(dataset)) == []
    assert len(_manifest(dataset)["tables"]["triplets"]) == 3


def test_flipped_byte_names_the_shard(dataset: Path):
    shard = dataset / "triplets" / "part-00001.parquet"
    data = bytearray(shard.read_bytes())
    data[len(data) // 2] ^= 0xFF
    shard.write_bytes(bytes(data))
    problems = validate_dataset(str(dataset))
    assert any("triplets/part-00001.parquet" in p and "sha256" in p for p in problems), problems


def test_removed_row_names_the_shard(dataset: Path):
    shard = dataset / "triplets" / "part-00000.parquet"
    table = pq.read_table(shard)
    pq.write_table(table.slice(0, 1), shard)
    problems = validate_dataset(str(dataset))
    assert any("triplets/part-00000.parquet" in p and "1 rows, manifest says 2" in p for p in problems), (
        problems
    )
    assert any("counts.triplets is 5" in p for p in problems), problems


def test_missing_shard(dataset: Path):
    (dataset / "rejects" / "part-00001.parquet").unlink()
    problems = validate_dataset(str(dataset))
    assert any("rejects/part-00001.parquet" in p and "missing" in p for p in problems), problems


def test_wrong_column_type(tmp_path: Path):
    root = tmp_path / "out"
    write_dataset(root, [triplet_row(i) for i in range(2)], [])
    shard = root / "triplets" / "part-00000.parquet"
    table = pq.read_table(shard)
    idx = table.schema.get_field_index("num_frames")
    bad = table.set_column(
        idx, pa.field("num_frames", pa.float64(), nullable=False), table["num_frames"].cast(pa.float64())
    )
    pq.write_table(bad, shard)
    manifest = _manifest(root)  # re-register the shard so only the type is wrong
    from humo_data.io.atomic import sha256_file

    manifest["tables"]["triplets"][0].update(bytes=shard.stat().st_size, sha256=sha256_file(shard))
    _save(root, manifest)
    assert validate_dataset(str(root)) == [
        "triplets/part-00000.parquet: column 'num_frames' has type double, the contract says int32"
    ]


def test_duplicate_clip_ids_across_shards(tmp_path: Path):
    root = tmp_path / "out"
    write_dataset(root, [triplet_row(0), triplet_row(1), triplet_row(0)], [], rows_per_shard=2)
    problems = validate_dataset(str(root))
    assert any("part-00001.parquet" in p and "clip_id" in p and "duplicate" in p for p in problems), problems


def test_orphan_shard_and_running_status(dataset: Path):
    (dataset / "triplets" / "part-00009.parquet").write_bytes(b"PAR1 partial")
    manifest = _manifest(dataset)
    manifest["status"] = "running"
    _save(dataset, manifest)
    problems = validate_dataset(str(dataset))
    assert any("triplets/part-00009.parquet" in p and "not committed" in p for p in problems), problems
    assert any("run not finished" in p and "rerun the same command" in p for p in problems), problems


def test_counts_must_add_up(dataset: Path):
    manifest = _manifest(dataset)
    manifest["counts"]["rejects_by_reason"]["probe/unreadable"] = 2
    _save(dataset, manifest)
    problems = validate_dataset(str(dataset))
    assert any("rejects_by_reason sums to 4" in p for p in problems), problems
    assert any("disagrees with the rejects shards" in p for p in problems), problems


def test_manifest_structure_problems(dataset: Path):
    manifest = _manifest(dataset)
    del manifest["config_hash"]
    manifest["counts"]["triplets"] = "5"
    manifest["tables"]["triplets"][0]["sha256"] = "XYZ"
    _save(dataset, manifest)
    problems = validate_dataset(str(dataset))
    assert "_manifest.json: <root>: missing required key 'config_hash'" in problems
    assert "_manifest.json: counts.triplets: expected integer, got str" in problems
    assert any("tables.triplets[0].sha256" in p for p in problems), problems
    (dataset / "_manifest.json").write_text("{not json")
    assert "not valid JSON" in validate_dataset(str(dataset))[0]
    (dataset / "_manifest.json").unlink()
    assert "no _manifest.json" in validate_dataset(str(dataset))[0]


def test_null_in_non_nullable_column(tmp_path: Path):
    root = tmp_path / "out"
    write_dataset(root, [triplet_row(0)], [])
    shard = root / "triplets" / "part-00000.parquet"
    relaxed = pa.schema([f.with_nullable(True) for f in triplet_schema()])
    rows = pq.read_table(shard).to_pylist()
    rows[0]["source_uri"] = None
    pq.write_table(pa.Table.from_pylist(rows, schema=relaxed), shard)
    problems = validate_dataset(str(root))
    assert any("must be declared non-nullable" in p for p in problems), problems


def test_json_walker_on_the_manifest_schema():
    schema = manifest_json_schema()
    assert check_json({"format": "humo-data"}, schema)  # far from complete
    assert check_json(True, {"type": "integer"}) == ["<root>: expected integer, got bool"]
    assert check_json(None, {"type": ["string", "null"]}) == []
    assert check_json(-1, {"type": "integer", "minimum": 0}) == ["<root>: -1 is below the minimum 0"]


def test_schema_readme_is_rendered_from_the_schema_files():
    """schemas/README.md documents every column and manifest key: it is generated from the files."""
    import humo_data.schema as hs
    from humo_data.schema_docs import render

    readme = (Path(hs.__file__).resolve().parent.parent / "schemas" / "README.md").read_text()
    assert readme == render(), (
        "schemas/README.md is stale: python -m humo_data.schema_docs > schemas/README.md"
    )
    for name in triplet_schema().names:
        assert f"| `{name}` |" in readme, name
