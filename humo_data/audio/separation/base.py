"""Base types and the registry of the separation backends (backends import this module, never the
package, so the package may import them)."""

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
