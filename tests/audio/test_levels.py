"""Speech-to-background estimate and clipping on mixes with known levels."""

import numpy as np

from humo_data.audio.config import VadConfig
from humo_data.audio.levels import clipped_fraction, speech_to_background
from humo_data.audio.vad import SileroVad
from humo_data.media.audio import decode_audio_bytes
from tests.shared_media import media_file, needs_media

SR = 16000


@needs_media
def test_more_noise_reads_lower_and_the_estimate_tracks_the_mix():
    speech = decode_audio_bytes(media_file("sadtalker_RD_Radio31_000.wav").read_bytes(), SR)
    noise = np.random.default_rng(1).standard_normal(len(speech)).astype(np.float32)
    vad = SileroVad(VadConfig())
    estimates = []
    for noise_db in (-50, -35, -20):
        mix = speech + noise * 10 ** (noise_db / 20)
        probs = vad.probabilities([mix])[0]
        s2b, background = speech_to_background(mix, probs, 0.5, 0.35)
        estimates.append(s2b)
        if noise_db == -20:  # loud enough to dominate the pauses: the background is the noise
            assert abs(background - noise_db) < 6
    assert estimates[0] > estimates[1] > estimates[2]
    assert estimates[2] < 15 < estimates[0]


def test_silence_has_no_estimate_and_clipping_is_counted():
    silence = np.zeros(SR * 2, np.float32)
    s2b, background = speech_to_background(silence, np.zeros(63, np.float32), 0.5, 0.35)
    assert s2b is None and background <= -99
    wave = np.sin(np.linspace(0, 200 * np.pi, SR)).astype(np.float32) * 1.5
    assert 0.3 < clipped_fraction(np.clip(wave, -1, 1)) < 0.8
    assert clipped_fraction(wave * 0.5) == 0.0
