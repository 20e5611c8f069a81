"""ASR backends: a transcript, its language and the backend's own confidence figures.

asr = build_asr(cfg.asr)            # loads the model once (per worker)
result = asr.transcribe(wave)       # 16 kHz mono float32
"""

from __future__ import annotations

from humo_data.audio.asr.base import (
    ASR_BACKENDS,
    AsrBackend,
    AsrResult,
    Word,
    compression_ratio,
)
from humo_data.audio.config import AsrConfig

__all__ = ["ASR_BACKENDS", "AsrBackend", "AsrResult", "Word", "compression_ratio", "build_asr"]  # fmt: skip


def build_asr(config: AsrConfig) -> AsrBackend | None:
    """The configured backend (None for ``none``); importing a backend module registers it."""
    if config.backend == "none":
        return None
    from humo_data.audio.asr import pocketsphinx_backend, whisper  # noqa: F401  (register)

    return ASR_BACKENDS.get(config.backend)(config)
