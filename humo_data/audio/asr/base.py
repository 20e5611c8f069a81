"""Base types and the registry of the asr backends (backends import this module, never the
package, so the package may import them)."""

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
