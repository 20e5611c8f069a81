"""Signal levels on the VAD's 32 ms windows: speech-to-background estimate and clipping.

The speech-to-background estimate (dB) compares the mean power of speech windows with that of
background windows (VAD says no speech). When a clip is speech almost throughout, the quiet gaps
between words stand in for the background (10th percentile of the speech windows' power). It is
an estimate, not an SNR measurement: music that never pauses under continuous speech reads as a
loud background only where the speaker pauses.
"""

from __future__ import annotations

import numpy as np

from humo_data.audio.vad import WINDOW

EPS_POWER = 1e-10  # -100 dBFS: digital silence
MIN_BACKGROUND_WINDOWS = 8  # ~0.25 s of non-speech before it is trusted as the background


def window_power(wave: np.ndarray, count: int) -> np.ndarray:
    """Mean square of each VAD window (``count`` windows, the last zero-padded)."""
    padded = np.zeros(count * WINDOW, np.float64)
    n = min(len(wave), len(padded))
    padded[:n] = wave[:n]
    return (padded.reshape(count, WINDOW) ** 2).mean(axis=1)


def db(power: float) -> float:
    return float(10.0 * np.log10(max(power, EPS_POWER)))


def speech_to_background(
    wave: np.ndarray, probs: np.ndarray, threshold: float, neg_threshold: float
) -> tuple[float | None, float]:
    """(speech-to-background dB or None when there is no speech, background level in dBFS)."""
    power = window_power(wave, len(probs))
    speech, background = probs >= threshold, probs < neg_threshold
    if len(power) == 0:
        return None, db(0.0)
    if background.sum() >= MIN_BACKGROUND_WINDOWS:
        bg = float(power[background].mean())
    elif speech.any():
        bg = float(np.percentile(power[speech], 10))
    else:
        bg = float(power.mean())
    if not speech.any():
        return None, db(bg)
    # speech windows hold speech + background; floored at -20 dB when the background dominates
    sp = max(float(power[speech].mean()) - bg, 0.01 * bg, EPS_POWER)
    return db(sp) - db(bg), db(bg)


def clipped_fraction(wave: np.ndarray, level: float = 0.999) -> float:
    """Fraction of samples at full scale (hard clipping in the source or a too-hot recording)."""
    if len(wave) == 0:
        return 0.0
    return float(np.mean(np.abs(wave) >= level))
