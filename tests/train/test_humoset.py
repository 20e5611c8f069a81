"""HuMoSet layout: import into triplet shards (with a reason per skipped video) and direct reading."""

from __future__ import annotations

import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from humo_data.cli import app
from humo_data.humoset.importer import import_humoset
from humo_data.humoset.layout import CAPTIONS_FILE, HumosetLayoutError, scan_humoset
from humo_data.io.validate import validate_dataset
from humo_data.schema import rejects_schema, triplet_schema
from humo_data.train.config import DataConfig
from humo_data.train.data.audio import decode_audio_bytes, decode_audio_track
from humo_data.train.data.stream import TripletStream

GOOD = {f"{i:032x}" for i in range(3)}
EXPECTED_REJECTS = {"ghost": "missing_video", "nocaption": "no_caption", "badref": "unreadable_reference",
                    "silent": "no_audio"}  # fmt: skip


@pytest.fixture(scope="module")
def imported(humoset_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("imported")
    return out, import_humoset(humoset_dir, out)


def test_import_writes_schema_rows_and_named_rejects(imported, humoset_dir):
    out, summary = imported
    assert summary.rows == 3
    assert dict(summary.rejects) == {r: 1 for r in EXPECTED_REJECTS.values()}
    (triplet_shard,) = (out / "triplets").glob("part-*.parquet")
    table = pq.read_table(triplet_shard)
    assert table.schema.equals(triplet_schema(), check_metadata=False)
    assert {p.split("/")[-1][:-4] for p in table.column("source_uri").to_pylist()} == GOOD
    for row in table.to_pylist():
        src = (humoset_dir / "video" / row["source_uri"].split("/")[-1]).read_bytes()
        assert row["video"] == src  # bytes as published
        assert (
            row["reference_images"][0]["image"]
            == (humoset_dir / "reference_image" / f"{row['source_uri'].split('/')[-1][:-4]}.png").read_bytes()
        )
        assert row["caption"].startswith("A woman with dark hair")
        assert row["stage1"] and row["stage2"] and row["has_audio"] and row["audio_sample_rate"] == 16000
        wave = decode_audio_bytes(row["audio"], 16000)
        track = decode_audio_track(src, 16000)
        assert (
            abs(len(wave) - len(track)) <= 1
            and abs(float(wave[:8000].std()) - float(track[:8000].std())) < 1e-3
        )
    (reject_shard,) = (out / "rejects").glob("part-*.parquet")
    rejects = pq.read_table(reject_shard)
    assert rejects.schema.equals(rejects_schema(), check_metadata=False)
    got = {
        r["source_uri"].split("/")[-1].split(".")[0].split(" ")[0]: r["reason"] for r in rejects.to_pylist()
    }
    assert got == EXPECTED_REJECTS
    # A complete humo-data dataset: manifest lists the shards with sha256, counts add up.
    assert validate_dataset(str(out)) == []
    manifest = json.loads((out / "_manifest.json").read_text())
    assert manifest["status"] == "complete" and manifest["counts"]["triplets"] == 3
    assert manifest["counts"]["rejects_by_reason"]["humoset_import/no_audio"] == 1


def test_loader_reads_imported_shards_and_the_folder_alike(imported, humoset_dir):
    out, _ = imported
    base = dict(
        frames=9, height=32, width=48, batch_size=1, text_dropout=0.0, clip_start="start", shuffle=False
    )
    from_shards = list(
        TripletStream(DataConfig(sources=[str(out)], **base), seed=0).__iter__().__next__() for _ in range(1)
    )
    assert from_shards[0].video.shape == (1, 9, 32, 48, 3) and from_shards[0].has_audio.all()
    direct = TripletStream(DataConfig(sources=[str(humoset_dir)], on_error="skip", **base), seed=0)
    seen, counts = {}, {}
    for b in direct:
        if b.extras["cursor"]["epoch"]:
            break
        seen[b.clip_ids[0]] = bool(b.has_audio[0])
        for k, v in b.extras["counts"].items():
            counts[k] = counts.get(k, 0) + v
    assert set(seen) >= GOOD and all(seen[i] for i in GOOD)
    assert seen["silent"] is False  # direct reading keeps it, without audio
    assert counts.get("skip/no_video") == 1 and counts.get("skip/unreadable_reference") == 1


def test_caption_columns_are_detected_or_named(tmp_path, humoset_dir):
    import shutil

    root = tmp_path / "hs"
    shutil.copytree(humoset_dir, root)
    ids = [f"video/{i:032x}.mp4" for i in range(3)]
    pq.write_table(
        pa.table({"video_path": ids, "text": ["a", "b", "c"], "score": [1, 2, 3]}), root / CAPTIONS_FILE
    )
    entries = {e.id: e for e in scan_humoset(root)}
    assert entries[f"{0:032x}"].caption == "a"
    pq.write_table(
        pa.table({"clip": ids, "what": ["a", "b", "c"], "other": ["x", "y", "z"]}), root / CAPTIONS_FILE
    )
    with pytest.raises(HumosetLayoutError, match="--key-column"):
        scan_humoset(root)
    entries = {e.id: e for e in scan_humoset(root, key="clip", caption="other")}
    assert entries[f"{1:032x}"].caption == "y"


def test_cli_import_humoset(humoset_dir, tmp_path):
    res = CliRunner().invoke(app, ["import", "humoset", str(humoset_dir), "--output", str(tmp_path / "o")])
    assert res.exit_code == 0, res.output
    summary = json.loads(res.output.strip().splitlines()[-1])
    assert summary["rows"] == 3 and summary["rejects_by_reason"]["no_audio"] == 1
    assert len(list((tmp_path / "o" / "triplets").glob("part-*.parquet"))) == 1
