"""DamageTracker: where a decode error's damage starts and ends on the timeline."""

from humo_data.media.damage import DamageTracker


def _frames(tracker, times, corrupt=(), keys=()):
    for t in times:
        tracker.video_frame(t, t in corrupt, t in keys)


def test_video_damage_reaches_back_over_b_frames_and_runs_to_the_next_clean_keyframe():
    tr = DamageTracker("h264", "aac", lookback=2)
    _frames(tr, [0.0, 0.04, 0.08, 0.12], keys={0.0})
    tr.video_frame(0.16, corrupt=True, key=False)
    _frames(tr, [0.20, 0.24])
    [span] = tr.spans
    assert span.end is None and span.start == 0.08  # two frames shown before may predict from it
    assert tr.settled() == 0.20  # frames before it can no longer be found damaged
    tr.video_frame(0.28, corrupt=False, key=True)
    assert span.end == 0.28 and span.contains(0.24) and not span.contains(0.28)
    assert (
        span.what_failed()
        == "h264 video decode errors in 1 frame (1 decoded with concealed errors) at 0.16 s"
    )
    assert tr.take_new() == [span] and tr.take_new() == []


def test_refused_packet_after_a_shown_keyframe_ends_there_and_open_spans_end_with_the_stream():
    tr = DamageTracker("h264", None, lookback=1)
    _frames(tr, [0.0, 0.04, 0.08], keys={0.0, 0.08})
    tr.video_packet_failed(0.04)  # reported late (frame threads): the keyframe at 0.08 is clean
    assert (tr.spans[0].start, tr.spans[0].end) == (0.04, 0.08)
    tr.video_packet_failed(0.2)  # not shown yet: reaches back to the last frame shown
    tr.finish(0.5)
    assert tr.spans[1].start == 0.08 and tr.spans[1].end == 0.5 and tr.spans[1].end_reason == "end of stream"
    assert tr.overlapping(0.0, 0.03) is None and tr.overlapping(0.0, 0.04) is tr.spans[0]


def test_audio_glitches_close_together_are_one_span():
    tr = DamageTracker("h264", "aac", lookback=1)
    tr.audio_packet_failed(1.0, 0.064)
    tr.audio_packet_failed(1.2, 0.064)
    tr.audio_packet_failed(5.0, 0.064)
    assert [(s.start, round(s.end, 3), s.failed_packets) for s in tr.spans] == [
        (1.0, 1.264, 2),
        (5.0, 5.064, 1),
    ]
    assert tr.spans[0].what_failed() == "aac audio decode errors in 2 packets between 1.00 s and 1.20 s"
