"""Offset search and SyncNet's sync scores from per-frame embeddings, torch-free.

As the standard evaluation (syncnet_python ``calc_pdist`` / ``evaluate``) computes them::

    dists[i, j]  = || video_i - audio_{i + j - vshift} + 1e-6 ||   (audio rows outside the clip: 0)
    mean[j]      = mean_i dists[i, j]                              j = 0 .. 2*vshift
    LSE-D        = min_j mean[j]                                   (distance at the best offset)
    LSE-C        = median_j mean[j] - min_j mean[j]                (confidence)
    offset       = vshift - argmin_j mean[j]                       (frames)

Sign: audio that lags the picture by k frames (the sound of frame i is heard at i + k) gives
offset = -k; advancing the audio by k frames (``clip_window`` shift +k/fps) makes it 0.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

PAIRWISE_EPS = 1e-6  # torch.nn.functional.pairwise_distance's eps


@dataclass
class OffsetScores:
    offset: int  # frames, SyncNet sign (see module doc)
    confidence: float  # LSE-C, or the offline scorer's own contrast
    distance: float  # LSE-D, or the offline scorer's own distance
    curve: np.ndarray  # per-offset mean distance (or score), index j <-> offset vshift - j


def pairwise_offset_distances(video: np.ndarray, audio: np.ndarray, vshift: int) -> np.ndarray:
    """[n, 2*vshift+1] distances of each video embedding to the audio embeddings around it."""
    n, dim = video.shape
    padded = np.zeros((len(audio) + 2 * vshift, dim), np.float64)
    padded[vshift : vshift + len(audio)] = audio
    win = 2 * vshift + 1
    out = np.empty((n, win))
    for j in range(win):
        diff = video.astype(np.float64) - padded[j : j + n] + PAIRWISE_EPS
        out[:, j] = np.sqrt((diff**2).sum(axis=1))
    return out


def lse_scores(dists: np.ndarray) -> OffsetScores:
    """LSE-D, LSE-C and the offset from a [frames, 2*vshift+1] distance matrix."""
    vshift = (dists.shape[1] - 1) // 2
    mean = dists.mean(axis=0)
    best = int(np.argmin(mean))
    # torch.median returns the lower of the two middle values for an even count; the window is odd
    median = float(np.sort(mean)[(len(mean) - 1) // 2])
    return OffsetScores(vshift - best, median - float(mean[best]), float(mean[best]), mean)


def score_curve_offset(scores: np.ndarray) -> OffsetScores:
    """The same summary for a similarity curve (higher = better) indexed like ``lse_scores``: the
    offline scorer's contrast (peak minus median) and distance (1 - peak)."""
    vshift = (len(scores) - 1) // 2
    best = int(np.argmax(scores))
    median = float(np.sort(scores)[(len(scores) - 1) // 2])
    return OffsetScores(vshift - best, float(scores[best]) - median, 1.0 - float(scores[best]), scores)
