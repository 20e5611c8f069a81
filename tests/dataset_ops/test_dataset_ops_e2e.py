"""The dataset operations on a real curated dataset (the bundled sample plus a cropped, trimmed
re-upload of one of its videos): dedup on Ray, identity-disjoint split, HuMoSet export round trip,
WebDataset export, takedown of a person and of a source; `validate` passes after each."""

from __future__ import annotations

import json
import re
import shutil
import tarfile
from collections import defaultdict
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from humo_data.config import load_config
from humo_data.dataset_ops.config import load_ops_config
from humo_data.io.dataset import open_dataset
from humo_data.io.validate import validate_dataset
from tests.dataset_ops.uploads import make_upload

pytestmark = pytest.mark.slow

SAMPLE = Path(__file__).resolve().parents[1] / "data"  # speaker_4s.mp4 and multishot_aba_9s.mp4


def _ops(*overrides: str):
    return load_ops_config(None, None, ["ray.num_cpus=2", *overrides])


def _rows(out: Path, columns: list[str] | None = None) -> list[dict]:
    return open_dataset(str(out)).read("triplets", columns=columns).to_pylist()


@pytest.fixture(scope="module")
def curated(tmp_path_factory) -> Path:
    """The sample and a re-upload of speaker_4s (first second trimmed, 10% crop), curated. The
    sample's multishot video was cut from the same recording as speaker_4s, so its first shot is
    a real near-duplicate too."""
    from humo_data.jobs.curate import run_curate

    inputs = tmp_path_factory.mktemp("in")
    for f in SAMPLE.glob("*.mp4"):
        shutil.copy(f, inputs / f.name)
    make_upload(SAMPLE / "speaker_4s.mp4", inputs / "speaker_reupload.mp4", trim=1.0, vf="crop=iw*0.9:ih*0.9")
    out = tmp_path_factory.mktemp("ops") / "out"
    cfg = load_config(
        "default", ["writer.report=false", "ray.num_cpus=2", "audio.enabled=false", "sync.enabled=false"]
    )
    assert run_curate(str(inputs), str(out), cfg, show_progress=False).ok
    return out


@pytest.fixture
def dataset(curated, tmp_path) -> Path:
    copy = tmp_path / "out"
    shutil.copytree(curated, copy)
    return copy


def test_dedup_on_ray_rejects_the_copies_and_validates(dataset):
    from humo_data.dataset_ops.dedup import run_dedup

    before = {r["clip_id"]: r for r in _rows(dataset, ["clip_id", "source_uri", "start_time"])}
    summary = run_dedup(str(dataset), _ops("in_process_max_shards=0"))  # the Ray path
    assert validate_dataset(str(dataset)) == []
    after = {r["clip_id"] for r in _rows(dataset, ["clip_id"])}
    rejects = [
        r for r in open_dataset(str(dataset)).read("rejects").to_pylist() if r["reason"] == "near_duplicate"
    ]
    assert (
        summary["rejected"] == len(rejects) == 2
    )  # speaker_4s, its re-upload, the multishot's first shot: one stays
    uploads = {Path(before[r["clip_id"]]["source_uri"]).name for r in rejects}
    kept = {r["detail"].split()[2] for r in rejects}
    assert len(kept) == 1 and kept <= after
    assert Path(before[kept.pop()]["source_uri"]).name not in uploads
    assert all(r["stage"] == "dedup" for r in rejects)
    m = open_dataset(str(dataset)).manifest
    sigs = open_dataset(str(dataset)).shards("features/signatures")
    assert sum(e["rows"] for e in sigs) == len(after)  # signatures of the rejected clips are gone
    assert m["phases"]["dedup"]["status"] == "complete" and m["backends"]["dedup"] == "phash+motion"
    again = run_dedup(str(dataset), _ops())
    assert again.get("skipped") and again["signatures_computed"] == 0
    assert {r["clip_id"] for r in _rows(dataset, ["clip_id"])} == after


def test_split_keeps_the_person_in_one_split_and_loads(dataset, tmp_path, monkeypatch):
    from humo_data.dataset_ops.splits import run_split

    summary = run_split(str(dataset), _ops("split.fractions={train: 0.5, validation: 0.25, test: 0.25}"))
    assert validate_dataset(str(dataset)) == []
    rows = _rows(dataset, ["clip_id", "source_id", "identity_id", "split"])
    splits_of = defaultdict(set)
    for r in rows:
        assert r["split"]
        splits_of[r["identity_id"] or r["source_id"]].add(r["split"])
    assert all(len(s) == 1 for s in splits_of.values())
    # the speaker is in three sources: one group
    speaker = max(splits_of, key=lambda k: sum(r["identity_id"] == k for r in rows))
    assert len({r["source_id"] for r in rows if r["identity_id"] == speaker}) == 3
    datasets = pytest.importorskip("datasets")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    loaded = datasets.load_dataset(str(dataset), cache_dir=str(tmp_path / "hf"))
    assert {k: v.num_rows for k, v in loaded.items()} == {k: v["clips"] for k, v in summary["sizes"].items()}


def test_humoset_export_round_trip(dataset, tmp_path):
    from humo_data.dataset_ops.export import run_export
    from humo_data.humoset.importer import import_humoset

    target = tmp_path / "humoset"
    summary = run_export(str(dataset), str(target), _ops(), "humoset")
    stage1 = [r for r in _rows(dataset) if r["stage1"]]
    assert summary["rows"] == len(stage1) > 0
    assert not (target / "_parts").exists()
    imported = import_humoset(target, tmp_path / "imported")
    assert imported.rows == len(stage1) and not imported.rejects
    assert validate_dataset(str(tmp_path / "imported")) == []
    back = {Path(r["source_uri"]).stem: r for r in _rows(tmp_path / "imported")}
    for r in stage1:
        got = back[r["clip_id"]]
        assert got["video"] == r["video"]
        assert got["caption"] == r["caption"]
        assert [x["image"] for x in got["reference_images"]] == [x["image"] for x in r["reference_images"]]
    # a rerun skips the shards already exported and rebuilds the same caption table
    first = pq.read_table(target / "video_caption.parquet")
    again = run_export(str(dataset), str(target), _ops(), "humoset")
    assert again["shards_exported_now"] == 0 or again["rows"] == summary["rows"]
    assert pq.read_table(target / "video_caption.parquet").equals(first)


def test_webdataset_export(dataset, tmp_path):
    from humo_data.dataset_ops.export import run_export

    target = tmp_path / "wds"
    summary = run_export(str(dataset), str(target), _ops(), "webdataset", subset="all")
    rows = {r["clip_id"]: r for r in _rows(dataset)}
    index = json.loads((target / "index.json").read_text())
    assert summary["rows"] == sum(t["samples"] for t in index["tars"]) == len(rows)
    samples = defaultdict(dict)
    for t in index["tars"]:
        with tarfile.open(target / t["name"]) as tar:
            for m in tar.getmembers():
                key, ext = m.name.split(".", 1)
                samples[key][ext] = tar.extractfile(m).read()
    assert set(samples) == set(rows)
    for key, files in samples.items():
        assert files["mp4"] == rows[key]["video"]
        assert files["txt"].decode() == rows[key]["caption"]
        assert json.loads(files["json"])["clip_id"] == key
        assert [files[f"ref{k}.jpg"] for k in range(len(rows[key]["reference_images"]))] == [
            x["image"] for x in rows[key]["reference_images"]
        ]


def test_removing_a_person_removes_every_row_reference_and_face_of_them(dataset):
    from humo_data.dataset_ops.takedown import run_remove

    rows = _rows(dataset, ["clip_id", "identity_id"])
    counts = defaultdict(int)
    for r in rows:
        counts[r["identity_id"]] += 1
    person = max(counts, key=counts.get)
    theirs = {r["clip_id"] for r in rows if r["identity_id"] == person}
    faces = open_dataset(str(dataset)).read("features/faces", ["clip_id", "main_embedding"]).to_pylist()
    centroid = np.mean([f["main_embedding"] for f in faces if f["clip_id"] in theirs], axis=0)
    summary = run_remove(str(dataset), _ops(), identity=person)
    assert summary["rows"] >= len(theirs)
    assert validate_dataset(str(dataset)) == []
    left = _rows(dataset)
    assert left, "the other person stays"
    for r in left:
        assert r["identity_id"] != person and r["clip_id"] not in theirs
        for ref in r["reference_images"]:
            assert ref["source_clip_id"] not in theirs
    ds = open_dataset(str(dataset))
    for f in ds.read("features/faces").to_pylist():
        assert f["clip_id"] not in theirs
        for emb in f["track_embeddings"] or []:
            assert np.linalg.norm(np.asarray(emb) - centroid) > 0.55, "no face of the person is left"
    assert not any(
        f["clip_id"] in theirs
        for f in ds.read("features/signatures").to_pylist()
        if ds.shards("features/signatures")
    )
    rejects = [r for r in ds.read("rejects").to_pylist() if r["stage"] == "takedown"]
    assert {r["clip_id"] for r in rejects} >= theirs and all(
        person not in (r["detail"] or "") for r in rejects
    )
    assert ds.manifest["phases"]["takedown"]["requests"][-1]["value"] == person
    assert person not in (dataset / "README.md").read_text()


def test_removing_a_source_by_the_path_as_typed(dataset, monkeypatch):
    """`remove --source` takes the path as the user typed it to curate (relative to the working
    directory), its absolute form and its file:// URI; a near miss names the close sources."""
    from humo_data.dataset_ops.takedown import NothingToRemove, run_remove

    rows = _rows(dataset, ["clip_id", "source_id", "source_uri"])
    uri = next(r["source_uri"] for r in rows if r["source_uri"].endswith("speaker_reupload.mp4"))
    source_id = next(r["source_id"] for r in rows if r["source_uri"] == uri)
    monkeypatch.chdir(Path(uri).parent.parent)
    typed = f"{Path(uri).parent.name}/speaker_reupload.mp4"
    with pytest.raises(NothingToRemove, match="close matches: " + re.escape(uri)):
        run_remove(str(dataset), _ops(), source=typed.replace("reupload", "reuplaod"), dry_run=True)
    for spelling in (uri, f"file://{uri}", f"./{typed}"):
        assert run_remove(str(dataset), _ops(), source=spelling, dry_run=True)["source_ids"] == [source_id]
    summary = run_remove(str(dataset), _ops(), source=typed)
    assert summary["rows"] > 0 and summary["source_ids"] == [source_id]
    assert validate_dataset(str(dataset)) == []
    for r in _rows(dataset):
        assert r["source_id"] != source_id
        assert all(x["source_id"] != source_id for x in r["reference_images"])
