"""DatasetWriter without Ray: completion by count, resume cleanup, dedup, duplicates, config guard."""

from __future__ import annotations

import json

import pyarrow.parquet as pq
import pytest

from humo_data.config import load_config
from humo_data.io.dataset_writer import DatasetWriter, ResumeConflict
from humo_data.io.ledger import Ledger


def clip(uri: str, i: int, sid: str = "s") -> dict:
    return {"_kind": "clip", "source_uri": uri, "source_id": sid + uri, "clip_id": f"{uri}-{i}", "shot_index": 0,
            "clip_index": i, "start_time": float(i), "end_time": i + 2.0, "fps": 25.0, "num_frames": 49,
            "width": 8, "height": 8, "video": b"x", "video_codec": "h264", "has_audio": False,
            "shot_backend": "none", "references": [], "stage1": False, "stage2": False}  # fmt: skip


def done(uri: str, n: int, sid: str = "s") -> dict:
    return {"_kind": "done", "source_uri": uri, "source_id": sid + uri, "_rows_expected": n}


def cfg(*o):
    return load_config("default", ["writer.rows_per_shard=2", *o])


def test_source_enters_ledger_only_when_its_rows_are_committed(tmp_path):
    w = DatasetWriter(tmp_path, cfg(), {}, "in")
    w.add(done("a", 3))  # marker first: blocks may arrive out of order
    w.add(clip("a", 0))
    w.add(clip("a", 1))  # shard 0 commits (2 rows), source a still has one row to come
    assert not w.finished("a")
    w.add(clip("a", 2))
    assert not w.finished("a")  # its third row sits in an open shard
    w.close()
    assert w.finished("a")
    m = json.loads((tmp_path / "_manifest.json").read_text())
    assert m["status"] == "complete" and m["counts"]["triplets"] == 3 and len(m["shards"]["triplets"]) == 2


def test_resume_removes_unlisted_files_and_skips_committed_rows(tmp_path):
    w = DatasetWriter(tmp_path, cfg(), {}, "in")
    for i in range(2):
        w.add(clip("a", i))  # commits shard 0; the run then "dies" (no close)
    (tmp_path / "triplets" / "part-00001.parquet").write_bytes(b"orphan from a killed run")
    (tmp_path / "triplets" / ".part-00002.parquet.tmp").write_bytes(b"half written")
    w2 = DatasetWriter(tmp_path, cfg(), {}, "in")
    assert sorted(p.name for p in (tmp_path / "triplets").iterdir()) == ["part-00000.parquet"]
    for i in range(3):
        w2.add(clip("a", i))
    w2.add(done("a", 3))
    w2.close()
    ids = pq.read_table(tmp_path / "triplets").column("clip_id").to_pylist()
    assert sorted(ids) == ["a-0", "a-1", "a-2"]


def test_identical_content_under_two_names_is_kept_once(tmp_path):
    w = DatasetWriter(tmp_path, cfg(), {}, "in")
    for uri in ("a", "b"):
        row0, row1 = clip(uri, 0), clip(uri, 1)
        for r in (row0, row1):
            r["source_id"], r["clip_id"] = "same", f"same-{r['clip_index']}"
        d = done(uri, 2)
        d["source_id"] = "same"
        for r in (row0, row1, d):
            w.add(r)
    w.close()
    assert pq.read_table(tmp_path / "triplets").num_rows == 2
    rejects = pq.read_table(tmp_path / "rejects").to_pylist()
    assert [(r["source_uri"], r["reason"]) for r in rejects] == [("b", "duplicate_content")]


def test_resume_with_another_config_is_refused(tmp_path):
    DatasetWriter(tmp_path, cfg(), {}, "in").close()
    with pytest.raises(ResumeConflict, match="another config"):
        DatasetWriter(tmp_path, cfg("clips.max_seconds=8"), {}, "in")


def test_ledger_survives_a_torn_last_line(tmp_path):
    (tmp_path / "_ledger.jsonl").write_text('{"uri": "a"}\n{"uri": "b", "sour')
    ledger = Ledger(tmp_path)
    assert "a" in ledger and "b" not in ledger
    ledger.append([{"uri": "c"}])
    assert [json.loads(x)["uri"] for x in (tmp_path / "_ledger.jsonl").read_text().splitlines()] == ["a", "c"]
