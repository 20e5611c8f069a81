"""Is clip B a near-duplicate of clip A? And which clip of a duplicate group stays?

``verify`` slides B's motion series along A's in half-bin steps (shift ``s``: B's bin j lies on
A's bin j + s), within a few bins of the shifts the keys suggested (or every shift when none did),
and
calls the pair duplicates when, at the best shift,

- the aligned overlap is long enough (min_overlap_seconds, and min_overlap_fraction of the shorter
  clip: two windows of a re-upload trimmed by 1 s overlap 3 s of 4 with one original window and 1 s
  with the next; only the first is a duplicate),
- the motion agrees: median over the grid cells of the per-cell correlation >= min_similarity
  (different windows of one talking-head video move differently), and its Fisher z over the
  overlap >= min_evidence (a short overlap needs a higher correlation: measured on non-overlapping
  windows of the same videos, the best shift reaches r 0.91 over 1.8 s by chance, 0.69 over 3 s),
- the appearance agrees: median Hamming distance of the aligned per-bin pHashes <= max_phash_distance
  (or the clip embeddings' cosine, for an embedding backend), so a different video that happens
  to move alike is not a duplicate.

Two still clips (no motion) are compared by appearance alone, tighter. A still and a moving clip
never match.

``choose_keepers`` is leader selection over the duplicate pairs: clips in keep order (best first,
keep.py);
a clip is kept unless it duplicates a clip already kept, and then names the best such clip. Unlike
connected components this never drops a clip for resembling a clip that was itself dropped: with
A ~ B ~ C, where A and C do not overlap, A and C both stay.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from humo_data.dataset_ops.config import DedupConfig
from humo_data.dataset_ops.signatures import Signature


@dataclass(frozen=True)
class Match:
    a: int
    b: int
    similarity: float  # motion correlation (or appearance similarity for stills)
    shift: float  # bins (halves too): b's bin j lies on a's bin j + shift
    overlap: int  # aligned bins
    phash_distance: float  # median over aligned bins (NaN for an embedding backend)
    static: bool = False

    def describe(self, step: float) -> str:
        what = (
            f"still image, pHash {self.phash_distance:.0f}/63"
            if self.static
            else f"motion r={self.similarity:.2f}"
            + (f", pHash {self.phash_distance:.0f}/63" if not math.isnan(self.phash_distance) else "")
            + f" over {self.overlap * step:.1f} s"
        )
        return f"{what}, shift {self.shift * step:+.1f} s"


def hamming(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Bit differences of two uint64 arrays, element-wise."""
    x = np.bitwise_xor(np.asarray(a, np.uint64), np.asarray(b, np.uint64))
    return np.unpackbits(x.view(np.uint8).reshape(-1, 8), axis=1).sum(1)


def _cosine(a: np.ndarray | None, b: np.ndarray | None) -> float:
    if a is None or b is None or len(a) != len(b):
        return float("nan")
    return float(np.dot(a, b) / (np.linalg.norm(a) * np.linalg.norm(b) + 1e-9))


def needed_overlap(na: int, nb: int, step: float, cfg: DedupConfig) -> int:
    return max(
        2,
        math.ceil(cfg.min_overlap_seconds / step - 1e-9),
        math.ceil(cfg.min_overlap_fraction * min(na, nb) - 1e-9),
    )


def evidence(r: float, n: int) -> float:
    """Fisher z of a correlation over ``n`` bins: how unlikely ``r`` is by chance at that length
    (the best of many shifts over a few bins correlates well by luck; over many bins it cannot)."""
    return math.atanh(min(max(r, -0.999999), 0.999999)) * math.sqrt(max(n - 3, 1))


def motion_correlation(a: np.ndarray, b: np.ndarray) -> float:
    """Median over channels of the Pearson correlation of two aligned [n, channels] series; a
    channel that does not move in either clip counts as 0."""
    za = (a - a.mean(0)) / (a.std(0) + 1e-6)
    zb = (b - b.mean(0)) / (b.std(0) + 1e-6)
    return float(np.median((za * zb).mean(0)))


def shift_correlations(
    a: np.ndarray, b: np.ndarray, shifts: np.ndarray, need: int
) -> tuple[np.ndarray, np.ndarray]:
    """Motion correlation (median over channels of the per-channel Pearson r over the aligned bins)
    and overlap length for every shift at once (b's bin j on a's bin j + shift); -inf where the
    overlap is under ``need`` bins. One gather, no Python loop over shifts."""
    na, nb = len(a), len(b)
    i0 = np.maximum(0, shifts)
    i1 = np.minimum(na, nb + shifts)
    n = i1 - i0
    length = int(max(n.max(initial=0), 1))
    ai = i0[:, None] + np.arange(length)[None, :]
    valid = ai < i1[:, None]
    bi = np.clip(ai - shifts[:, None], 0, nb - 1)
    xa = a[np.minimum(ai, na - 1)] * valid[..., None]
    xb = b[bi] * valid[..., None]
    cnt = np.maximum(n, 1)[:, None].astype(np.float64)
    ma, mb = xa.sum(1) / cnt, xb.sum(1) / cnt
    cov = (xa * xb).sum(1) / cnt - ma * mb
    va = np.maximum((xa * xa).sum(1) / cnt - ma * ma, 0.0)
    vb = np.maximum((xb * xb).sum(1) / cnt - mb * mb, 0.0)
    r = cov / (np.sqrt(va) + 1e-6) / (np.sqrt(vb) + 1e-6)
    out = np.median(r, axis=1)
    out[n < need] = -np.inf
    return out, n


def verify(a: Signature, b: Signature, cfg: DedupConfig, ia: int = 0, ib: int = 1,
           hints: Iterable[int] | None = None) -> Match | None:  # fmt: skip
    """The duplicate evidence for clips ``a`` and ``b`` (indices ``ia``/``ib`` recorded), or None."""
    embedding = a.backend != "phash" and b.backend != "phash"
    sa, sb = a.is_static(cfg.static_motion), b.is_static(cfg.static_motion)
    if sa or sb:
        if not (sa and sb) or a.bins == 0 or b.bins == 0:
            return None
        d = float(hamming(a.phash[a.bins // 2 : a.bins // 2 + 1], b.phash[b.bins // 2 : b.bins // 2 + 1])[0])
        if d > cfg.static_phash_distance:
            return None
        if embedding and not _cosine(a.vector, b.vector) >= cfg.min_embedding_similarity:
            return None
        return Match(ia, ib, 1.0 - d / 63.0, 0, min(a.bins, b.bins), d, static=True)
    na, nb = a.bins, b.bins
    need = needed_overlap(na, nb, a.step, cfg)
    if min(na, nb) < need:
        return None
    if hints is None:
        shifts = np.arange(need - nb, na - need + 1)
    else:
        r = cfg.search_shift_bins
        shifts = np.unique(np.asarray([h + d for h in hints for d in range(-r, r + 2)], np.int64))
    if not len(shifts):
        return None
    # b read half a bin later (interpolated): copies trimmed by a fraction of a bin line up too
    b_half = (b.motion[:-1] + b.motion[1:]) / 2
    r_int, n_int = shift_correlations(a.motion, b.motion, shifts, need)
    r_half, n_half = (
        shift_correlations(a.motion, b_half, shifts, need) if len(b_half) else (r_int * -np.inf, n_int)
    )
    k_int, k_half = int(np.argmax(r_int)), int(np.argmax(r_half))
    if r_half[k_half] > r_int[k_int] + 1e-9:
        r_best, shift, n = float(r_half[k_half]), shifts[k_half] - 0.5, int(n_half[k_half])
    else:
        r_best, shift, n = float(r_int[k_int]), float(shifts[k_int]), int(n_int[k_int])
    if not np.isfinite(r_best) or r_best < cfg.min_similarity or evidence(r_best, n) < cfg.min_evidence:
        return None
    s = int(math.floor(shift + 0.5))
    i0, i1 = max(0, s), min(na, nb + s)
    distance = float("nan")
    if embedding:
        if not _cosine(a.vector, b.vector) >= cfg.min_embedding_similarity:
            return None
    else:
        distance = float(np.median(hamming(a.phash[i0:i1], b.phash[i0 - s : i1 - s])))
        if distance > cfg.max_phash_distance:
            return None
    return Match(ia, ib, r_best, float(shift), n, distance)


# --- which clip stays ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Decision:
    """A clip that leaves the dataset as a near-duplicate of ``kept``."""

    clip: int
    kept: int
    match: Match


def choose_keepers(ranks: Sequence[tuple] | dict[int, tuple], matches: Sequence[Match]) -> list[Decision]:
    """Leader selection over duplicate pairs (see the module doc); ``ranks[i]`` orders clip i."""
    neighbours: dict[int, list[Match]] = {}
    for m in matches:
        neighbours.setdefault(m.a, []).append(m)
        neighbours.setdefault(m.b, []).append(m)
    kept: set[int] = set()
    out: list[Decision] = []
    for clip in sorted(neighbours, key=lambda i: ranks[i]):
        leaders = [
            (ranks[other], other, m)
            for m in neighbours[clip]
            if (other := m.b if m.a == clip else m.a) in kept
        ]
        if leaders:
            _, leader, m = min(leaders, key=lambda x: x[0])
            out.append(Decision(clip, leader, m))
        else:
            kept.add(clip)
    return out
