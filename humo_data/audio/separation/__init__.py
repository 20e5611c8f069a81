"""Vocal separation backends: the speech of a mix, for VAD, ASR and sync on noisy or musical clips.

sep = build_separator(cfg.separation)     # None for "none"
vocals = sep.separate(wave, vad_probs)     # 16 kHz mono in, 16 kHz mono out, same length
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from humo_data.audio.config import SeparationConfig
from humo_data.registry import Registry


class Separator:
    backend_name: ClassVar[str] = "separator"
    #: True for a learned vocal separator, whose vocals the VAD may find more speech in than the mix;
    #: False for an enhancer: the speech it measures never exceeds what the VAD heard in the mix
    reveals_speech: ClassVar[bool] = True

    def __init__(self, config: SeparationConfig):
        self.config = config

    def separate(self, wave: np.ndarray, vad_probs: np.ndarray) -> np.ndarray:
        """Vocals of ``wave`` (16 kHz mono); ``vad_probs`` are the mix's 32 ms speech probabilities."""
        raise NotImplementedError


SEPARATORS: Registry[Separator] = Registry("separation")


def build_separator(config: SeparationConfig) -> Separator | None:
    if config.backend == "none":
        return None
    from humo_data.audio.separation import gating, mdx  # noqa: F401  (register)

    return SEPARATORS.get(config.backend)(config)
