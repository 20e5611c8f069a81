"""The offline scorer (landmark-envelope-xcorr) and the SyncStage on real talking clips.

Shift recovery: each clip's audio is delayed by k frames (k = +-2 .. +-10) and the scorer's offset
must move by -k (SyncNet sign) within one frame; the recovery rate over all clips and shifts is
the figure the closing note reports (goal >= 90%). Realignment: the original and a shifted copy,
each realigned by the stage, carry the same audio within one frame, in FLAC and in the MP4."""

import numpy as np

from humo_data.media.audio import decode_audio_bytes, decode_audio_track, pcm_from_bytes
from humo_data.stage import rows_to_table
from humo_data.sync.config import SyncConfig
from humo_data.sync.scores import score_curve_offset
from humo_data.sync.stage import SyncStage
from humo_data.sync.track import mouth_opening, track_face
from humo_data.sync.xcorr import offset_curve
from tests.audio.media_rows import MUSIC, SILENT, TALKING, cached_row, shifted_copy, shifted_pcm, source_audio
from tests.shared_media import media_file, needs_media

pytestmark = needs_media
SR, FPS = 16000, 25.0
SHIFTS = (-10, -7, -4, -2, 2, 4, 7, 10)


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


def test_applied_shifts_are_recovered():
    cfg = SyncConfig()
    hits, total, report = 0, 0, {}
    for name, start, seconds in TALKING:
        row = cached_row(name, start, seconds)
        track = track_face(row["video"], row["face_track"], FPS)
        assert track.found_fraction > 0.9, name
        mouth = mouth_opening(track.landmarks)

        def offset(k: int, row=row, mouth=mouth) -> int:
            curve = offset_curve(
                mouth,
                shifted_pcm(row, k),
                row["_audio_margin"],
                FPS,
                cfg.max_offset_frames,
                cfg.xcorr_bands,
                cfg.xcorr_ridge,
            )
            return score_curve_offset(curve).offset

        base = offset(0)
        moves = [offset(k) - base for k in SHIFTS]
        report[name] = (base, moves)
        hits += sum(abs(m + k) <= 1 for m, k in zip(moves, SHIFTS, strict=True))
        total += len(SHIFTS)
    rate = hits / total
    print(f"landmark-envelope-xcorr recovery {rate:.2f} ({hits}/{total}): {report}")
    assert rate >= 0.9, report


def test_stage_realigns_audio_and_the_mp4_agrees():
    row = cached_row(*TALKING[0])
    stage = SyncStage(SyncConfig())
    base = stage(rows_to_table([row])).to_pylist()[0]["sync_offset_frames"]
    k = -4 if base < 0 else 4  # the shifted copy stays inside the +-6 gate
    shifted = shifted_copy(row, k)
    a, b = stage(rows_to_table([row, shifted])).to_pylist()
    assert a["sync_backend"] == b["sync_backend"] == "landmark-envelope-xcorr"
    assert abs((b["sync_offset_frames"] - a["sync_offset_frames"]) + k) <= 1
    assert a["sync_verified"] is False and b["sync_verified"] is False  # offline: corrected, not verified
    assert b["sync_gate"] is None and b["audio_offset_frames"] == b["sync_offset_frames"] != 0
    # the shifted copy now carries the audio it should: the same as the realigned original
    wa, wb = decode_audio_bytes(a["audio"], SR), decode_audio_bytes(b["audio"], SR)
    assert len(wb) == len(decode_audio_bytes(row["audio"], SR))
    assert abs(lag_frames(wa, wb)) <= 1
    assert abs(lag_frames(decode_audio_bytes(row["audio"], SR), wb) - a["audio_offset_frames"]) <= 1
    # the MP4's AAC track is the stored audio
    track = decode_audio_track(b["video"], SR)
    assert abs(lag_frames(wb, track[: len(wb)])) <= 0.25
    assert np.corrcoef(wb, track[: len(wb)])[0, 1] > 0.95


def test_a_shift_beyond_the_gate_keeps_the_row_unshifted():
    row = cached_row(*TALKING[1])
    far = shifted_copy(row, 12)  # out of the +-6 gate, inside the +-15 search
    (out,) = SyncStage(SyncConfig()).__call__(rows_to_table([far])).to_pylist()
    assert out["_reject_reason"] is None
    assert out["sync_gate"] in ("out_of_sync", "low_sync_confidence")
    assert out["sync_offset_frames"] is not None and out["sync_offset_frames"] <= -8
    assert out["audio"] == far["audio"] and out["video"] == far["video"] and out["audio_offset_frames"] == 0


def test_without_a_face_track_the_scorer_finds_the_face_itself():
    row = cached_row(*TALKING[0])
    no_track = dict(row, face_track=None)
    a, b = SyncStage(SyncConfig()).__call__(rows_to_table([row, no_track])).to_pylist()
    assert b["sync_offset_frames"] is not None and abs(a["sync_offset_frames"] - b["sync_offset_frames"]) <= 1


def test_no_face_silence_and_music_are_not_stage2_and_keep_their_rows():
    talking = cached_row(*TALKING[0])
    # the picture of a faceless clip (grey noise) with real speech
    faceless = dict(talking, face_track=None, video=_grey_video(talking))
    # another gate's verdict does not stop the sync stage: it scores every clip with audio
    silent = dict(cached_row(*SILENT), audio_gate="not_enough_speech")
    music = dict(cached_row(*MUSIC), audio_gate="not_enough_speech")
    rows = SyncStage(SyncConfig()).__call__(rows_to_table([faceless, silent, music])).to_pylist()
    assert rows[0]["sync_gate"] == "no_face_track"
    assert all(r["_reject_reason"] is None for r in rows)
    assert all(r["audio_gate"] == "not_enough_speech" for r in rows[1:])  # not the sync stage's column
    assert all(r["sync_backend"] == "landmark-envelope-xcorr" for r in rows[1:])


def test_swapped_audio_is_not_caught_by_the_offline_scorer():
    """Documents the limit: other speech also finds a 'best' offset; only SyncNet can verify."""
    row = cached_row(*TALKING[1])
    other = decode_audio_bytes(media_file("latentsync_demo1_audio.wav").read_bytes(), SR)
    swapped = dict(row, _audio_pcm=shifted_pcm(row, 0, audio=other).tobytes())
    (out,) = (
        SyncStage(SyncConfig(max_abs_offset_frames=15, min_confidence_xcorr=0.0))
        .__call__(rows_to_table([swapped]))
        .to_pylist()
    )
    assert out["sync_offset_frames"] is not None and out["sync_verified"] is False


def _grey_video(row: dict) -> bytes:
    import av

    from humo_data.media.encode import ClipEncoder

    rng = np.random.default_rng(0)
    enc = ClipEncoder(row["width"], row["height"], FPS, preset="ultrafast", audio_rate=SR)
    for _ in range(row["num_frames"]):
        img = rng.integers(100, 140, (row["height"], row["width"], 3), dtype=np.uint8)
        enc.add(av.VideoFrame.from_ndarray(img, format="rgb24").reformat(format="yuv420p"))
    return enc.finish(pcm_from_bytes(row["_audio_pcm"]))


def test_source_audio_helper_is_real_speech():
    assert np.abs(source_audio(str(media_file(TALKING[0][0])))).max() > 0.1
