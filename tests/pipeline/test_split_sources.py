"""A long source cut in time ranges by Ray tasks (clips/ranges.py): the dataset equals one pass's,
and the manifest says how the source was cut."""

from __future__ import annotations

import json
import shutil

from humo_data.jobs.curate import run_curate
from tests.clips.joined_source import joined_multishot
from tests.pipeline.conftest import CUT_ONLY, SAMPLE, config
from tests.pipeline.golden import fingerprint

SPLIT = ("clips.split_min_seconds=10", "clips.split_range_seconds=4", "clips.split_warmup_seconds=1",
         "clips.split_min_cpus=2")  # fmt: skip
SPLIT_COUNTS = ("split_sources", "split_ranges", "split_redone")


def test_split_source_through_the_job_equals_one_pass(tmp_path):
    inputs = tmp_path / "in"
    inputs.mkdir()
    joined_multishot(inputs / "joined.mp4")  # 27 s: six ranges
    shutil.copy(SAMPLE / "speaker_4s.mp4", inputs)  # short: cut in one pass
    runs = {}
    for name, extra in (("whole", ("clips.split_min_seconds=0",)), ("split", SPLIT)):
        out = tmp_path / name
        assert run_curate(str(inputs), out, config(*CUT_ONLY, *extra), show_progress=False).ok
        manifest = json.loads((out / "_manifest.json").read_text())
        runs[name] = (fingerprint(out), manifest["counts"], manifest["runs"][-1]["stats"]["stages"]["clips"])
    (whole, whole_counts, whole_clips), (split, split_counts, split_clips) = runs["whole"], runs["split"]
    # the ranges' CPU (Ray tasks the source's task started) is counted to the cut stage
    assert split_clips["cpu_seconds"] > 0.5 * whole_clips["cpu_seconds"]
    assert len(whole["clips"]) >= 7 and split == whole
    assert {k: split_counts.pop(k, None) for k in SPLIT_COUNTS} == {"split_sources": 1, "split_ranges": 6,
                                                                     "split_redone": None}  # fmt: skip
    assert split_counts == whole_counts  # drop counts, rejects by reason, seconds
