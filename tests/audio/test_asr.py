"""ASR backends: pocketsphinx's packaged English model, and faster-whisper through its real loader
on a tiny random Whisper converted to CTranslate2."""

import numpy as np
import pytest

from humo_data.audio.asr import build_asr, compression_ratio
from humo_data.audio.config import AsrConfig
from humo_data.media.audio import decode_audio_bytes
from tests.audio.tiny_models import LANGS, tiny_whisper
from tests.shared_media import media_file, needs_media

SR = 16000


@pytest.fixture(scope="session")
def whisper_dir(tmp_path_factory):
    pytest.importorskip("transformers")
    pytest.importorskip("faster_whisper")
    return tiny_whisper(tmp_path_factory.mktemp("whisper") / "tiny-ct2")


@needs_media
def test_pocketsphinx_transcribes_english_with_word_times():
    wave = decode_audio_bytes(media_file("sadtalker_RD_Radio31_000.wav").read_bytes(), SR)
    asr = build_asr(AsrConfig(backend="pocketsphinx-en-us"))
    res = asr.transcribe(wave, [(0.0, len(wave) / SR)])
    words = res.transcript.split()
    assert {"holidays", "time"} <= set(words), res.transcript  # "holidays are a time of celebrating ..."
    assert res.language is None and res.avg_logprob is None  # no language id, no Whisper confidences
    assert len(res.words) >= len(words) - 2
    starts = [w.start for w in res.words]
    assert starts == sorted(starts) and starts[0] >= 0 and res.words[-1].end <= len(wave) / SR + 0.01


def test_pocketsphinx_on_silence_gives_nothing():
    asr = build_asr(AsrConfig(backend="pocketsphinx-en-us"))
    res = asr.transcribe(np.zeros(SR * 2, np.float32), [])
    assert res.transcript == "" and res.words == []


def test_faster_whisper_through_the_real_loader(whisper_dir):
    cfg = AsrConfig(backend="faster-whisper", model_dir=str(whisper_dir), beam_size=1, max_new_tokens=20)
    asr = build_asr(cfg)
    t = np.arange(3 * SR) / SR
    wave = (0.2 * np.sin(2 * np.pi * 220 * t) * (np.sin(2 * np.pi * 3 * t) > 0)).astype(np.float32)
    first, second = asr.transcribe(wave), asr.transcribe(wave)
    assert first.transcript == second.transcript  # greedy decoding of fixed weights: deterministic
    assert first.language in LANGS and 0 <= first.language_probability <= 1
    if first.transcript:
        assert first.avg_logprob is not None and first.avg_logprob <= 0
        assert 0 <= first.no_speech_prob <= 1 and first.compression_ratio > 0
    assert all(0 <= w.start <= w.end <= 3.0 + 1e-6 for w in first.words)
    forced = build_asr(cfg.model_copy(update={"language": "de"})).transcribe(wave)
    assert forced.language == "de"


def test_faster_whisper_refuses_a_directory_that_would_reach_for_the_hub(tmp_path):
    (tmp_path / "model.bin").write_bytes(b"")
    with pytest.raises(FileNotFoundError, match="tokenizer.json"):
        build_asr(AsrConfig(backend="faster-whisper", model_dir=str(tmp_path)))
    with pytest.raises(ValueError, match="model_dir"):
        build_asr(AsrConfig(backend="faster-whisper"))


def test_compression_ratio_flags_repetition():
    assert compression_ratio("the cat sat on the mat") < 1.5
    assert compression_ratio("thank you " * 40) > 2.5
    assert compression_ratio("") is None
