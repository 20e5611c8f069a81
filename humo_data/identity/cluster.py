"""Cluster the face tracks of one source into identities, without chaining.

Average linkage (scipy) joins two groups only when their mean pairwise distance is under the
threshold, so a chain of look-alikes cannot bridge two people as connected components would. Two
tracks of one clip are two people seen at once: after linkage, a group holding both keeps the one
nearer its centroid and the other is re-assigned (cannot-link). Sources with more tracks than
``max_exact`` use centroid assignment (each track joins the nearest running centroid within the
threshold, then one re-assignment pass), which bounds memory to the centroids.
"""

from __future__ import annotations

import numpy as np
from scipy.cluster.hierarchy import fcluster, linkage


def cluster_tracks(emb: np.ndarray, clip: np.ndarray, threshold: float, max_exact: int = 4000) -> np.ndarray:
    """Identity label (0..k-1, numbered by first appearance) of each track.

    emb: N x D track embeddings; clip: N clip indices (tracks of one clip never share a label)."""
    n = len(emb)
    if n == 0:
        return np.zeros(0, np.int64)
    if n == 1:
        return np.zeros(1, np.int64)
    emb = np.asarray(emb, np.float64)
    if n <= max_exact:
        labels = fcluster(
            linkage(emb, method="average", metric="euclidean"), t=threshold, criterion="distance"
        )
        labels = _split_conflicts(emb, clip, labels - 1, threshold)
    else:
        labels = _centroid_assignment(emb, clip, threshold)
    return _renumber(labels)


def centroid(vectors: np.ndarray) -> np.ndarray:
    """Mean of embeddings; back onto the unit sphere when they were unit vectors (ArcFace)."""
    mean = np.asarray(vectors, np.float64).mean(0)
    norms = np.linalg.norm(vectors, axis=1)
    if np.allclose(norms, 1.0, atol=1e-3):
        mean /= max(float(np.linalg.norm(mean)), 1e-12)
    return mean.astype(np.float32)


def _split_conflicts(emb: np.ndarray, clip: np.ndarray, labels: np.ndarray, threshold: float) -> np.ndarray:
    labels = labels.copy()
    evicted: list[int] = []
    for lab in np.unique(labels):
        members = np.flatnonzero(labels == lab)
        if len(set(clip[members].tolist())) == len(members):
            continue
        c = emb[members].mean(0)
        order = members[np.argsort(np.linalg.norm(emb[members] - c, axis=1), kind="stable")]
        seen: set[int] = set()
        for i in order:
            if clip[i] in seen:
                evicted.append(int(i))
                labels[i] = -1
            seen.add(int(clip[i]))
    next_label = int(labels.max()) + 1
    for i in sorted(evicted):
        labels[i] = _best_group(emb, clip, labels, i, threshold)
        if labels[i] < 0:
            labels[i] = next_label
            next_label += 1
    return labels


def _best_group(emb: np.ndarray, clip: np.ndarray, labels: np.ndarray, i: int, threshold: float) -> int:
    """Nearest group (by mean distance to its members: average linkage) within threshold that has no
    track of i's clip; -1 when none."""
    best, best_d = -1, threshold
    for lab in np.unique(labels[labels >= 0]):
        members = np.flatnonzero(labels == lab)
        if clip[i] in set(clip[members].tolist()):
            continue
        d = float(np.linalg.norm(emb[members] - emb[i], axis=1).mean())
        if d <= best_d:
            best, best_d = int(lab), d
    return best


def _centroid_assignment(emb: np.ndarray, clip: np.ndarray, threshold: float) -> np.ndarray:
    labels = _assign(emb, clip, threshold, None)
    settled = np.stack([emb[labels == k].mean(0) for k in range(int(labels.max()) + 1)])
    return _assign(emb, clip, threshold, settled)


def _assign(emb: np.ndarray, clip: np.ndarray, threshold: float, fixed: np.ndarray | None) -> np.ndarray:
    """Each track joins the nearest centroid within ``threshold`` holding no track of its clip, else
    starts one. ``fixed`` centroids stay put (the re-assignment pass); new ones are running means."""
    n_fixed = 0 if fixed is None else len(fixed)
    cents = np.zeros((n_fixed + len(emb), emb.shape[1]))
    if fixed is not None:
        cents[:n_fixed] = fixed
    sums, counts = np.zeros_like(cents), np.zeros(len(cents))
    clips_of: list[set[int]] = [set() for _ in range(len(cents))]
    labels = np.empty(len(emb), np.int64)
    n = n_fixed
    for i, e in enumerate(emb):
        d = np.linalg.norm(cents[:n] - e, axis=1)
        lab = -1
        for k in np.argsort(d, kind="stable"):
            if d[k] > threshold:
                break
            if int(clip[i]) not in clips_of[k]:
                lab = int(k)
                break
        if lab < 0:
            lab, n = n, n + 1
        sums[lab] += e
        counts[lab] += 1
        clips_of[lab].add(int(clip[i]))
        if lab >= n_fixed:
            cents[lab] = sums[lab] / counts[lab]
        labels[i] = lab
    return labels


def _renumber(labels: np.ndarray) -> np.ndarray:
    order: dict[int, int] = {}
    for x in labels.tolist():
        order.setdefault(int(x), len(order))
    return np.array([order[int(x)] for x in labels], np.int64)
