"""Where ASR text goes is decided by a measured word error rate: pocketsphinx-en-us is re-measured
here on espeak-ng sentences (known words) and must match the figure recorded in AsrConfig; that
figure against the ceiling sends its text to asr_hypothesis, not transcript."""

from __future__ import annotations

import os
import shutil

import pytest

from humo_data.audio.asr import AsrResult, build_asr
from humo_data.audio.asr.wer import corpus_wer, edit_distance, espeak_sentences, measure_wer, normalise
from humo_data.audio.config import AsrConfig, AudioConfig, VadConfig
from humo_data.audio.stage import AudioStage
from humo_data.audio.vad import SileroVad

BACKEND = "pocketsphinx-en-us"
TOLERANCE = 0.05

# espeak-ng is a Debian package (.ci/run installs it); a developer machine without it skips, CI fails
needs_espeak = pytest.mark.skipif(
    shutil.which("espeak-ng") is None and not os.environ.get("CI"),
    reason="needs espeak-ng (apt-get install -y espeak-ng) to synthesise speech with known words",
)


def test_word_error_rate_counts_edits():
    assert normalise("It's easy, to TELL!") == ["it's", "easy", "to", "tell"]
    assert edit_distance(["a", "b", "c", "d"], ["a", "x", "c"]) == 2  # one substitution, one deletion
    assert corpus_wer(["the cat sat", "on the mat"], ["the cat sat", "on the mat"]) == 0.0
    assert corpus_wer(["the cat sat", "on the mat"], ["the bat sat down", ""]) == pytest.approx(5 / 6)


@pytest.fixture(scope="module")
def fresh_wer() -> float:
    samples = espeak_sentences()
    assert len(samples) == 60 and all(len(s.wave) > 16000 for s in samples)
    wer, hyps = measure_wer(
        build_asr(AsrConfig(backend=BACKEND)), SileroVad(VadConfig()), samples, VadConfig()
    )
    print(
        f"{BACKEND} WER on {len(samples)} espeak-ng sentences: {wer:.3f}; e.g. {samples[0].text!r} -> {hyps[0]!r}"
    )
    return wer


@needs_espeak
def test_recorded_wer_matches_a_fresh_measurement(fresh_wer):
    recorded = AsrConfig().measured_wer[BACKEND]
    assert abs(fresh_wer - recorded) <= TOLERANCE, (
        f"measured {fresh_wer:.3f}, config records {recorded}: update AsrConfig.measured_wer and the README"
    )


@needs_espeak
def test_the_measurement_decides_where_the_text_goes(fresh_wer):
    cfg = AsrConfig(backend=BACKEND, measured_wer={BACKEND: fresh_wer})
    stage = AudioStage(AudioConfig(asr=cfg))
    cols = stage._asr_columns(AsrResult(transcript="holidays are a time", compression_ratio=9.0))
    expect_transcript = fresh_wer <= cfg.max_wer
    assert (cols["transcript"] is not None) == expect_transcript
    assert (cols["asr_hypothesis"] is not None) == (not expect_transcript)
    assert cols["asr_backend"] == BACKEND and cols["asr_wer"] == pytest.approx(fresh_wer)
    assert AsrConfig().trusted() == expect_transcript  # the shipped default routes the same way
    # an untrusted recogniser's figures gate nothing; a trusted one's do
    out = {"speech_ratio": 1.0, "asr_compression_ratio": 9.0}
    clip = type("Clip", (), {"wave": [0.0]})()
    trusted = AudioStage(AudioConfig(asr=cfg.model_copy(update={"max_wer": 1.0})))
    assert trusted.gate(out, {}, clip) == "asr_repetitive"
    untrusted = AudioStage(AudioConfig(asr=cfg.model_copy(update={"max_wer": fresh_wer / 2})))
    assert untrusted.gate(out, {}, clip) is None


def test_an_unmeasured_backend_is_a_hypothesis():
    cfg = AsrConfig(backend="faster-whisper", model_dir="/nowhere")
    assert cfg.recorded_wer() is None and not cfg.trusted()
    measured = cfg.model_copy(update={"measured_wer": {"faster-whisper": 0.05}})
    assert measured.trusted()


def test_the_report_shows_a_hypothesis_as_one():
    from humo_data.report.audio_section import render

    row = {"clip_id": "a" * 16, "stage2": False, "stage2_reason": "no_reference", "speech_ratio": 0.9,
           "transcript": None, "asr_hypothesis": "actually all that sir", "asr_backend": BACKEND, "asr_wer": 0.89}  # fmt: skip
    page = render([row])
    assert "<i>actually all that sir</i>" in page and "hypothesis, pocketsphinx-en-us WER 0.89" in page
