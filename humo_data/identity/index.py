"""The dataset-wide identity index: join per-source identities into dataset-wide ones.

Leader clustering over a faiss index of per-source identity centroids: identities are visited in a
fixed order (most tracks first, then key), each joins the nearest leader within
``cross_source_distance`` whose identity has no member from its own source (two identities of one
source are two people by construction), else becomes a leader. Every member lies within the
threshold of its leader, so no chain of look-alikes can merge two people. Only centroids live here
(one vector per source identity); the crops stay in the grouped passes.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import numpy as np

SEARCH_K = 16
CHUNK = 4096


def identity_id(leader_key: str) -> str:
    """Stable dataset-wide id of an identity, from its leader's key."""
    return "id-" + hashlib.sha1(leader_key.encode()).hexdigest()[:16]


def link_identities(
    keys: Sequence[str], sources: Sequence[str], centroids: np.ndarray, sizes: Sequence[int], threshold: float
) -> dict[str, str]:
    """key (source identity) -> dataset-wide identity id."""
    import faiss

    n = len(keys)
    if n == 0:
        return {}
    x = np.ascontiguousarray(np.asarray(centroids, np.float32))
    order = sorted(range(n), key=lambda i: (-int(sizes[i]), keys[i]))
    index = faiss.IndexFlatL2(x.shape[1])
    leaders: list[int] = []  # item index of each leader, in index order
    members: list[set[str]] = []  # sources in each leader's identity
    leader_of = np.full(n, -1, np.int64)
    limit = float(threshold) ** 2  # IndexFlatL2 returns squared distances
    for start in range(0, n, CHUNK):
        chunk = order[start : start + CHUNK]
        k = min(SEARCH_K, index.ntotal)
        dist, idx = index.search(x[chunk], k) if k else (None, None)
        first_new = len(leaders)
        for row, i in enumerate(chunk):
            cands: list[tuple[float, int]] = []
            if k:
                cands += [
                    (float(d), int(j))
                    for d, j in zip(dist[row], idx[row], strict=True)
                    if j >= 0 and d <= limit
                ]
            if len(leaders) > first_new:  # leaders made earlier in this chunk are not in the index yet
                new = np.arange(first_new, len(leaders))
                d_new = ((x[[leaders[j] for j in new]] - x[i]) ** 2).sum(1)
                cands += [(float(d), int(j)) for d, j in zip(d_new, new, strict=True) if d <= limit]
            chosen = next((j for _, j in sorted(cands) if sources[i] not in members[j]), -1)
            if chosen < 0:
                chosen = len(leaders)
                leaders.append(i)
                members.append(set())
            members[chosen].add(sources[i])
            leader_of[i] = chosen
        if len(leaders) > first_new:
            index.add(x[leaders[first_new:]])
    return {keys[i]: identity_id(keys[leaders[leader_of[i]]]) for i in range(n)}
