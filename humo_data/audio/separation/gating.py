"""Offline default separator: spectral gating (noisereduce's stationary method, in scipy).

The noise profile is the mean and spread (dB) of each frequency over the windows the VAD calls
non-speech (or the quietest 20% of frames when speech never pauses). Bins below mean + n_std * std
are turned down by ``gate_attenuation_db``, with a smoothed mask. It removes hum, hiss and steady
room noise; it does not separate music from a voice (an MDX/Demucs model does).
"""

from __future__ import annotations

import numpy as np
from scipy import signal
from scipy.ndimage import uniform_filter

from humo_data.audio.separation.base import SEPARATORS, Separator
from humo_data.audio.vad import WINDOW

N_FFT, HOP = 512, 128
SR = 16000


@SEPARATORS.register("spectral-gating")
class SpectralGating(Separator):
    reveals_speech = False  # what it leaves of music reads as speech to the VAD

    def separate(self, wave: np.ndarray, vad_probs: np.ndarray) -> np.ndarray:
        if len(wave) < N_FFT:
            return wave.astype(np.float32)
        _, _, spec = signal.stft(wave, SR, nperseg=N_FFT, noverlap=N_FFT - HOP)
        mag_db = 20 * np.log10(np.abs(spec) + 1e-10)
        frame_t = np.arange(spec.shape[1]) * HOP  # sample index of each STFT frame centre
        win = np.minimum(frame_t // WINDOW, max(len(vad_probs) - 1, 0))
        noise = vad_probs[win] < 0.35 if len(vad_probs) else np.zeros(spec.shape[1], bool)
        if noise.sum() < 10:
            loud = mag_db.mean(axis=0)
            noise = loud <= np.percentile(loud, 20)
        mean, std = mag_db[:, noise].mean(axis=1), mag_db[:, noise].std(axis=1)
        thresh = (mean + self.config.gate_n_std * std)[:, None]
        mask = (mag_db > thresh).astype(np.float32)
        mask = uniform_filter(mask, size=(3, 5))  # smooth over 3 bins x 5 frames (~40 ms)
        floor = 10 ** (-self.config.gate_attenuation_db / 20)
        gain = floor + (1 - floor) * mask
        _, out = signal.istft(spec * gain, SR, nperseg=N_FFT, noverlap=N_FFT - HOP)
        out = out[: len(wave)]
        if len(out) < len(wave):
            out = np.pad(out, (0, len(wave) - len(out)))
        return out.astype(np.float32)
