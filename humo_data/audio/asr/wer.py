"""Word error rate of an ASR backend on speech whose words are known: what decides whether its text
is a ``transcript`` (read as what was said) or an ``asr_hypothesis`` (see ``AsrConfig.measured_wer``).

The known-words speech is synthesised by espeak-ng (the Debian package; ``apt-get install
espeak-ng``) from Harvard sentences (IEEE Recommended Practice for Speech Quality Measurements,
1969: phonetically balanced everyday English, public domain) in several voices. The speech is clean
and clearly articulated but synthetic: noise, accents and fast speech in real recordings add errors,
while a recogniser trained only on natural voices (pocketsphinx) may read a formant voice worse than
real speech. It is a fixed, reproducible yardstick, not a prediction for every recording.

    waves = espeak_sentences()                       # [(text, voice, 16 kHz wave)]
    wer = measure_wer(asr, vad, waves)               # corpus WER of that backend

Nothing here runs in the pipeline: the measured figure is recorded in config and checked by
tests/audio/test_asr_wer.py against a fresh measurement.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

SR = 16000
HARVARD_SENTENCES = (
    "The birch canoe slid on the smooth planks.",
    "Glue the sheet to the dark blue background.",
    "It's easy to tell the depth of a well.",
    "These days a chicken leg is a rare dish.",
    "Rice is often served in round bowls.",
    "The juice of lemons makes fine punch.",
    "The box was thrown beside the parked truck.",
    "The hogs were fed chopped corn and garbage.",
    "Four hours of steady work faced us.",
    "A large size in stockings is hard to sell.",
    "The boy was there when the sun rose.",
    "A rod is used to catch pink salmon.",
    "The source of the huge river is the clear spring.",
    "Kick the ball straight and follow through.",
    "Help the woman get back to her feet.",
    "A pot of tea helps to pass the evening.",
    "Smoky fires lack flame and heat.",
    "The soft cushion broke the man's fall.",
    "The salt breeze came across from the sea.",
    "The girl at the booth sold fifty bonds.",
)
#: espeak-ng voices: American male, American with a female variant, British
VOICES = ("en-us", "en-us+f3", "en-gb")


@dataclass
class Sample:
    text: str
    voice: str
    wave: np.ndarray


def normalise(text: str) -> list[str]:
    """Lower case words, punctuation dropped (apostrophes kept inside words)."""
    return re.findall(r"[a-z0-9]+(?:'[a-z]+)?", text.lower())


def edit_distance(ref: Sequence[str], hyp: Sequence[str]) -> int:
    """Word-level Levenshtein distance (substitutions + deletions + insertions)."""
    prev = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, 1):
        cur = [i] + [0] * len(hyp)
        for j, h in enumerate(hyp, 1):
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (r != h))
        prev = cur
    return prev[-1]


def corpus_wer(refs: Sequence[str], hyps: Sequence[str]) -> float:
    """Total word edits over total reference words."""
    edits = sum(edit_distance(normalise(r), normalise(h)) for r, h in zip(refs, hyps, strict=True))
    words = sum(len(normalise(r)) for r in refs)
    return edits / max(words, 1)


def espeak_sentences(
    sentences: Sequence[str] = HARVARD_SENTENCES, voices: Sequence[str] = VOICES, words_per_minute: int = 160
) -> list[Sample]:
    """Each sentence spoken by each voice, as 16 kHz mono float32 (half a second of silence around)."""
    from humo_data.media.audio import decode_audio_bytes

    exe = shutil.which("espeak-ng")
    if exe is None:
        raise FileNotFoundError("espeak-ng is not installed (Debian: apt-get install -y espeak-ng)")
    out = []
    pad = np.zeros(SR // 2, np.float32)
    for voice in voices:
        for text in sentences:
            wav = subprocess.run(
                [exe, "-v", voice, "-s", str(words_per_minute), "--stdout", text],
                capture_output=True,
                check=True,
            ).stdout
            wave = decode_audio_bytes(wav, SR)
            out.append(Sample(text, voice, np.concatenate([pad, wave, pad]).astype(np.float32)))
    return out


def measure_wer(asr, vad, samples: Sequence[Sample], vad_config) -> tuple[float, list[str]]:
    """Corpus WER of ``asr`` on ``samples``, each decoded as the audio stage does (on the speech
    segments Silero finds); also the hypotheses."""
    from humo_data.audio.vad import speech_segments

    probs = vad.probabilities([s.wave for s in samples])
    hyps = []
    for s, p in zip(samples, probs, strict=True):
        segments = speech_segments(p, vad_config, len(s.wave) / SR)
        hyps.append(asr.transcribe(s.wave, segments).transcript if segments else "")
    return corpus_wer([s.text for s in samples], hyps), hyps
