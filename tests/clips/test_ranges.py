"""A source cut in time ranges (clips/ranges.py) gives what one pass gives: the same clips (ids,
frames, shots, stills, audio), the same rejects and drop counts. Without Ray the ranges run one
after another in this process; tests/pipeline/test_split_sources.py runs them as Ray tasks."""

from __future__ import annotations

import pytest

from humo_data.clips.cutter import ClipCutStage, CutConfig
from humo_data.clips.ranges import plan_ranges
from humo_data.config import load_config
from humo_data.probe.stage import ProbeStage
from humo_data.shots import build_shot_detector
from humo_data.shots.config import ShotsConfig
from tests.clips.damaged_copies import flip_video_bytes
from tests.clips.joined_source import joined_multishot

#: ranges of 4.5 s (6 of them in 27 s) with 1 s of warmup: small enough to split a test source
SPLIT = ["clips.split_min_seconds=10", "clips.split_range_seconds=4", "clips.split_warmup_seconds=1"]
WHOLE = ["clips.split_min_seconds=0"]


@pytest.fixture(scope="module")
def joined(tmp_path_factory):
    return joined_multishot(tmp_path_factory.mktemp("split") / "joined.mp4")


def _cut(path, overrides):
    cfg = load_config("default", ["sync.enabled=true", *overrides])
    row = next(iter(ProbeStage(cfg.probe).run_rows(
        [{"source_uri": str(path), "_source_size": path.stat().st_size, "_kind": "source"}])))  # fmt: skip
    assert row.get("_reject_reason") is None
    stage = ClipCutStage(
        CutConfig(shots=cfg.shots, clips=cfg.clips, frames=cfg.frames, audio_margin_seconds=0.24)
    )
    return list(stage.run_rows([row])), stage.last_split, row


def _decisions(rows):
    keys = ("_kind", "_unit", "clip_id", "shot_index", "clip_index", "start_time", "end_time", "num_frames",
            "_reject_reason", "_reject_detail", "_expected_units", "_source_stats")  # fmt: skip
    out = [{k: r.get(k) for k in keys} for r in rows]
    for r in out:  # how the source was cut is said apart from what came of it
        if r["_source_stats"]:
            r["_source_stats"] = {
                k: v for k, v in r["_source_stats"].items() if k not in ("ranges", "redone")
            }
    return out


def _media(rows):
    """What the later stages get: stills, motion, audio (as stored and with its margin)."""
    return [(r.get("audio"), r.get("_audio_pcm"), r.get("_motion"), r.get("_frames")) for r in rows]


def test_split_cut_equals_one_pass(joined):
    whole, none, source = _cut(joined, WHOLE)
    split, outcome, _ = _cut(joined, SPLIT)
    assert none is None and outcome.ranges == 6 and outcome.redone_from is None and not outcome.whole
    assert split[-1]["_source_stats"]["ranges"] == 6 and split[-1]["_source_stats"]["redone"] == 0
    assert _decisions(split) == _decisions(whole)
    assert _media(split) == _media(whole)
    clips = [r for r in whole if r["_kind"] == "clip" and r.get("_reject_reason") is None]
    assert len(clips) >= 6 and max(r["shot_index"] for r in clips) >= 4
    # a range boundary inside a shot: a clip runs across it (the range before owns the whole shot)
    bounds = [a / 25 for a, _ in plan_ranges(source["source_duration"], load_config("default", SPLIT).clips)]
    assert any(c["start_time"] < b < c["end_time"] for c in clips for b in bounds[1:])


def test_damage_in_a_range_redoes_it_from_the_start(joined, tmp_path):
    """media.damage keeps state across the source: a range that sees damage is redone as one pass
    would decode it, and the damaged_packets reject comes once, the same as in one pass."""
    damaged = tmp_path / "damaged.mp4"
    assert flip_video_bytes(joined, damaged, 15.0, 15.6)
    whole, _, _ = _cut(damaged, WHOLE)
    split, outcome, _ = _cut(damaged, SPLIT)
    assert outcome.redone_from in (2, 3) and split[-1]["_source_stats"]["redone"] == 1
    assert _decisions(split) == _decisions(whole)
    reasons = [r["_reject_reason"] for r in whole if r.get("_reject_reason")]
    assert reasons.count("damaged_packets") == 1


def test_which_sources_split():
    clips = load_config("default").clips
    assert clips.split_min_seconds == 240 and plan_ranges(239.9, clips) == []
    ranges = plan_ranges(600.0, clips)
    assert len(ranges) == 10 and ranges[0][0] == 0 and ranges[-1][1] is None
    assert all(b - a >= clips.split_range_seconds * clips.fps for a, b in ranges[:-1])
    assert [b for _, b in ranges[:-1]] == [a for a, _ in ranges[1:]]  # they tile the source
    assert plan_ranges(600.0, clips.model_copy(update={"split_min_seconds": 0})) == []
    assert plan_ranges(600.0, clips.model_copy(update={"split_min_seconds": None})) == []
    assert plan_ranges(None, clips) == []
    # not hashed: splitting changes how fast a job runs, never what it writes (resume keeps working)
    assert "split_min_seconds" not in clips.output_dump()


def test_only_a_source_that_would_run_alone_splits_by_default():
    from humo_data.jobs.stream import split_from_bytes

    clips = load_config("default").clips
    sizes = [600, 100, 100, 100, 100]  # 1000 bytes on 4 CPUs: 250 a CPU
    least = split_from_bytes(sizes, 4, clips)
    assert [s >= least for s in sizes] == [True, False, False, False, False]
    assert split_from_bytes([300, 300], 4, clips) <= 300  # two sources, four CPUs: both alone
    assert split_from_bytes([600], 2, clips) > 600  # under clips.split_min_cpus: none


def test_detector_state_tells_histories_apart_until_a_shared_cut():
    """The digest a range's start is checked with: a detector that started late differs until both
    have cut at the same frame, then matches (and so decides the same from there on)."""
    import numpy as np

    from humo_data.clips.ranges import detector_state

    def shot(level):
        return np.full((36, 64, 3), level, np.uint8)

    frames = [shot(50)] * 10 + [shot(200)] * 20 + [shot(90)] * 20  # cuts at 10 and 30
    whole, late = build_shot_detector(ShotsConfig(), 25.0), build_shot_detector(ShotsConfig(), 25.0)
    states = {}
    for i, f in enumerate(frames):
        cuts = whole.push(i, f)
        if i >= 12:  # started after the first cut, as a range does
            assert late.push(i, f) == cuts
            states[i] = (detector_state(whole, False, i), detector_state(late, False, i))
    assert states[20][0] != states[20][1] and states[45][0] == states[45][1]
    assert detector_state(whole, False, 49) != detector_state(whole, True, 49)
