"""AudioStage on working rows built from real media: gates write audio_gate and never reject;
bad input (silence, music, clipping, odd layouts and rates, short audio, no audio) never crashes."""

import numpy as np
import pyarrow as pa
import pytest

from humo_data.audio.config import AudioConfig, SeparationConfig
from humo_data.audio.stage import AudioStage
from humo_data.media.audio import decode_audio_bytes, decode_audio_track
from humo_data.media.ffmpeg import run_ffmpeg, safe_path
from humo_data.stage import rows_to_table
from tests.audio.media_rows import MUSIC, SILENT, TALKING, cached_row, clip_row, source_audio
from tests.shared_media import media_file, needs_media

pytestmark = needs_media
SR = 16000


@pytest.fixture(scope="module")
def stage():
    return AudioStage(AudioConfig())


def run(stage, rows: list[dict]) -> list[dict]:
    out = stage(rows_to_table(rows))
    assert out.num_rows == len(rows)
    assert out.column("_reject_reason").null_count == len(rows)  # gates never reject
    return out.to_pylist()


def test_talking_silent_and_music_clips(stage):
    talking, silent, music = cached_row(*TALKING[0]), cached_row(*SILENT), cached_row(*MUSIC)
    a, b, c = run(stage, [talking, silent, music])
    assert a["audio_gate"] is None
    assert a["speech_ratio"] > 0.6 and a["asr_hypothesis"] and a["asr_words"]
    # pocketsphinx's measured WER is above the ceiling: its words are a hypothesis, not a transcript
    assert a["transcript"] is None and a["asr_backend"] == "pocketsphinx-en-us" and a["asr_wer"] > 0.3
    assert a["speech_backend"].startswith("silero-vad-v5+pocketsphinx-en-us")
    assert all(0 <= s < e <= talking["num_frames"] / 25 + 1e-6 for s, e in a["speech_segments"])
    assert a["language"] is None  # offline: no language identification
    assert a["speaker_count"] == 1 and a["speaker_backend"] == "pyannote-segmentation"
    assert b["audio_gate"] == "not_enough_speech" and b["speech_ratio"] < 0.05
    assert b["speech_to_background_db"] is None and b["asr_hypothesis"] is None  # skipped: failed already
    assert c["audio_gate"] == "not_enough_speech" and c["speech_ratio"] < 0.5
    assert c["separation_applied"] is True and c["speech_to_background_db"] < 15
    for row, orig in ((a, talking), (b, silent), (c, music)):
        assert row["audio"] == orig["audio"] and row["video"] == orig["video"]  # original mix kept


def test_people_count_no_audio_and_other_gates_ignored(stage):
    talking = cached_row(*TALKING[0])
    two_people = dict(talking, people_count=2)
    no_audio = dict(talking, has_audio=False, audio=None, _audio_pcm=None, audio_format=None)
    empty_pcm = dict(talking, _audio_pcm=b"", audio=None)
    earlier = dict(talking, audio_gate="not_enough_speech", stage2_reason="no_reference")
    rows = run(stage, [two_people, no_audio, empty_pcm, earlier])
    # the gate is this run's own reading: an earlier audio_gate or a derived stage2_reason is not kept
    assert [r["audio_gate"] for r in rows] == ["several_speakers", "no_audio", "no_audio", None]
    assert rows[1]["speech_ratio"] is None and rows[1]["speech_backend"] is None
    assert rows[3]["speech_ratio"] > 0.6  # still measured


def test_clipped_and_short_audio(stage):
    path = str(media_file(TALKING[0][0]))
    speech = source_audio(path)
    clipped = clip_row(path, 0.64, 4.0, audio=np.clip(speech * 30, -1, 1), face_track=False)
    short = speech.copy()
    short[int(1.6 * SR) :] = 0  # the audio track ends 1 s into a 4 s clip
    ended = clip_row(path, 0.64, 4.0, audio=short[: int(1.7 * SR)], face_track=False)
    a, b = run(stage, [clipped, ended])
    assert a["audio_clipped_fraction"] > 0.01 and a["audio_gate"] == "audio_clipped"
    assert b["audio_gate"] == "not_enough_speech" and 0.05 < b["speech_ratio"] < 0.5


@pytest.mark.parametrize("layout, rate", [("stereo", 44100), ("5.1", 48000), ("mono", 8000)])
def test_channel_layouts_and_rates(stage, tmp_path, layout, rate):
    """Sources with stereo, 5.1 and 8 kHz audio arrive as 16 kHz mono and read as speech."""
    src = tmp_path / f"talk_{layout}_{rate}.mp4"
    run_ffmpeg(["-i", safe_path(media_file(TALKING[0][0])), "-t", "5", "-c:v", "copy", "-c:a", "aac",
                "-ac", {"stereo": "2", "5.1": "6", "mono": "1"}[layout], "-ar", str(rate), "-y", safe_path(src)])  # fmt: skip
    row = clip_row(src, 0.64, 4.0, face_track=False)
    (out,) = run(stage, [row])
    assert out["speech_ratio"] > 0.5, (layout, rate)
    assert len(decode_audio_track(row["video"], SR)) >= 3.9 * SR


def test_store_separated_rewrites_audio_and_the_mp4_track():
    stage = AudioStage(AudioConfig(separation=SeparationConfig(store_separated=True)))
    music = cached_row(*MUSIC)
    (out,) = run(stage, [music])
    assert out["separation_applied"] and out["audio"] != music["audio"]
    stored = decode_audio_bytes(out["audio"], SR)
    track = decode_audio_track(out["video"], SR)[: len(stored)]
    assert np.corrcoef(stored[: len(track)], track)[0, 1] > 0.95


def test_column_types_match_the_schema(stage):
    out = stage(rows_to_table([cached_row(*TALKING[0])]))
    assert isinstance(out, pa.Table)
    assert out.schema.field("asr_words").type.value_type.names == ["word", "start", "end", "probability"]
