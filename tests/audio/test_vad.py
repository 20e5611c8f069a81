"""Silero VAD through onnxruntime: speech ratio near 1 on speech, near 0 on silence, tones, noise."""

import numpy as np
import pytest

from humo_data.audio.config import VadConfig
from humo_data.audio.vad import WINDOW_SECONDS, SileroVad, speech_ratio, speech_segments
from humo_data.media.audio import decode_audio_bytes
from tests.audio.media_rows import source_audio
from tests.shared_media import media_file, needs_media

SR = 16000


@pytest.fixture(scope="module")
def vad():
    return SileroVad(VadConfig())


def ratio(vad, wave):
    probs = vad.probabilities([wave])[0]
    return speech_ratio(speech_segments(probs, VadConfig(), len(wave) / SR), len(wave) / SR)


@needs_media
@pytest.mark.parametrize(
    "name",
    ["sadtalker_WDA_AlexandriaOcasioCortez_000.mp4", "latentsync_demo1_audio.wav", "sadtalker_RD_Radio31_000.wav",
     "sadtalker_chinese_news.wav"],
)  # fmt: skip
def test_speech_reads_near_one(vad, name):
    path = media_file(name)
    wave = decode_audio_bytes(path.read_bytes(), SR) if path.suffix == ".wav" else source_audio(str(path))
    assert ratio(vad, wave) > 0.6


def test_silence_tones_and_noise_read_near_zero(vad):
    t = np.arange(6 * SR) / SR
    rng = np.random.default_rng(0)
    cases = {
        "digital silence": np.zeros(len(t), np.float32),
        "440 Hz tone": 0.3 * np.sin(2 * np.pi * 440 * t),
        "two-tone chord": 0.2 * np.sin(2 * np.pi * 330 * t) + 0.2 * np.sin(2 * np.pi * 523 * t),
        "sweep 100-4000 Hz": 0.3 * np.sin(2 * np.pi * (100 * t + (3900 / 12) * t**2)),
        "white noise": 0.05 * rng.standard_normal(len(t)),
    }
    for name, wave in cases.items():
        assert ratio(vad, wave.astype(np.float32)) < 0.1, name


@needs_media
def test_silent_track_of_a_real_video(vad):
    wave = source_audio(str(media_file("liveportrait_d19.mp4")))
    assert ratio(vad, wave) < 0.05


@needs_media
def test_a_batch_gives_each_clip_its_own_probabilities(vad):
    speech = source_audio(str(media_file("sadtalker_WDA_AlexandriaOcasioCortez_000.mp4")))[: 3 * SR]
    silence = np.zeros(2 * SR, np.float32)
    alone = vad.probabilities([speech])[0]
    batched = vad.probabilities([silence, speech, silence[:100]])
    np.testing.assert_allclose(batched[1], alone, atol=1e-5)
    assert len(batched[0]) == int(np.ceil(2 * SR / 512)) and len(batched[2]) == 1
    assert batched[0].max() < 0.2


def test_segment_rules_follow_silero():
    cfg = VadConfig(min_speech_ms=250, min_silence_ms=100, speech_pad_ms=30)
    w = WINDOW_SECONDS
    probs = np.zeros(100, np.float32)
    probs[10:30] = 0.9  # 0.64 s of speech
    probs[31:33] = 0.1  # a 64 ms dip: shorter than min_silence, no split
    probs[33:50] = 0.9
    probs[70:74] = 0.9  # 128 ms blip: shorter than min_speech, dropped
    segs = speech_segments(probs, cfg, duration=100 * w)
    assert len(segs) == 1
    (start, end) = segs[0]
    assert start == pytest.approx(10 * w - 0.03, abs=1e-3) and end == pytest.approx(50 * w + 0.03, abs=1e-3)
    assert speech_ratio(segs, 100 * w) == pytest.approx((end - start) / (100 * w))
    # speech running to the end of the clip stays open and is clipped to the duration
    probs[90:] = 0.95
    assert speech_segments(probs, cfg, duration=100 * w)[-1][1] == pytest.approx(100 * w, abs=1e-3)
