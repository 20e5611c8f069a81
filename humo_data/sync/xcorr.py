"""Offline sync scorer ``landmark-envelope-xcorr``: no learned weights, only dlib's landmarks.

What it measures: how well the speech envelope at a given offset predicts the mouth opening.
Mouth opening (inner + outer lip aperture over the inter-ocular distance, dlib 68 points on
every frame) is regressed on a few log band energies (150-7000 Hz) of the audio at each offset
in +/- ``max_offset_frames``; the score of an offset is the cross-validated correlation of that
fit (contiguous folds, ridge). This is a per-clip cross-correlation of mouth and envelope that
lets the bands weigh themselves, measured on held-out frames.

What it can decide: where, within the searched range, audio energy lines up best with the mouth
(so an applied shift is recovered and undone). What it cannot decide: whether the audio belongs
to this face at all. Any speech has syllable rhythm, so swapped or dubbed audio also finds a
"best" offset with a similar contrast; ``sync_confidence`` here is peak minus median of the
curve, ``sync_distance`` is 1 - peak, and ``sync_offset_frames`` is the peak's offset minus the
scorer's lag bias (``xcorr_lag_bias_frames``: what it reads on in-sync speech, since the lips move
before the sound they make). Stage 2 with this scorer means "offset corrected", and
``sync_verified`` stays false. On 4 s clips (HuMo's 97 frames) the curve is noisy: the
confidence gate and the +/-6 frame gate do most of the work there.
"""

from __future__ import annotations

import numpy as np

from humo_data.sync.base import SYNC_BACKENDS, SyncInput, SyncResult, SyncScorer, audio_frames
from humo_data.sync.scores import score_curve_offset
from humo_data.sync.track import mouth_opening, track_face

SR = 16000
N_FFT = 1024
FOLDS = 5
LOW_HZ, HIGH_HZ = 150.0, 7000.0


def band_energies(audio: np.ndarray, centres: np.ndarray, bands: int) -> np.ndarray:
    """[len(centres), bands] log energies of Hann windows centred on ``centres`` (zero outside)."""
    half = N_FFT // 2
    padded = np.concatenate(
        [np.zeros(half, np.float32), audio.astype(np.float32), np.zeros(half + N_FFT, np.float32)]
    )
    idx = np.clip(centres, -half, len(audio) + half)[:, None] + np.arange(N_FFT)[None, :]
    frames = padded[idx] * np.hanning(N_FFT).astype(np.float32)
    power = np.abs(np.fft.rfft(frames, axis=1)) ** 2
    freqs = np.fft.rfftfreq(N_FFT, 1 / SR)
    edges = np.geomspace(LOW_HZ, HIGH_HZ, bands + 1)
    cols = [
        power[:, (freqs >= lo) & (freqs < hi)].sum(axis=1)
        for lo, hi in zip(edges[:-1], edges[1:], strict=True)
    ]
    return np.log(np.stack(cols, axis=1) + 1e-9)


def cv_correlation(x: np.ndarray, y: np.ndarray, ridge: float, folds: int = FOLDS) -> float:
    """Correlation of ``y`` with its ridge prediction from ``x``, each fold predicted by a fit on the
    others (contiguous folds, so neighbouring frames do not leak into the fit)."""
    n = len(y)
    fold = np.arange(n) * folds // n
    pred = np.zeros(n)
    for f in range(folds):
        train, test = fold != f, fold == f
        mu, sd = x[train].mean(axis=0), x[train].std(axis=0) + 1e-6
        xt = (x[train] - mu) / sd
        ym = y[train].mean()
        w = np.linalg.solve(xt.T @ xt + ridge * len(xt) * np.eye(x.shape[1]), xt.T @ (y[train] - ym))
        pred[test] = ((x[test] - mu) / sd) @ w + ym
    yc, pc = y - y.mean(), pred - pred.mean()
    denom = np.sqrt((yc**2).sum() * (pc**2).sum())
    return float((yc * pc).sum() / denom) if denom > 1e-12 else 0.0


def offset_curve(
    mouth: np.ndarray, audio: np.ndarray, margin: float, fps: float, vshift: int, bands: int, ridge: float
) -> np.ndarray:
    """Score per offset, indexed like SyncNet's distance curve: entry j pairs video frame i with
    the audio of frame i + j - vshift."""
    n = len(mouth)
    feats = band_energies(audio, audio_frames(audio, margin, fps, -vshift, n + 2 * vshift), bands)
    return np.array([cv_correlation(feats[j : j + n], mouth, ridge) for j in range(2 * vshift + 1)])


@SYNC_BACKENDS.register("landmark-envelope-xcorr")
class LandmarkEnvelopeXcorr(SyncScorer):
    learned = False

    @property
    def min_confidence(self) -> float:
        return self.config.min_confidence_xcorr

    def score(self, clip: SyncInput) -> SyncResult:
        cfg = self.config
        track = track_face(
            clip.video,
            clip.face_track,
            clip.fps,
            redetect_every=cfg.redetect_every,
            threads=cfg.decode_threads,
        )
        frac = track.found_fraction
        if frac < cfg.min_face_fraction or len(track.boxes) < 2 * FOLDS:
            return SyncResult(None, frac, "no_face_track")
        mouth = mouth_opening(track.landmarks)
        curve = offset_curve(
            mouth, clip.audio, clip.margin, clip.fps, cfg.max_offset_frames, cfg.xcorr_bands, cfg.xcorr_ridge
        )
        scores = score_curve_offset(curve)
        scores.offset -= cfg.xcorr_lag_bias_frames
        return SyncResult(scores, frac)
