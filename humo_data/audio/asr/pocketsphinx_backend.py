"""Offline default ASR: pocketsphinx with the en-US acoustic and language model its wheel ships.

A classic HMM recogniser: English only, no language identification (``language`` stays null) and
no Whisper-style confidences (the ASR gates do not apply). Honest transcripts of clear English
speech; other languages come out as English-sounding words. Only the VAD's speech segments are
decoded (each as one utterance): music and silence cost the search the most and say nothing.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from humo_data.audio.asr.base import ASR_BACKENDS, AsrBackend, AsrResult, Word, compression_ratio
from humo_data.audio.config import AsrConfig

SR = 16000
FRAME_SECONDS = 0.01  # pocketsphinx frames are 10 ms
PAD_SECONDS = 0.1  # context around each VAD segment
MERGE_GAP_SECONDS = 0.3  # segments closer than this are decoded as one utterance


@ASR_BACKENDS.register("pocketsphinx-en-us")
class PocketsphinxAsr(AsrBackend):
    def __init__(self, config: AsrConfig):
        super().__init__(config)
        from pocketsphinx import Decoder

        self._decoder = Decoder(samprate=SR, loglevel="FATAL", **config.pocketsphinx_options)

    def transcribe(
        self, wave: np.ndarray, segments: Sequence[tuple[float, float]] | None = None
    ) -> AsrResult:
        duration = len(wave) / SR
        spans = _merge(segments if segments is not None else [(0.0, duration)], duration)
        texts, words = [], []
        for start, end in spans:
            piece = wave[int(start * SR) : int(end * SR)]
            text, seg_words = self._decode(piece)
            texts.append(text)
            words += [Word(w.word, w.start + start, w.end + start, w.probability) for w in seg_words]
        text = " ".join(t for t in texts if t)
        return AsrResult(transcript=text, compression_ratio=compression_ratio(text), words=words)

    def _decode(self, wave: np.ndarray) -> tuple[str, list[Word]]:
        pcm = (np.clip(np.nan_to_num(wave), -1.0, 1.0) * 32767).astype("<i2").tobytes()
        dec = self._decoder
        dec.start_utt()
        dec.process_raw(pcm, full_utt=True)
        dec.end_utt()
        hyp = dec.hyp()
        if hyp is None:
            return "", []
        words = []
        if self.config.word_timestamps:
            for seg in dec.seg():
                token = seg.word
                if token.startswith(("<", "[")):  # <s>, </s>, <sil>, [NOISE] ...
                    continue
                start, end = seg.start_frame * FRAME_SECONDS, (seg.end_frame + 1) * FRAME_SECONDS
                words.append(Word(token.split("(")[0], start, end, float(seg.prob)))
        return hyp.hypstr.strip(), words

    def provenance(self) -> dict[str, str | None]:
        return {"asr": self.backend_name, "asr_model": "pocketsphinx en-us (packaged)"}


def _merge(segments: Sequence[tuple[float, float]], duration: float) -> list[tuple[float, float]]:
    spans: list[list[float]] = []
    for s, e in segments:
        s, e = max(0.0, s - PAD_SECONDS), min(duration, e + PAD_SECONDS)
        if spans and s - spans[-1][1] < MERGE_GAP_SECONDS:
            spans[-1][1] = max(spans[-1][1], e)
        elif e > s:
            spans.append([s, e])
    return [(s, e) for s, e in spans]
