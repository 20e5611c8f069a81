"""Phases under one manifest: the whole offline chain on the bundled sample, then reruns of chosen
stages on the finished dataset without re-cutting (changed settings -> that stage only)."""

from __future__ import annotations

import shutil

import pyarrow.parquet as pq
import pytest

from humo_data.io.dataset import open_dataset
from humo_data.io.validate import validate_dataset
from humo_data.jobs.curate import ResumeConflict, run_curate
from tests.pipeline.conftest import SAMPLE, config

pytestmark = pytest.mark.slow

ALL_STAGES = [f"{s}.enabled=true" for s in ("quality", "faces", "identity", "audio", "sync", "captions")]


def _rows(out) -> list[dict]:
    ds = open_dataset(str(out))
    return ds.read("triplets").to_pylist()


@pytest.fixture(scope="module")
def curated(tmp_path_factory):
    inputs = tmp_path_factory.mktemp("in")
    for f in SAMPLE.glob("*.mp4"):
        shutil.copy(f, inputs / f.name)
    out = tmp_path_factory.mktemp("phases") / "out"
    summary = run_curate(str(inputs), str(out), config(*ALL_STAGES), show_progress=False)
    assert summary.ok
    return inputs, out


def test_every_phase_ran_and_the_dataset_is_finished(curated):
    _, out = curated
    assert validate_dataset(str(out)) == []
    m = open_dataset(str(out)).manifest
    assert {"stream", "identity", "finish"} <= set(m["phases"])
    for name in ("quality", "faces", "audio", "sync", "identity", "captions"):
        assert name in m["stages"] and m["stages"][name]["hash"], name
    assert not [t for t, entries in m["tables"].items() if t.startswith("tables/") and entries]  # all merged
    rows = _rows(out)
    assert rows and all(r["caption"] and r["caption_backend"] == "template" for r in rows)
    assert all(r["face_count"] for r in rows) and all(r["speech_ratio"] is not None for r in rows)
    # stage flags agree with their reasons; counts.subsets agrees with the rows
    for r in rows:
        assert r["stage1"] == (r["stage1_reason"] is None) and r["stage2"] == (r["stage2_reason"] is None)
        assert not r["stage2"] or r["stage1"]
    assert m["counts"]["subsets"]["stage1"] == sum(r["stage1"] for r in rows)
    assert len(open_dataset(str(out)).shards("features/faces")) >= 1


def test_changed_caption_settings_rerun_captions_only(curated, tmp_path):
    inputs, out = curated
    copy = tmp_path / "copy"
    shutil.copytree(out, copy)
    before = {r["clip_id"]: r for r in _rows(copy)}
    hashes = open_dataset(str(copy)).manifest["stages"]
    summary = run_curate(
        str(inputs), str(copy), config(*ALL_STAGES, "captions.template.speaking_min=0.2"), show_progress=False
    )
    assert summary.ok and summary.sources_processed == 0  # nothing re-cut
    assert any("captions" in n for n in summary.notes), summary.notes
    assert not any("reran" in n for n in summary.notes), summary.notes  # no per-clip stage reran
    after = {r["clip_id"]: r for r in _rows(copy)}
    assert set(after) == set(before)
    for cid, r in after.items():
        assert r["caption"] and r["caption_backend"] == "template"
        assert r["video"] == before[cid]["video"] and r["speech_ratio"] == before[cid]["speech_ratio"]
        assert r["reference_images"] == before[cid]["reference_images"]
    m = open_dataset(str(copy)).manifest
    assert m["stages"]["captions"]["hash"] != hashes["captions"]["hash"]
    assert m["stages"]["faces"] == hashes["faces"]
    assert validate_dataset(str(copy)) == []


def test_stricter_quality_rerun_moves_rows_to_rejects(curated, tmp_path):
    inputs, out = curated
    copy = tmp_path / "copy"
    shutil.copytree(out, copy)
    n_before = len(_rows(copy))
    summary = run_curate(
        str(inputs), str(copy), config(*ALL_STAGES, "quality.exposure_min=0.45"), show_progress=False
    )
    assert summary.ok and any("reran over committed rows: quality" in n for n in summary.notes), summary.notes
    rows = _rows(copy)
    assert all(r["quality_exposure"] >= 0.45 for r in rows)
    rejects = open_dataset(str(copy)).read("rejects").to_pylist()
    moved = [r for r in rejects if r["stage"] == "quality"]
    assert len(rows) + len(moved) == n_before and moved
    assert all("0.45" in r["detail"] and r["clip_id"] for r in moved)
    assert validate_dataset(str(copy)) == []


def test_changed_cut_settings_are_refused(curated, tmp_path):
    inputs, out = curated
    copy = tmp_path / "copy"
    shutil.copytree(out, copy)
    with pytest.raises(ResumeConflict, match="clips"):
        run_curate(str(inputs), str(copy), config(*ALL_STAGES, "clips.max_seconds=5"), show_progress=False)
    assert pq.read_table(next((copy / "triplets").glob("*.parquet")), columns=["clip_id"]).num_rows > 0
