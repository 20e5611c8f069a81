"""ASR backends: a transcript, its language and the backend's own confidence figures.

asr = build_asr(cfg.asr)            # loads the model once (per worker)
result = asr.transcribe(wave)       # 16 kHz mono float32
"""

from __future__ import annotations

import gzip
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np

from humo_data.audio.config import AsrConfig
from humo_data.registry import Registry


@dataclass
class Word:
    word: str
    start: float
    end: float
    probability: float | None = None


@dataclass
class AsrResult:
    transcript: str
    language: str | None = None
    language_probability: float | None = None
    avg_logprob: float | None = None
    no_speech_prob: float | None = None
    compression_ratio: float | None = None
    words: list[Word] = field(default_factory=list)


class AsrBackend:
    backend_name: ClassVar[str] = "asr"

    def __init__(self, config: AsrConfig):
        self.config = config

    def transcribe(
        self, wave: np.ndarray, segments: Sequence[tuple[float, float]] | None = None
    ) -> AsrResult:
        """Transcribe 16 kHz mono ``wave``; ``segments`` are the VAD's speech spans (seconds), which a
        backend may use to skip non-speech."""
        raise NotImplementedError

    def provenance(self) -> dict[str, str | None]:
        return {"asr": self.backend_name, "asr_model": self.config.model_dir}


ASR_BACKENDS: Registry[AsrBackend] = Registry("asr")


def compression_ratio(text: str) -> float | None:
    """gzip compression ratio of a transcript, as Whisper computes it (high = repetitive)."""
    data = text.encode("utf-8")
    return len(data) / len(gzip.compress(data)) if data else None


def build_asr(config: AsrConfig) -> AsrBackend | None:
    """The configured backend (None for ``none``); importing a backend module registers it."""
    if config.backend == "none":
        return None
    from humo_data.audio.asr import pocketsphinx_backend, whisper  # noqa: F401  (register)

    return ASR_BACKENDS.get(config.backend)(config)
