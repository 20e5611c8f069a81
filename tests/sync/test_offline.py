"""The sync stage with the offline scorer (landmark-envelope-xcorr) on rows the pipeline makes.

Every row comes from a file cut by the real cutter and seen by the faces stage (conftest.py);
shifted uploads are ffmpeg re-muxes with the audio delayed or advanced by k frames. What the
closing note reports is measured by benchmarks/sync_recovery.py on every talking window; these
tests hold the stage to the same rules on a subset:

- no shift without evidence: an in-sync window is never moved by >= 2 frames, and one the stage
  passes reads within one frame of 0;
- a passed shifted window is left less than ``xcorr_min_shift_frames`` off, and applied shifts
  are recovered at the rate the benchmark measured on these sources (the stage gates most
  windows as ``low_sync_confidence``; see README "Sync").
"""

import numpy as np
import pytest

from humo_data.media.audio import decode_audio_bytes, decode_audio_track, pcm_from_bytes
from humo_data.media.ffmpeg import run_ffmpeg, safe_path
from humo_data.stage import rows_to_table
from humo_data.sync.config import SyncConfig
from humo_data.sync.stage import SyncStage
from tests.shared_media import media_file, needs_media
from tests.sync.pipeline_rows import TALKING_SOURCES, pipeline_rows

pytestmark = [needs_media, pytest.mark.slow]
SR, FPS = 16000, 25.0
SAD, DEMO1, DEMO3 = TALKING_SOURCES
SHIFTS = (-8, -4, 4, 8)
#: shifted windows of SAD and DEMO1 (10 s clips) the stage passed and left within one frame:
#: 1 of 8 in benchmarks/results/sync_recovery.json (SAD's passed ones are left 2 frames off: it
#: reads -2 in sync); the test holds that level
MIN_RECOVERED = 1


@pytest.fixture(scope="module")
def stage():
    return SyncStage(SyncConfig())


def run(stage: SyncStage, rows: list[dict]) -> list[dict]:
    return stage(rows_to_table(rows)).to_pylist()


def lag_frames(a: np.ndarray, b: np.ndarray, max_frames: int = 15) -> float:
    """Delay of ``b`` relative to ``a`` in video frames (cross-correlation of the envelopes)."""
    hop = 160
    env = lambda x: np.sqrt(np.convolve(x**2, np.ones(hop) / hop, "same")[::hop])  # noqa: E731
    ea, eb = env(a), env(b)
    n = min(len(ea), len(eb))
    ea, eb = ea[:n] - ea[:n].mean(), eb[:n] - eb[:n].mean()
    lags = range(-max_frames * 4, max_frames * 4 + 1)
    score = [np.dot(ea[max(0, -k) : n - max(0, k)], eb[max(0, k) : n - max(0, -k)]) for k in lags]
    return lags[int(np.argmax(score))] / 4  # 100 Hz envelope -> 25 fps frames


def test_in_sync_windows_are_never_moved(pipeline, stage):
    """Every in-sync talking window at the job's clip lengths: no audio moved (the issue's goal is
    none by >= 2 frames), media kept byte for byte, and a passed window reads within one frame."""
    seen, report = 0, []
    for name in TALKING_SOURCES:
        for max_seconds in (3.88, 10.0):
            rows = pipeline.rows(name, 0, max_seconds)
            for row, out in zip(rows, run(stage, rows), strict=True):
                seen += 1
                assert out["sync_backend"] == "landmark-envelope-xcorr" and out["_reject_reason"] is None
                moved = out["audio_offset_frames"]
                report.append((name[:12], row["start_time"], row["num_frames"], out["sync_offset_frames"],
                               out["sync_gate"], moved))  # fmt: skip
                assert moved == 0, report[-1]  # no move below xcorr_min_shift_frames (3)
                assert out["audio"] == row["audio"] and out["video"] == row["video"]
                if out["sync_gate"] is None:  # passed as cut: read within one frame of in sync
                    assert abs(out["sync_offset_frames"]) <= 1, report[-1]
                assert out["sync_verified"] is False  # the offline scorer never verifies
    print(report)
    assert seen >= 12  # 9 clips of 97 frames, 4 of up to 10 s


def test_applied_shifts_are_recovered_or_gated(pipeline, stage):
    """ffmpeg-shifted uploads: a passed window is left closer to in sync than the scorer can
    resolve (|residual| < xcorr_min_shift_frames: the same +-2 frames it leaves in-sync readings
    at; its speaker-to-speaker spread, see the benchmark's wrong_corrections), a gated one is not
    moved, and the count recovered within one frame holds the benchmark's level."""
    recovered, total, report = 0, 0, []
    for name in (SAD, DEMO1):
        for k in SHIFTS:
            for out in run(stage, pipeline.rows(name, k, 10.0)):
                total += 1
                residual = k + out["audio_offset_frames"]  # delay left after the stage's move
                report.append((name[:12], k, out["sync_offset_frames"], out["sync_gate"], residual))
                if out["sync_gate"] is None:
                    assert abs(residual) < stage.config.xcorr_min_shift_frames, report[-1]
                    recovered += abs(residual) <= 1
                else:
                    assert out["audio_offset_frames"] == 0, report[-1]
    print(f"recovered {recovered}/{total}: {report}")
    assert total == 2 * len(SHIFTS)
    assert recovered >= MIN_RECOVERED, report


def test_a_moved_clip_carries_the_realigned_audio_in_flac_and_mp4(pipeline, stage):
    reference = {round(r["start_time"], 2): r for r in pipeline.rows(DEMO1, 0, 10.0)}
    moved = []
    for k in SHIFTS:
        rows = pipeline.rows(DEMO1, k, 10.0)
        for row, out in zip(rows, run(stage, rows), strict=True):
            if out["audio_offset_frames"]:
                moved.append((k, row, out))
    if not moved:
        pytest.fail("no shifted demo1 window was moved: the realignment path went untested")
    for k, row, out in moved:
        ref = decode_audio_bytes(reference[round(row["start_time"], 2)]["audio"], SR)
        wave = decode_audio_bytes(out["audio"], SR)
        assert len(wave) == len(decode_audio_bytes(row["audio"], SR))
        assert abs(lag_frames(ref, wave)) <= 1  # back in sync with the published clip
        assert abs(lag_frames(ref, decode_audio_bytes(row["audio"], SR)) - k) <= 1  # it was k off
        track = decode_audio_track(out["video"], SR)  # the MP4's AAC track is the stored audio
        assert abs(lag_frames(wave, track[: len(wave)])) <= 0.25
        assert np.corrcoef(wave, track[: len(wave)])[0, 1] > 0.95


def test_a_shift_beyond_the_gate_keeps_the_row_unshifted(pipeline, stage):
    rows = pipeline.rows(DEMO1, 12, 10.0)  # out of the +-6 gate, inside the +-15 search
    for row, out in zip(rows, run(stage, rows), strict=True):
        assert out["_reject_reason"] is None
        assert out["sync_gate"] in ("out_of_sync", "low_sync_confidence")
        assert (
            out["audio"] == row["audio"] and out["video"] == row["video"] and out["audio_offset_frames"] == 0
        )


def test_with_the_faces_stage_off_the_scorer_finds_the_face_itself(pipeline, stage):
    rows = pipeline.rows(SAD, 0, 10.0, faces=False)
    assert all(r["face_track"] is None for r in rows)
    with_track = run(stage, pipeline.rows(SAD, 0, 10.0))
    for a, b in zip(with_track, run(stage, rows), strict=True):
        assert b["sync_gate"] != "no_face_track" and b["sync_offset_frames"] is not None
        assert abs(a["sync_offset_frames"] - b["sync_offset_frames"]) <= 1


def test_faceless_silent_and_music_clips_are_never_moved_and_keep_their_rows(tmp_path, pipeline, stage):
    # a test pattern with real speech: the faces stage would reject it, so a job with faces off
    faceless = tmp_path / "pattern_with_speech.mp4"
    run_ffmpeg(["-f", "lavfi", "-i", "testsrc2=size=640x360:rate=25:duration=7", "-i",
                safe_path(media_file("sadtalker_RD_Radio31_000.wav")), "-map", "0:v", "-map", "1:a",
                "-c:v", "libx264", "-pix_fmt", "yuv420p", "-c:a", "aac", "-shortest", "-y", safe_path(faceless)])  # fmt: skip
    (no_face,) = run(stage, pipeline_rows(faceless, 10.0, faces=False))
    assert no_face["sync_gate"] == "no_face_track" and no_face["_reject_reason"] is None
    silent = run(stage, pipeline.rows("liveportrait_d19.mp4", 0, 10.0))  # digital silence
    assert silent and all(r["sync_gate"] == "no_speech" for r in silent)
    assert all(r["audio_offset_frames"] == 0 and r["sync_offset_frames"] is None for r in silent)
    # lip-sync to music (mostly instrumental): the stage's own VAD finds no speech to align in the
    # 10 s windows; whatever it decides, no music clip passes with its audio moved
    for max_seconds in (3.88, 10.0):
        music = run(stage, pipeline.rows("liveportrait_d10.mp4", 0, max_seconds))
        assert music and all(r["sync_backend"] == "landmark-envelope-xcorr" for r in music)
        assert all(r["_reject_reason"] is None and r["audio_offset_frames"] == 0 for r in music), music
        assert all(r["sync_gate"] is not None for r in music)
        if max_seconds == 10.0:
            assert {r["sync_gate"] for r in music} == {"no_speech"}


def test_swapped_audio_is_not_verified_by_the_offline_scorer(tmp_path, stage):
    """Documents the limit: other speech also finds a 'best' offset; only SyncNet can verify."""
    dubbed = tmp_path / "demo1_dubbed.mp4"
    run_ffmpeg(["-i", safe_path(media_file(DEMO1)), "-i", safe_path(media_file("latentsync_demo1_audio.wav")),
                "-map", "0:v", "-map", "1:a", "-c:v", "copy", "-c:a", "aac", "-shortest", "-y", safe_path(dubbed)])  # fmt: skip
    rows = pipeline_rows(dubbed, 10.0)
    assert rows and len(pcm_from_bytes(rows[0]["_audio_pcm"]))
    for out in run(stage, rows):
        assert out["sync_offset_frames"] is not None and out["sync_verified"] is False
