"""ClipPlanner: margins around cuts, max-length splits, 4k+1 snapping, late cut reports."""

import pytest

from humo_data.clips.planner import ClipClose, ClipFrames, ClipOpen, ClipPlanner, ShotTooShort, frame_bounds


def run(planner: ClipPlanner, n: int, cuts_at: dict[int, list[int]]):
    events = []
    for i in range(n):
        events += planner.push(i, i, cuts_at.get(i, []))
    events += planner.finish(n - 1, [])
    clips, shorts, cur = [], [], None
    for ev in events:
        if isinstance(ev, ClipOpen):
            cur = (ev, [])
        elif isinstance(ev, ClipFrames):
            cur[1].extend(ev.frames)
        elif isinstance(ev, ClipClose):
            if ev.keep:
                assert len(cur[1]) >= ev.length
                clips.append((cur[0].shot_index, cur[1][: ev.length]))
        elif isinstance(ev, ShotTooShort):
            shorts.append(ev)
    return clips, shorts


@pytest.mark.parametrize(
    "seconds,fps,snap,expected", [((2, 10), 25, 4, (53, 249)), ((2, 10), 25, 1, (50, 250))]
)
def test_frame_bounds(seconds, fps, snap, expected):
    lo, hi = frame_bounds(*seconds, fps, snap)
    assert (lo, hi) == expected
    if snap == 4:
        assert (lo - 1) % 4 == 0 and (hi - 1) % 4 == 0


def test_frame_bounds_impossible():
    with pytest.raises(ValueError):
        frame_bounds(2.0, 2.05, 25, 4)


def test_late_cut_trims_margins_and_never_spans_the_cut():
    planner = ClipPlanner(min_frames=9, max_frames=13, margin=2, latency=3, snap=4)
    clips, shorts = run(planner, 60, {30: [27]})  # cut at frame 27, reported 3 frames late
    assert not shorts
    for shot, frames in clips:
        assert (len(frames) - 1) % 4 == 0 and 9 <= len(frames) <= 13
        assert frames == list(range(frames[0], frames[0] + len(frames)))  # contiguous
        if shot == 0:
            assert frames[0] >= 2 and frames[-1] <= 27 - 2 - 1
        else:
            assert frames[0] >= 27 + 2
    assert {shot for shot, _ in clips} == {0, 1}
    assert all(f <= 59 - 2 for _, frames in clips for f in frames)


def test_short_shot_is_reported_and_long_shot_split():
    planner = ClipPlanner(min_frames=9, max_frames=13, margin=0, latency=0, snap=1)
    clips, shorts = run(planner, 40, {5: [5]})  # shot 0 = frames 0-4: too short
    assert [(s.shot_index, s.start, s.end) for s in shorts] == [(0, 0, 5)]
    lengths = [len(f) for _, f in clips]
    assert lengths == [13, 13, 9]  # 35 frames -> 13 + 13 + 9


def test_blank_run_is_a_gap_not_a_shot():
    planner = ClipPlanner(min_frames=5, max_frames=9, margin=0, latency=0, snap=1)
    events = []
    blank = set(range(10, 16))  # a black separator; the caller cuts where blank starts and ends
    for i in range(30):
        cuts = [i] if i in (10, 16) else []
        events += planner.push(i, i, cuts, usable=i not in blank)
    events += planner.finish(29, [])
    clips, cur = [], None
    for ev in events:
        if isinstance(ev, ClipOpen):
            cur = (ev.shot_index, [])
        elif isinstance(ev, ClipFrames):
            cur[1].extend(ev.frames)
        elif isinstance(ev, ClipClose) and ev.keep:
            clips.append((cur[0], cur[1][: ev.length]))
    assert not any(isinstance(ev, ShotTooShort) for ev in events)
    assert [shot for shot, _ in clips] == [0, 1, 1]  # the gap takes no shot index
    assert not any(f in blank for _, frames in clips for f in frames)
