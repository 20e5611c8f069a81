"""MDX-Net vocal separation from an ONNX file (the UVR / KUIELab model family).

The model maps a stereo STFT chunk to the target's STFT chunk: input and output [B, 4, dim_f,
dim_t], channels (left real, left imag, right real, right imag), the lowest ``dim_f`` bins of an
``n_fft`` STFT with hop 1024 at 44.1 kHz. ``dim_f``/``dim_t`` come from the model's input shape,
``n_fft`` and the output kind from config (they differ per released model). Our 16 kHz mono audio
is resampled to the model rate and duplicated to stereo; chunks are consecutive dim_t-frame slices
of one STFT of the whole clip, run as one ONNX batch.
"""

from __future__ import annotations

import numpy as np
from scipy import signal

from humo_data.audio.config import SeparationConfig
from humo_data.audio.separation.base import SEPARATORS, Separator
from humo_data.media.audio import resample

SR = 16000


@SEPARATORS.register("mdx-onnx")
class MdxOnnx(Separator):
    def __init__(self, config: SeparationConfig, threads: int = 1):
        super().__init__(config)
        if not config.model_path:
            raise ValueError("audio.separation.backend=mdx-onnx needs audio.separation.model_path (.onnx)")
        import onnxruntime as ort

        opts = ort.SessionOptions()
        opts.intra_op_num_threads = max(1, threads)
        self._session = ort.InferenceSession(config.model_path, opts, providers=["CPUExecutionProvider"])
        inp = self._session.get_inputs()[0]
        self._input = inp.name
        shape = inp.shape
        if len(shape) != 4 or shape[1] != 4 or not all(isinstance(s, int) for s in shape[2:]):
            raise ValueError(f"{config.model_path}: expected an MDX input [B, 4, dim_f, dim_t], got {shape}")
        self.dim_f, self.dim_t = int(shape[2]), int(shape[3])
        if self.dim_f > config.mdx_n_fft // 2 + 1:
            raise ValueError(f"model dim_f {self.dim_f} > n_fft/2+1 for mdx_n_fft={config.mdx_n_fft}")

    def separate(self, wave: np.ndarray, vad_probs: np.ndarray) -> np.ndarray:
        cfg = self.config
        n_fft, hop, rate = cfg.mdx_n_fft, cfg.mdx_hop, cfg.mdx_sample_rate
        mix = resample(wave.astype(np.float32), SR, rate).astype(np.float32)
        n = len(mix)
        window = signal.get_window("hann", n_fft)
        _, _, spec = signal.stft(
            mix, rate, window=window, nperseg=n_fft, noverlap=n_fft - hop, boundary="even", padded=True
        )
        spec = spec * (window.sum())  # undo scipy's scaling: the model expects torch.stft magnitudes
        frames = spec.shape[1]
        chunks = int(np.ceil(frames / self.dim_t))
        full = np.zeros((spec.shape[0], chunks * self.dim_t), np.complex64)
        full[:, :frames] = spec
        low = full[: self.dim_f].reshape(self.dim_f, chunks, self.dim_t).transpose(1, 0, 2)  # [C, F, T]
        x = np.stack([low.real, low.imag, low.real, low.imag], axis=1).astype(np.float32)  # stereo = mono x2
        y = self._session.run(None, {self._input: x})[0]
        y = (y[:, 0] + y[:, 2]) / 2 + 1j * (y[:, 1] + y[:, 3]) / 2  # back to mono, [C, F, T]
        target = np.zeros_like(full)
        target[: self.dim_f] = y.transpose(1, 0, 2).reshape(self.dim_f, -1)
        target = target[:, :frames] / window.sum() * cfg.mdx_compensate
        _, out = signal.istft(target, rate, window=window, nperseg=n_fft, noverlap=n_fft - hop, boundary=True)
        out = np.pad(out[:n], (0, max(0, n - len(out))))
        if cfg.mdx_output == "instrumental":
            out = mix - out
        vocals = resample(out.astype(np.float32), rate, SR)
        return np.pad(vocals[: len(wave)], (0, max(0, len(wave) - len(vocals)))).astype(np.float32)
