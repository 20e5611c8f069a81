"""Offline default speaker activity: pyannote/segmentation (PyanNet, 3 local speakers, multi-label,
5 s chunks, 16.875 ms frames) run in numpy from its PyTorch checkpoint, no torch.

The weights are the copy the whisperx wheel ships (``whisperx/assets/pytorch_model.bin``, 17.7 MB;
whisperx is BSD-2, the pyannote model MIT). whisperx's own dependencies pin another torch, so it is
installed without them (``pip install --no-deps -r requirements-nodeps.txt``); nothing of whisperx
is imported, only its data file is read. ``audio.diarization.model_path`` may name any other
pyannote/segmentation-layout checkpoint.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np

from humo_data.audio.config import DiarizationConfig
from humo_data.audio.diarization.activity import Geometry
from humo_data.audio.diarization.base import DIARIZERS, Diarizer
from humo_data.audio.diarization.pyannet import PyanNet

WHISPERX_ASSET = ("assets", "pytorch_model.bin")
MISSING = (
    "the speaker model (audio.diarization.backend=pyannote-segmentation) ships in the whisperx wheel, "
    "which is not installed: pip install --no-deps -r requirements-nodeps.txt (whisperx, no torch); or set "
    "audio.diarization.model_path to a pyannote/segmentation checkpoint; or audio.diarization.backend=none "
    "(speaker_count stays null and only visible people gate several_speakers)"
)


def whisperx_model_path() -> str:
    """The segmentation checkpoint inside the installed whisperx package (whisperx is not imported:
    its import pulls torch)."""
    spec = importlib.util.find_spec("whisperx")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(MISSING)
    path = Path(next(iter(spec.submodule_search_locations))).joinpath(*WHISPERX_ASSET)
    if not path.is_file():
        raise FileNotFoundError(f"whisperx is installed but {path} is missing; {MISSING}")
    return str(path)


@DIARIZERS.register("pyannote-segmentation")
class PyannoteSegmentation(Diarizer):
    fixed_length = False  # convolutions + LSTM: any input of at least one receptive field

    def __init__(self, config: DiarizationConfig, threads: int = 1):
        super().__init__(config)
        path = config.model_path or whisperx_model_path()
        if not Path(path).is_file():
            raise FileNotFoundError(f"audio.diarization.model_path {path} does not exist")
        self.model = PyanNet(path)
        specs = self.model.specs
        self.geometry = Geometry(
            sample_rate=specs.sample_rate,
            chunk_samples=int(round(specs.chunk_seconds * specs.sample_rate)),
            hop=float(specs.hop),
            first_center=(specs.receptive - 1) / 2,
        )
        self.min_samples = specs.receptive

    def model_path(self) -> str:
        return self.model.path

    def activities(self, chunks: np.ndarray) -> np.ndarray:
        return self.model(chunks)
