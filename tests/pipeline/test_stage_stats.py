"""Per-stage stats of a real run add up: rows in of each stage = rows out of the one before, the
rejects each stage counted are the rows in rejects/, and every stage of the plan has its seconds.

The inputs mix the bundled sample with the fault corpus (broken, empty, audio-less and faceless
files), so the probe and the faces stage both reject something."""

from __future__ import annotations

import shutil
from collections import Counter

import pytest

from humo_data.io.dataset import open_dataset
from humo_data.jobs.curate import run_curate
from humo_data.jobs.plan import CurationPlan
from humo_data.stage_stats import REJECT_STAGE_OF
from tests.fault_corpus import make_fault_corpus
from tests.pipeline.conftest import SAMPLE, config

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    inputs = tmp_path_factory.mktemp("in")
    make_fault_corpus(inputs)
    for f in SAMPLE.glob("*.mp4"):
        shutil.copy(f, inputs / f.name)
    out = tmp_path_factory.mktemp("stats") / "out"
    cfg = config()
    summary = run_curate(str(inputs), str(out), cfg, show_progress=False)
    assert summary.ok
    return open_dataset(str(out)), CurationPlan.build(cfg), summary


def test_every_stage_of_the_plan_has_its_numbers(run):
    ds, plan, summary = run
    stages = ds.manifest["stages"]
    names = [
        "probe",
        "clips",
        *plan.stream_names,
        "write",
        "identity",
        *(s.name for s in plan.captions),
        "finish",
    ]
    for name in names:
        stats = stages[name].get("stats")
        assert stats is not None, name
        assert stats["rows_in"] > 0 and stats["seconds"] > 0 and stats["cpu_seconds"] >= 0, (name, stats)
    run_stats = ds.manifest["runs"][-1]["stats"]
    assert set(names) <= set(run_stats["stages"])
    assert {"stream", "identity", "captions", "finish"} <= set(run_stats["phases"])
    assert summary.run_stats["stages"] == run_stats["stages"]


def test_rows_flow_from_each_stage_to_the_next(run):
    ds, plan, _ = run
    stats = {k: v["stats"] for k, v in ds.manifest["stages"].items() if v.get("stats")}
    chain = ["probe", "clips", *plan.stream_names]
    for before, after in zip(chain, chain[1:], strict=False):
        assert stats[after]["rows_in"] == stats[before]["rows_out"], (before, after)
    counts = ds.manifest["counts"]
    assert stats["write"]["rows_in"] == counts["triplets"] + counts["rejects"]
    assert stats[chain[-1]]["rows_out"] == counts["triplets"]
    assert stats["finish"]["rows_out"] == counts["triplets"]


def test_rejects_by_reason_match_the_rejects_table(run):
    ds, _, _ = run
    table = ds.read("rejects", columns=["stage", "reason"]).to_pylist()
    expected = Counter((REJECT_STAGE_OF.get(r["stage"], r["stage"]), r["reason"]) for r in table)
    assert {"probe", "faces"} <= {s for s, _ in expected}, expected  # sources and clips were rejected
    counted = Counter()
    for name, entry in ds.manifest["stages"].items():
        for reason, n in ((entry.get("stats") or {}).get("rejects_by_reason") or {}).items():
            counted[(name, reason)] += n
    assert counted == expected


def test_the_manifest_counts_the_encoder_and_decoder_of_every_clip(run):
    ds, _, _ = run
    stats = ds.manifest["stages"]["clips"]["stats"]
    for column, default in (("video_encoder", "libx264"), ("video_decoder", "h264")):
        per_clip = Counter(ds.read("triplets", columns=[column]).column(column).to_pylist())
        assert per_clip and set(per_clip) == {default}  # clips.encoder=x264, clips.decoder=cpu (defaults)
        assert stats[f"{column}s"] == dict(per_clip)
    assert "decoder_fallbacks" not in stats  # none asked for NVDEC
    assert ds.manifest["stages"]["clips"]["backend"] == "pyav-libx264+aac"
