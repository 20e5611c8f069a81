"""MFCCs exactly as SyncNet's audio branch was trained on them: ``python_speech_features.mfcc``
with its defaults (25 ms rectangular frames every 10 ms, 512-point FFT, 26 mel filters, 13
coefficients, pre-emphasis 0.97, lifter 22, c0 replaced by the log frame energy) on int16-scaled
16 kHz samples. numpy + scipy only, so SyncNet weights see the features they expect.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.fft import dct

SAMPLE_RATE = 16000
FRAME_LEN, FRAME_STEP, NFFT, NFILT, NUMCEP, PREEMPH, LIFTER = 400, 160, 512, 26, 13, 0.97, 22
MFCC_PER_SECOND = SAMPLE_RATE // FRAME_STEP  # 100: four MFCC frames per 25 fps video frame


def _hz2mel(hz: np.ndarray) -> np.ndarray:
    return 2595 * np.log10(1 + hz / 700.0)


def _mel2hz(mel: np.ndarray) -> np.ndarray:
    return 700 * (10 ** (mel / 2595.0) - 1)


def mel_filterbank(nfilt: int = NFILT, nfft: int = NFFT, rate: int = SAMPLE_RATE) -> np.ndarray:
    """[nfilt, nfft//2+1] triangular filters on python_speech_features' integer bin edges."""
    mels = np.linspace(_hz2mel(np.float64(0)), _hz2mel(np.float64(rate / 2)), nfilt + 2)
    bins = np.floor((nfft + 1) * _mel2hz(mels) / rate)
    bank = np.zeros((nfilt, nfft // 2 + 1))
    for j in range(nfilt):
        lo, mid, hi = bins[j], bins[j + 1], bins[j + 2]
        for i in range(int(lo), int(mid)):
            bank[j, i] = (i - lo) / (mid - lo)
        for i in range(int(mid), int(hi)):
            bank[j, i] = (hi - i) / (hi - mid)
    return bank


_BANK = mel_filterbank()
_LIFT = 1 + (LIFTER / 2.0) * np.sin(np.pi * np.arange(NUMCEP) / LIFTER)


def mfcc(wave: np.ndarray) -> np.ndarray:
    """[frames, 13] MFCCs of float32 mono 16 kHz audio in [-1, 1] (scaled to int16 range first,
    as SyncNet read its WAV files)."""
    sig = np.asarray(wave, np.float64) * 32768.0
    if len(sig) == 0:
        sig = np.zeros(1)
    sig = np.append(sig[0], sig[1:] - PREEMPH * sig[:-1])
    n = 1 if len(sig) <= FRAME_LEN else 1 + int(math.ceil((len(sig) - FRAME_LEN) / FRAME_STEP))
    padded = np.concatenate([sig, np.zeros((n - 1) * FRAME_STEP + FRAME_LEN - len(sig))])
    idx = np.arange(FRAME_LEN)[None, :] + FRAME_STEP * np.arange(n)[:, None]
    pspec = np.square(np.abs(np.fft.rfft(padded[idx], NFFT))) / NFFT
    eps = np.finfo(float).eps
    energy = pspec.sum(axis=1)
    energy = np.where(energy == 0, eps, energy)
    feat = pspec @ _BANK.T
    feat = np.where(feat == 0, eps, feat)
    feat = dct(np.log(feat), type=2, axis=1, norm="ortho")[:, :NUMCEP] * _LIFT
    feat[:, 0] = np.log(energy)
    return feat
