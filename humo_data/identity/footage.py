"""Same footage: do two clips show the same recording at the same moments, and at what time shift?

A re-upload, re-encode, rescale, crop, letterbox or trim of a recording keeps its motion over time:
the cutter's ``_motion`` (mean |difference| of consecutive frames, one value per frame, stored in
features/faces as ``motion``) rises and falls with every head turn and syllable in each copy alike,
whatever the borders, scale or bitrate, and a trim only shifts it in time. Two clips are the same
footage when their motion series, on their sources' timelines, correlate at some time shift:

    per-frame motion ──Gaussian low-pass (footage_smooth_seconds)──> mean per bin
        (footage_step_seconds, on the source timeline) ──> a shot's series (clips side by side)
    align(a, b): Pearson r of the overlapping bins at every shift (FFT, gaps masked); the shift
        with the strongest evidence (Fisher z) wins; same footage when r and z clear the config

Measured on the shared talking heads and 8 copies of each (re-encode at 150k, 300x300, 10% crop,
letterbox, 1 s trim, MKV, audio shifted, trim + crop + scale + 120k): the same moments r >= 0.83
(z >= 10.9, shift within 0.2 s) over >= 4 s; other videos r <= 0.68 (z <= 6.6); windows of one
video that do not overlap r <= 0.50. Still images (no motion) never align: appearance decides
for them (identity/passes.py, the context rule).

This finds the same *moments*; the same recording at other moments (a trim of another part of a
video) looks the same instead, which the context descriptor sees (faces/context.py).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
from scipy.ndimage import gaussian_filter1d

from humo_data.identity.config import IdentityConfig

#: a series whose standard deviation over the overlap is under this carries no motion (a still)
MIN_STD = 1e-6


@dataclass(frozen=True)
class Series:
    """Motion on a source timeline: ``values[i]`` is bin ``first + i`` ([k step, (k+1) step) s)."""

    first: int
    values: np.ndarray  # float32, NaN where no clip covers the bin
    step: float

    def __len__(self) -> int:
        return len(self.values)

    @property
    def start(self) -> float:
        return self.first * self.step

    @property
    def end(self) -> float:
        return (self.first + len(self.values)) * self.step

    def window(self, t0: float, t1: float) -> Series:
        """The bins inside [t0, t1) seconds (an empty series when none)."""
        i0 = max(0, int(math.floor(t0 / self.step)) - self.first)
        i1 = min(len(self.values), int(math.ceil(t1 / self.step)) - self.first)
        if i1 <= i0:
            return Series(self.first, np.zeros(0, np.float32), self.step)
        return Series(self.first + i0, self.values[i0:i1], self.step)

    @classmethod
    def empty(cls, step: float) -> Series:
        return cls(0, np.zeros(0, np.float32), step)


@dataclass(frozen=True)
class Alignment:
    """``b`` shows the same moments as ``a``: time on a's timeline = time on b's + ``offset``."""

    offset: float
    correlation: float
    evidence: float
    overlap_seconds: float


def frame_samples(motion: Sequence[float] | None, start: float, end: float, smooth: float):
    """(times, values) of one clip's per-frame motion on the source timeline, low-passed. Value j is
    the difference of frames j and j + 1, so it sits between them."""
    m = np.asarray(motion if motion is not None else [], np.float64)
    if len(m) < 2 or not end > start:
        return np.zeros(0), np.zeros(0)
    dt = (end - start) / (len(m) + 1)
    if smooth > 0:
        m = gaussian_filter1d(m, smooth / dt, mode="nearest")
    return start + (np.arange(len(m)) + 0.5) * dt, m


def series_from_clips(
    clips: Iterable[tuple[Sequence[float] | None, float, float]], cfg: IdentityConfig
) -> Series:
    """One series from clips of one shot (or any clips of one source timeline): (motion, start, end)."""
    step = cfg.footage_step_seconds
    parts = [frame_samples(m, s, e, cfg.footage_smooth_seconds) for m, s, e in clips]
    times = np.concatenate([t for t, _ in parts]) if parts else np.zeros(0)
    if not len(times):
        return Series.empty(step)
    values = np.concatenate([v for _, v in parts])
    bins = np.floor(times / step).astype(np.int64)
    first = int(bins.min())
    sums = np.bincount(bins - first, weights=values)
    counts = np.bincount(bins - first)
    out = np.full(len(sums), np.nan, np.float32)
    has = counts > 0
    out[has] = sums[has] / counts[has]
    return Series(first, out, step)


@dataclass(frozen=True)
class _Prepared:
    """A series ready to correlate: mask, values standardised over the mask (Pearson ignores both
    scale and offset; standardised, the FFT sums stay well conditioned), and their squares."""

    series: Series
    mask: np.ndarray
    x: np.ndarray
    x2: np.ndarray

    @classmethod
    def of(cls, series: Series) -> _Prepared:
        m = np.isfinite(series.values)
        x = np.where(m, series.values, 0.0).astype(np.float64)
        if m.any():
            x = np.where(m, (x - x[m].mean()) / (x[m].std() + 1e-12), 0.0)
        return cls(series, m.astype(np.float64), x, x * x)


class Aligner:
    """Aligns target series against a fixed set of series (a pool of candidate crops), all of them
    in one batched FFT per target: the pool's spectra are computed once per FFT size."""

    def __init__(self, series: Sequence[Series], cfg: IdentityConfig):
        self.cfg = cfg
        self.items = [_Prepared.of(s) for s in series]
        self.need = max(4, math.ceil(cfg.footage_min_overlap_seconds / cfg.footage_step_seconds - 1e-9))
        self._spectra: dict[int, tuple[np.ndarray, ...]] = {}

    def _pool_spectra(self, n: int) -> tuple[np.ndarray, ...]:
        if n not in self._spectra:
            rev = [[p.mask[::-1], p.x[::-1], p.x2[::-1]] for p in self.items]
            self._spectra[n] = tuple(
                np.fft.rfft(np.stack([_pad(r[i], n) for r in rev]), n) for i in range(3)
            )  # fmt: skip
        return self._spectra[n]

    def align(self, target: Series, only: Sequence[int] | None = None) -> list[Alignment | None]:
        """Per pool series (or only those listed; None elsewhere): ``target``'s alignment with it."""
        out: list[Alignment | None] = [None] * len(self.items)
        cfg, need = self.cfg, self.need
        wanted = [
            i for i in (range(len(self.items)) if only is None else only)
            if len(self.items[i].series) >= need and self.items[i].mask.sum() >= need
        ]  # fmt: skip
        a = _Prepared.of(target)
        if not wanted or len(target) < need or a.mask.sum() < need:
            return out
        longest = max(len(p.series) for p in self.items)
        n = 1 << int(math.ceil(math.log2(len(target) + longest - 1)))
        fb, xb, x2b = (s[wanted] for s in self._pool_spectra(n))
        fa, xa, x2a = (np.fft.rfft(v, n) for v in (a.mask, a.x, a.x2))

        def corr(u: np.ndarray, v: np.ndarray) -> np.ndarray:
            return np.fft.irfft(u[None, :] * v, n)

        count = np.rint(corr(fa, fb))
        sa, sb = corr(xa, fb), corr(fa, xb)
        saa, sbb, sab = corr(x2a, fb), corr(fa, x2b), corr(xa, xb)
        for row, i in enumerate(wanted):
            lb = len(self.items[i].series)
            k = slice(0, len(target) + lb - 1)  # index k: b[j] on a[j + k - (lb - 1)]
            found = _best(
                count[row, k], sa[row, k], sb[row, k], saa[row, k], sbb[row, k], sab[row, k], need, cfg
            )
            if found is not None:
                kbest, r, z, overlap = found
                d = kbest - (lb - 1)
                step = target.step
                out[i] = Alignment(
                    (target.first + d - self.items[i].series.first) * step, r, z, overlap * step
                )
        return out


def _pad(v: np.ndarray, n: int) -> np.ndarray:
    out = np.zeros(n)
    out[: len(v)] = v
    return out


def _best(count, sa, sb, saa, sbb, sab, need: int, cfg: IdentityConfig):
    """(shift index, r, z, overlap bins) of the strongest evidence, when it clears the config."""
    n = np.maximum(count, 1.0)
    var_a = np.maximum(saa - sa * sa / n, 0.0)
    var_b = np.maximum(sbb - sb * sb / n, 0.0)
    r = (sab - sa * sb / n) / np.sqrt(np.maximum(var_a * var_b, 1e-300))
    # standardised series: a still overlap has (almost) no variance left
    ok = (count >= need) & (var_a > n * MIN_STD) & (var_b > n * MIN_STD)
    if not ok.any():
        return None
    z = np.where(ok, np.arctanh(np.clip(r, -0.999999, 0.999999)) * np.sqrt(np.maximum(count - 3, 1)), -np.inf)
    k = int(np.argmax(z))
    if not (r[k] >= cfg.footage_min_correlation and z[k] >= cfg.footage_min_evidence):
        return None
    return k, float(r[k]), float(z[k]), float(count[k])


def align(a: Series, b: Series, cfg: IdentityConfig) -> Alignment | None:
    """The time shift at which ``b`` shows the same moments as ``a`` (time on a's timeline = time
    on b's + offset), or None (not the same footage over at least footage_min_overlap_seconds)."""
    return Aligner([b], cfg).align(a)[0]


def still_start(series: Series, time: float, level: float) -> float | None:
    """Start of the still stretch (every bin's motion under ``level``) that holds ``time``, or None:
    crops of one still stretch (a photo shown for a while) show one picture, one moment."""
    i = int(math.floor(time / series.step)) - series.first
    v = series.values
    if not (0 <= i < len(v)) or not v[i] < level:
        return None
    while i > 0 and v[i - 1] < level:  # NaN (no clip there) ends the stretch
        i -= 1
    return (series.first + i) * series.step


def moment(source_id: str, time: float, series: Series | None, level: float) -> tuple[str, float]:
    """The moment a crop shows on its own source: its time, or the start of its still stretch."""
    start = still_start(series, time, level) if series is not None and len(series) else None
    return (source_id, time if start is None else start)


def mapped_kind(time: float, start: float, end: float, min_gap: float, tolerance: float) -> str | None:
    """Kind of a crop of the same footage at ``time`` (already on the target's timeline) for a target
    clip spanning [start, end]: its own moments are same_clip, moments at least ``min_gap`` away are
    same_shot (still subject to the context rule), anything between is no reference."""
    if start - tolerance <= time <= end + tolerance:
        return "same_clip"
    if max(start - time, time - end) >= min_gap:
        return "same_shot"
    return None
