"""Speaker count from pyannote's segmentation-3.0 model exported to ONNX (e.g. sherpa-onnx's export).

The model reads 10 s of 16 kHz audio ([B, 1, 160000]) and gives, per ~17 ms frame, log-probabilities
over 7 "powerset" classes: nobody, speaker 1, 2, 3, and the pairs {1,2}, {1,3}, {2,3}. A clip is at
most ``clips.max_seconds`` long, so its local speakers are its speakers: no embedding clustering is
needed. A speaker counts when active for ``min_speaker_seconds``; longer clips are read in 10 s
windows and the largest count of any window is kept.
"""

from __future__ import annotations

import numpy as np

from humo_data.audio.config import DiarizationConfig
from humo_data.audio.diarization import DIARIZERS, Diarizer

SR = 16000
WINDOW_SAMPLES = 10 * SR
# powerset class -> active local speakers (pyannote: 3 speakers, at most 2 at once)
POWERSET = np.array(
    [[0, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1], [1, 1, 0], [1, 0, 1], [0, 1, 1]], dtype=np.float32
)


@DIARIZERS.register("pyannote-segmentation-onnx")
class PyannoteSegmentationOnnx(Diarizer):
    def __init__(self, config: DiarizationConfig, threads: int = 1):
        super().__init__(config)
        if not config.model_path:
            raise ValueError("audio.diarization.backend needs audio.diarization.model_path (.onnx)")
        import onnxruntime as ort

        opts = ort.SessionOptions()
        opts.intra_op_num_threads = max(1, threads)
        self._session = ort.InferenceSession(config.model_path, opts, providers=["CPUExecutionProvider"])
        self._input = self._session.get_inputs()[0].name

    def speaker_count(self, wave: np.ndarray) -> int:
        starts = range(0, max(len(wave) - WINDOW_SAMPLES, 0) + 1, WINDOW_SAMPLES // 2)
        chunks = np.zeros((len(starts), 1, WINDOW_SAMPLES), np.float32)
        for i, s in enumerate(starts):
            piece = wave[s : s + WINDOW_SAMPLES]
            chunks[i, 0, : len(piece)] = piece
        logp = self._session.run(None, {self._input: chunks})[0]  # [B, frames, 7]
        if logp.ndim != 3 or logp.shape[-1] != POWERSET.shape[0]:
            raise ValueError(f"segmentation output {logp.shape}: expected [B, frames, 7] powerset scores")
        active = POWERSET[np.argmax(logp, axis=-1)]  # [B, frames, 3]
        frame_seconds = 10.0 / logp.shape[1]
        seconds = active.sum(axis=1) * frame_seconds  # [B, 3]
        return int((seconds >= self.config.min_speaker_seconds).sum(axis=1).max())
