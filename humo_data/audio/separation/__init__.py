"""Vocal separation backends: the speech of a mix, for VAD, ASR and sync on noisy or musical clips.

sep = build_separator(cfg.separation)     # None for "none"
vocals = sep.separate(wave, vad_probs)     # 16 kHz mono in, 16 kHz mono out, same length
"""

from __future__ import annotations

from humo_data.audio.config import SeparationConfig
from humo_data.audio.separation.base import (
    SEPARATORS,
    Separator,
)

__all__ = ["SEPARATORS", "Separator", "build_separator"]  # fmt: skip


def build_separator(config: SeparationConfig) -> Separator | None:
    if config.backend == "none":
        return None
    from humo_data.audio.separation import gating, mdx  # noqa: F401  (register)

    return SEPARATORS.get(config.backend)(config)
