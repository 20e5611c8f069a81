"""Separation and diarization backends: the offline spectral gate on a noisy mix, MDX-Net and
pyannote-segmentation through their real ONNX loaders with tiny models of the same signature."""

import numpy as np
import pytest

from humo_data.audio.config import DiarizationConfig, SeparationConfig, VadConfig
from humo_data.audio.diarization import build_diarizer
from humo_data.audio.levels import speech_to_background
from humo_data.audio.separation import build_separator
from humo_data.audio.vad import SileroVad
from humo_data.media.audio import decode_audio_bytes
from tests.audio.tiny_models import mdx_onnx, segmentation_onnx
from tests.shared_media import media_file, needs_media

SR = 16000


@needs_media
def test_spectral_gating_raises_speech_to_background_on_a_noisy_mix():
    speech = decode_audio_bytes(media_file("sadtalker_RD_Radio31_000.wav").read_bytes(), SR)
    rng = np.random.default_rng(2)
    hum = 0.05 * np.sin(2 * np.pi * 120 * np.arange(len(speech)) / SR)
    mix = (speech + 0.03 * rng.standard_normal(len(speech)) + hum).astype(np.float32)
    vad = SileroVad(VadConfig())
    probs = vad.probabilities([mix])[0]
    before, _ = speech_to_background(mix, probs, 0.5, 0.35)
    vocals = build_separator(SeparationConfig(backend="spectral-gating")).separate(mix, probs)
    assert vocals.shape == mix.shape and vocals.dtype == np.float32
    after, _ = speech_to_background(vocals, vad.probabilities([vocals])[0], 0.5, 0.35)
    assert after > before + 6
    # speech survives: the gated signal still follows the clean speech
    assert np.corrcoef(vocals, speech)[0, 1] > 0.8


def test_mdx_identity_model_gives_back_the_mix(tmp_path):
    """A pass-through model over the full band checks the STFT / chunking / resampling plumbing."""
    n_fft, dim_t = 512, 32
    path = mdx_onnx(tmp_path / "identity.onnx", dim_f=n_fft // 2 + 1, dim_t=dim_t, identity=True)
    cfg = SeparationConfig(backend="mdx-onnx", model_path=str(path), mdx_n_fft=n_fft, mdx_hop=128)
    t = np.arange(int(2.3 * SR)) / SR
    wave = (0.3 * np.sin(2 * np.pi * 300 * t) + 0.2 * np.sin(2 * np.pi * 1700 * t)).astype(np.float32)
    out = build_separator(cfg).separate(wave, np.zeros(1, np.float32))
    assert out.shape == wave.shape
    inner = slice(SR // 10, -SR // 10)  # resampler edges aside
    assert np.abs(out[inner] - wave[inner]).max() < 0.02


def test_mdx_random_model_through_the_loader(tmp_path):
    path = mdx_onnx(tmp_path / "random.onnx", dim_f=256, dim_t=16, seed=3)
    cfg = SeparationConfig(backend="mdx-onnx", model_path=str(path), mdx_n_fft=1024, mdx_hop=256)
    sep = build_separator(cfg)
    wave = np.random.default_rng(0).standard_normal(SR).astype(np.float32) * 0.1
    a, b = sep.separate(wave, np.zeros(1)), sep.separate(wave, np.zeros(1))
    assert a.shape == wave.shape and np.isfinite(a).all() and np.array_equal(a, b)
    assert not np.allclose(a, wave, atol=1e-3)  # the random model changes the audio
    instrumental = build_separator(cfg.model_copy(update={"mdx_output": "instrumental"})).separate(
        wave, np.zeros(1)
    )
    assert instrumental.shape == wave.shape
    with pytest.raises(ValueError, match="dim_f"):
        build_separator(cfg.model_copy(update={"mdx_n_fft": 256}))
    with pytest.raises(ValueError, match="model_path"):
        build_separator(SeparationConfig(backend="mdx-onnx"))


def test_pyannote_segmentation_counts_powerset_speakers(tmp_path):
    wave = np.random.default_rng(1).standard_normal(SR * 4).astype(np.float32) * 0.1
    # class 4 = speakers {1, 2} active everywhere: two speakers
    two = build_diarizer(
        DiarizationConfig(
            backend="pyannote-segmentation-onnx",
            model_path=str(segmentation_onnx(tmp_path / "two.onnx", favour=4)),
        )
    )
    assert two.speaker_count(wave) == 2
    nobody = build_diarizer(
        DiarizationConfig(
            backend="pyannote-segmentation-onnx",
            model_path=str(segmentation_onnx(tmp_path / "none.onnx", favour=0)),
        )
    )
    assert nobody.speaker_count(wave) == 0
    rand = build_diarizer(
        DiarizationConfig(
            backend="pyannote-segmentation-onnx", model_path=str(segmentation_onnx(tmp_path / "r.onnx"))
        )
    )
    assert 0 <= rand.speaker_count(np.concatenate([wave] * 4)) <= 3  # 16 s: two overlapping windows
    assert build_diarizer(DiarizationConfig(backend="none")) is None  # no backend: unknown, never a guess
