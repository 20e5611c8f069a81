"""Speaker activity from pyannote's segmentation-3.0 model exported to ONNX (e.g. sherpa-onnx's export).

The model reads 10 s of 16 kHz audio ([B, 1, 160000]) and gives, per ~17 ms frame, log-probabilities
over 7 "powerset" classes: nobody, speaker 1, 2, 3, and the pairs {1,2}, {1,3}, {2,3}. The most
likely class per frame becomes 0/1 activities of the 3 local speakers; the per-clip reading (count,
overlap, turns) is the shared one in ``activity.py``.
"""

from __future__ import annotations

import numpy as np

from humo_data.audio.config import DiarizationConfig
from humo_data.audio.diarization.activity import Geometry
from humo_data.audio.diarization.base import DIARIZERS, Diarizer

SR = 16000
CHUNK_SAMPLES = 10 * SR
# powerset class -> active local speakers (pyannote: 3 speakers, at most 2 at once)
POWERSET = np.array(
    [[0, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1], [1, 1, 0], [1, 0, 1], [0, 1, 1]], dtype=np.float32
)


@DIARIZERS.register("pyannote-segmentation-onnx")
class PyannoteSegmentationOnnx(Diarizer):
    def __init__(self, config: DiarizationConfig, threads: int = 1):
        super().__init__(config)
        if not config.model_path:
            raise ValueError(
                "audio.diarization.backend=pyannote-segmentation-onnx needs audio.diarization.model_path (.onnx)"
            )
        import onnxruntime as ort

        opts = ort.SessionOptions()
        opts.intra_op_num_threads = max(1, threads)
        self._session = ort.InferenceSession(config.model_path, opts, providers=["CPUExecutionProvider"])
        self._input = self._session.get_inputs()[0].name
        frames = self._logp(np.zeros((1, CHUNK_SAMPLES), np.float32)).shape[1]  # the model's frame rate
        hop = CHUNK_SAMPLES / frames
        self.geometry = Geometry(sample_rate=SR, chunk_samples=CHUNK_SAMPLES, hop=hop, first_center=hop / 2)

    def _logp(self, chunks: np.ndarray) -> np.ndarray:
        logp = self._session.run(None, {self._input: chunks[:, None, :]})[0]
        if logp.ndim != 3 or logp.shape[-1] != POWERSET.shape[0]:
            raise ValueError(f"segmentation output {logp.shape}: expected [B, frames, 7] powerset scores")
        return logp

    def activities(self, chunks: np.ndarray) -> np.ndarray:
        return POWERSET[np.argmax(self._logp(chunks), axis=-1)]
