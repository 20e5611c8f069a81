"""Base types and the registry of the diarization backends (backends import this module, never the
package, so the package may import them)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

import numpy as np

from humo_data.audio.config import DiarizationConfig
from humo_data.audio.diarization.activity import (
    Geometry,
    SpeakerActivity,
    Thresholds,
    analyse_clip,
    chunk_starts,
    cut_chunks,
)
from humo_data.registry import Registry


class Diarizer:
    backend_name: ClassVar[str] = "diarizer"
    #: the model takes only chunks of geometry.chunk_samples (short clips are zero-padded)
    fixed_length: ClassVar[bool] = True
    #: the shortest input the model reads (variable-length models)
    min_samples: int = 0
    geometry: Geometry

    def __init__(self, config: DiarizationConfig):
        self.config = config
        self.thresholds = Thresholds(
            onset=config.onset,
            offset=config.offset,
            min_duration_on=config.min_duration_on,
            min_duration_off=config.min_duration_off,
            min_speaker_seconds=config.min_speaker_seconds,
        )

    def activities(self, chunks: np.ndarray) -> np.ndarray:
        """chunks [N, geometry.chunk_samples] -> per-frame local speaker activity [N, frames, S] in [0, 1]."""
        raise NotImplementedError

    def model_path(self) -> str | None:
        return self.config.model_path

    def analyse(self, waves: Sequence[np.ndarray]) -> list[SpeakerActivity]:
        """Each clip's speakers. Full-length chunks of all clips run through the model in shared
        batches; a clip shorter than one chunk is read at its own length where the model allows
        (``fixed_length`` False): zero padding to the chunk length weakens the model on quiet speech."""
        geo = self.geometry
        waves = [np.asarray(w, np.float32) for w in waves]
        starts = [chunk_starts(len(w), geo, self.config.step_seconds) for w in waves]
        full = [
            cut_chunks(w, s, geo.chunk_samples)
            for w, s in zip(waves, starts, strict=True)
            if self.fixed_length or len(w) >= geo.chunk_samples
        ]
        flat = np.concatenate(full) if full else np.zeros((0, geo.chunk_samples), np.float32)
        batch = self.config.batch_chunks
        acts = [a for i in range(0, len(flat), batch) for a in self.activities(flat[i : i + batch])]
        results, at = [], 0
        for w, s in zip(waves, starts, strict=True):
            if self.fixed_length or len(w) >= geo.chunk_samples:
                mine, at = acts[at : at + len(s)], at + len(s)
            elif len(w) >= self.min_samples:
                mine = list(self.activities(w[None]))
            else:  # shorter than one output frame: nothing to read
                mine = [np.zeros((0, 1), np.float32)]
            results.append(analyse_clip(mine, s, len(w), geo, self.thresholds))
        return results

    def speaker_count(self, wave: np.ndarray) -> int:
        return self.analyse([wave])[0].speaker_count


DIARIZERS: Registry[Diarizer] = Registry("diarization")
