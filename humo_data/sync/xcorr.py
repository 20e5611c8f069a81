"""Offline sync scorer ``landmark-envelope-xcorr``: no learned weights, only dlib's landmarks.

What it measures: how well the speech envelope at a given offset predicts the mouth opening.
Mouth opening (inner + outer lip aperture over the inter-ocular distance, dlib 68 points on
every frame) is regressed on a few log band energies (150-7000 Hz, floored ``xcorr_floor_db``
below their loud level) of the audio at each offset in +/- ``max_offset_frames``; the score of
an offset is the cross-validated correlation of that fit (contiguous folds, ridge). Frames whose
audio at an offset is the cutter's zero padding (before the source's start, after its end) are
left out of that offset's fit.

How sure it is, before anything is moved (``SyncResult.uncertain`` says why not):

- confidence: the curve's peak against the peaks of the same mouth with unrelated audio (the
  clip's own audio features rolled in time, ``xcorr_null_rolls`` of them), in standard
  deviations of those null peaks; under ``min_confidence_xcorr`` the reading is chance;
- consistency: with each third of the clip left out the peak stays within
  ``xcorr_consistency_frames`` (one pause or landmark glitch must not decide it);
- a peak on the edge of the searched range, or a clip under ``xcorr_min_seconds``, is no reading.

The offset is the peak's offset (refined to a fraction of a frame by a parabola through its
neighbours) plus ``xcorr_lips_lead_ms`` (lips move before the sound they make; a literature
figure, see the config), rounded. Its readings of in-sync speech still spread over a couple of
frames from speaker to speaker, so the stage moves audio only for |offset| >=
``xcorr_min_shift_frames``. What it cannot decide: whether the audio belongs to this face at all
(dubbed or swapped speech has syllable rhythm too), so ``sync_verified`` stays false.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from humo_data.sync.base import SYNC_BACKENDS, SyncInput, SyncResult, SyncScorer, audio_frames
from humo_data.sync.config import SyncConfig
from humo_data.sync.scores import OffsetScores
from humo_data.sync.track import mouth_opening, track_face

SR = 16000
N_FFT = 1024
FOLDS = 5
LOW_HZ, HIGH_HZ = 150.0, 7000.0
NULL_GUARD = 3  # frames between the null rolls and any offset the search could find
MIN_NULLS = 8  # distinct unrelated-audio rolls a confidence needs (short clips have fewer)
MIN_VALID = 0.8  # an offset is scored only where 80% of the frames have real audio beside them


def band_energies(audio: np.ndarray, centres: np.ndarray, bands: int, floor_db: float = 40.0) -> np.ndarray:
    """[len(centres), bands] log energies of Hann windows centred on ``centres`` (zero outside),
    each band floored ``floor_db`` below its 95th percentile."""
    half = N_FFT // 2
    padded = np.concatenate(
        [np.zeros(half, np.float32), audio.astype(np.float32), np.zeros(half + N_FFT, np.float32)]
    )
    idx = np.clip(centres, -half, len(audio) + half)[:, None] + np.arange(N_FFT)[None, :]
    frames = padded[idx] * np.hanning(N_FFT).astype(np.float32)
    power = np.abs(np.fft.rfft(frames, axis=1)) ** 2
    freqs = np.fft.rfftfreq(N_FFT, 1 / SR)
    edges = np.geomspace(LOW_HZ, HIGH_HZ, bands + 1)
    cols = np.stack(
        [
            power[:, (freqs >= lo) & (freqs < hi)].sum(axis=1)
            for lo, hi in zip(edges[:-1], edges[1:], strict=True)
        ],
        axis=1,
    ).astype(np.float64)
    floor = np.percentile(cols, 95, axis=0, keepdims=True) * 10 ** (-floor_db / 10) + 1e-12
    return np.log(cols + floor)


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


def padded_frames(audio: np.ndarray, centres: np.ndarray) -> np.ndarray:
    """Frames whose centre lies in the exact-zero run at either end of ``audio``: the cutter's
    padding where the source has no audio (before its start, after its end), not silence."""
    nonzero = np.flatnonzero(audio)
    if not len(nonzero):
        return np.zeros(len(centres), bool)
    return (centres < nonzero[0]) | (centres > nonzero[-1])


def lag_curve(
    mouth: np.ndarray,
    feats: np.ndarray,
    vshift: int,
    ridge: float,
    keep: np.ndarray | None = None,
    missing: np.ndarray | None = None,
) -> np.ndarray:
    """Score per offset, indexed like SyncNet's distance curve: entry j pairs video frame i with
    the audio features of frame i + j - vshift (``feats`` covers frames -vshift .. n+vshift-1).
    ``keep`` restricts the fit to some frames (leave-a-part-out checks); audio frames marked
    ``missing`` (padding) are left out of each offset's fit, and an offset with fewer than
    ``MIN_VALID`` of the frames scores NaN (no candidate)."""
    n = len(mouth)
    keep = np.ones(n, bool) if keep is None else keep
    out = np.full(2 * vshift + 1, np.nan)
    for j in range(2 * vshift + 1):
        use = keep if missing is None else keep & ~missing[j : j + n]
        if use.sum() >= MIN_VALID * keep.sum():
            out[j] = cv_correlation(feats[j : j + n][use], mouth[use], ridge)
    return out


def subframe_peak(curve: np.ndarray) -> tuple[int, float]:
    """(index of the maximum, its position refined by a parabola through the neighbours)."""
    j = int(np.nanargmax(curve))
    if 0 < j < len(curve) - 1 and np.isfinite(curve[j - 1]) and np.isfinite(curve[j + 1]):
        a, b, c = curve[j - 1], curve[j], curve[j + 1]
        den = a - 2 * b + c
        if den < 0:
            return j, j + float(np.clip(0.5 * (a - c) / den, -0.5, 0.5))
    return j, float(j)


@dataclass
class XcorrReading:
    """What the offline scorer read on one clip, before the stage decides anything."""

    curve: np.ndarray  # cross-validated correlation per offset (index j <-> offset vshift - j)
    raw_offset: float  # peak offset in frames (SyncNet sign), no lead correction
    confidence: float  # peak above unrelated-audio peaks, in their standard deviations
    peak: float
    subwindow_offsets: list[int]  # peak offset with each third of the clip left out
    uncertain: str | None  # why the reading cannot be trusted (None: confident and consistent)


def read_offset(
    mouth: np.ndarray, audio: np.ndarray, margin: float, fps: float, config: SyncConfig
) -> XcorrReading:
    """The offline reading of one clip: curve, peak, confidence against unrelated audio and the
    leave-one-third-out consistency check."""
    cfg, v = config, config.max_offset_frames
    n = len(mouth)
    centres = audio_frames(audio, margin, fps, -v, n + 2 * v)
    feats = band_energies(audio, centres, cfg.xcorr_bands, cfg.xcorr_floor_db)
    missing = padded_frames(audio, centres)
    curve = lag_curve(mouth, feats, v, cfg.xcorr_ridge, missing=missing)
    if not np.isfinite(curve).any():
        return XcorrReading(curve, 0.0, 0.0, 0.0, [], "no offset has real audio beside 80% of the frames")
    j, refined = subframe_peak(curve)
    raw = v - refined
    # null: the same mouth against its own audio rolled far beyond any offset the search can reach
    lo, hi = 2 * v + NULL_GUARD, n - NULL_GUARD
    nulls = (
        np.array(
            [
                np.nanmax(lag_curve(mouth, np.roll(feats, r, axis=0), v, cfg.xcorr_ridge))
                for r in np.unique(np.linspace(lo, hi, cfg.xcorr_null_rolls).astype(int))
            ]
        )
        if hi > lo
        else np.zeros(0)
    )
    confidence = float((curve[j] - nulls.mean()) / (nulls.std() + 1e-9)) if len(nulls) >= MIN_NULLS else 0.0
    third = np.arange(n) * 3 // n
    subs = [
        v - int(np.nanargmax(lag_curve(mouth, feats, v, cfg.xcorr_ridge, third != t, missing)))
        for t in range(3)
    ]
    seconds = n / fps
    if seconds < cfg.xcorr_min_seconds:
        why = f"clip {seconds:.2f}s < xcorr_min_seconds={cfg.xcorr_min_seconds:g}"
    elif len(nulls) < MIN_NULLS:
        why = f"clip too short for {MIN_NULLS} unrelated-audio comparisons"
    elif j in (0, len(curve) - 1) or not (np.isfinite(curve[j - 1]) and np.isfinite(curve[j + 1])):
        why = f"peak on the edge of the +-{v} frame search"
    elif confidence < cfg.min_confidence_xcorr:
        why = f"peak {confidence:.2f} sd above unrelated-audio peaks (< {cfg.min_confidence_xcorr:g})"
    elif any(abs(s - (v - j)) > cfg.xcorr_consistency_frames for s in subs):
        why = f"thirds left out move the peak from {v - j} to {subs}"
    else:
        why = None
    return XcorrReading(curve, raw, confidence, float(curve[j]), subs, why)


@SYNC_BACKENDS.register("landmark-envelope-xcorr")
class LandmarkEnvelopeXcorr(SyncScorer):
    learned = False

    @property
    def min_confidence(self) -> float:
        return self.config.min_confidence_xcorr

    @property
    def min_shift_frames(self) -> int:
        return self.config.xcorr_min_shift_frames

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
        if frac < cfg.min_face_fraction or len(track.boxes) < 3 * FOLDS * 2:
            return SyncResult(None, frac, "no_face_track")
        reading = read_offset(mouth_opening(track.landmarks), clip.audio, clip.margin, clip.fps, cfg)
        v = cfg.max_offset_frames  # a peak on the search's edge (no reading) stays inside the range
        offset = int(np.clip(np.round(reading.raw_offset + cfg.xcorr_lips_lead_ms / 1000 * clip.fps), -v, v))
        scores = OffsetScores(offset, reading.confidence, 1.0 - reading.peak, reading.curve)
        return SyncResult(scores, frac, uncertain=reading.uncertain)
