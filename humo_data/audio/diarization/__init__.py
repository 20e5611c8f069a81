"""Diarization backends: how many people are audible in a clip. No backend = unknown (null).

diar = build_diarizer(cfg.diarization)   # None for "none"
count = diar.speaker_count(wave)          # 16 kHz mono
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from humo_data.audio.config import DiarizationConfig
from humo_data.registry import Registry


class Diarizer:
    backend_name: ClassVar[str] = "diarizer"

    def __init__(self, config: DiarizationConfig):
        self.config = config

    def speaker_count(self, wave: np.ndarray) -> int:
        raise NotImplementedError


DIARIZERS: Registry[Diarizer] = Registry("diarization")


def build_diarizer(config: DiarizationConfig) -> Diarizer | None:
    if config.backend == "none":
        return None
    from humo_data.audio.diarization import pyannote_onnx  # noqa: F401  (register)

    return DIARIZERS.get(config.backend)(config)
