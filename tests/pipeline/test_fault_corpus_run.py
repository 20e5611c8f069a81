"""Bad input never stops the job: each broken file is one reject row with the expected reason;
awkward but valid files (VFR, rotated, odd names) give clips."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from tests.fault_corpus import make_fault_corpus
from tests.pipeline.conftest import CUT_ONLY

pytestmark = pytest.mark.slow


def test_fault_corpus_gives_one_reject_each_and_exit_0(tmp_path):
    corpus = tmp_path / "corpus"
    expected = make_fault_corpus(corpus)
    out = tmp_path / "out"
    run = subprocess.run(
        [sys.executable, "-m", "humo_data.cli", "curate", "-i", str(corpus), "-o", str(out), "--no-progress",
         "--set", "ray.num_cpus=2", *(a for o in CUT_ONLY for a in ("--set", o))],
        capture_output=True, text=True,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr[-3000:]
    rejects = pq.read_table(out / "rejects").to_pylist()
    clips = pq.read_table(out / "triplets").to_pylist()
    by_name: dict[str, list[dict]] = {}
    for r in rejects:
        by_name.setdefault(Path(r["source_uri"]).name, []).append(r)
    clip_sources = {Path(c["source_uri"]).name for c in clips}
    for name, reason in expected.items():
        if reason is None:  # valid (odd names are distinct remuxes, so none is a duplicate)
            assert name in clip_sources and name not in by_name, (name, by_name.get(name))
        else:
            got = by_name.get(name, [])
            assert [r["reason"] for r in got] == [reason], (name, got)
            assert got[0]["detail"], name
    vfr = [c for c in clips if Path(c["source_uri"]).name == "vfr.mp4"]
    assert vfr and vfr[0]["source_vfr"] is True and vfr[0]["fps"] == 25
    rotated = [c for c in clips if Path(c["source_uri"]).name == "rotated.mp4"]
    assert rotated and rotated[0]["source_rotation"] == 90 and rotated[0]["height"] > rotated[0]["width"]
    assert "probe/empty_file" in run.stderr  # the summary table names reject reasons
