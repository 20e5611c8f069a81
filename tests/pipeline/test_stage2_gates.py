"""Stage 2 derived from gate columns, never read back (issue 26): a second curate run over a
finished dataset with changed settings moves every flag to what the gates say now.

Run 1: the speech gate is strict (every clip fails ``not_enough_speech``), sync off and only
cross-shot references count. Run 2 on the same output: default speech gate, sync on, any reference
counts. Then the audio stage reruns and clears its gate, the sync stage scores every live clip
(it was off), and a clip that gained an acceptable reference becomes stage 2 when its gates pass.
"""

from __future__ import annotations

import shutil

import pytest

from humo_data.config import ConfigError
from humo_data.io.dataset import open_dataset
from humo_data.io.validate import validate_dataset
from humo_data.jobs.curate import run_curate
from tests.pipeline.conftest import SAMPLE, config

pytestmark = pytest.mark.slow

RUN1 = ("audio.min_speech_ratio=1.0", "sync.enabled=false", "identity.min_reference_kind=cross_shot")
RUN2 = ("identity.min_reference_kind=same_clip",)


def _rows(out) -> dict[str, dict]:
    cols = ["clip_id", "stage1", "stage1_reason", "stage2", "stage2_reason", "audio_gate", "sync_gate",
            "sync_backend", "speech_backend", "has_audio", "reference_kind"]  # fmt: skip
    return {r["clip_id"]: r for r in open_dataset(str(out)).read("triplets", columns=cols).to_pylist()}


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory):
    inputs = tmp_path_factory.mktemp("in")
    for f in SAMPLE.glob("*.mp4"):
        shutil.copy(f, inputs / f.name)
    out = tmp_path_factory.mktemp("gates") / "out"
    assert run_curate(str(inputs), str(out), config(*RUN1), show_progress=False).ok
    first = _rows(out)
    summary = run_curate(str(inputs), str(out), config(*RUN2), show_progress=False)
    assert summary.ok and summary.sources_processed == 0, summary.notes  # nothing re-cut
    return first, _rows(out), out


def test_first_run_flags_come_from_its_gates(two_runs):
    first, _, _ = two_runs
    assert first
    for r in first.values():
        assert r["audio_gate"] == "not_enough_speech" and r["stage2_reason"] == "not_enough_speech"
        assert r["sync_backend"] is None and r["sync_gate"] is None  # sync did not run
        assert not r["stage2"]


def test_second_run_rederives_every_flag(two_runs):
    first, second, out = two_runs
    assert set(second) == set(first)
    # the audio stage reran with the default gate: its own column is this run's reading
    assert any(r["audio_gate"] is None for r in second.values())
    # sync was off in run 1: now every live clip with audio is scored
    assert all(r["sync_backend"] for r in second.values() if r["has_audio"])
    for r in second.values():
        assert r["stage1"] == (r["stage1_reason"] is None) and r["stage2"] == (r["stage2_reason"] is None)
        gates_pass = r["has_audio"] and r["audio_gate"] is None and r["sync_gate"] is None
        # any reference counts now: stage 2 is exactly "stage 1 and both gates ran and passed"
        assert r["stage2"] == (r["stage1"] and gates_pass and bool(r["sync_backend"])), r
        if not r["stage2"]:
            assert r["stage2_reason"] in (r["audio_gate"], r["sync_gate"], "not_stage1", "no_audio"), r
    # a clip whose reference did not count in run 1 counts now: its stage-2 reason is its gates'
    # verdict of today (stage 2 when they pass), never the stale not_stage1
    gained = [c for c, r in second.items() if r["stage1"] and not first[c]["stage1"]]
    assert gained, {c: (first[c]["stage1_reason"], r["stage1_reason"]) for c, r in second.items()}
    assert all(second[c]["stage2_reason"] != "not_stage1" for c in gained)
    m = open_dataset(str(out)).manifest
    assert m["counts"]["subsets"]["stage2"] == sum(r["stage2"] for r in second.values())
    assert validate_dataset(str(out)) == []


def test_sync_without_the_speech_gate_is_refused():
    with pytest.raises(ConfigError, match="sync.enabled needs audio.enabled"):
        config("audio.enabled=false", "sync.enabled=true")
    config("audio.enabled=false", "sync.enabled=false")  # a stage-1-only dataset is fine
