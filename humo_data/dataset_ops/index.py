"""Candidate pairs for verification, from faiss indexes, so the pass never compares all pairs.

- **key index**: z-scored motion windows of every clip, one every ``key_stride`` bins
  (signatures.py). A clip queries with windows at its motion events (content-defined, so a copy
  has them on the same frames, however shifted, re-encoded, scaled, cropped or letterboxed), each
  also shifted by up to stride // 2 bins: one of them lines up exactly with an indexed window of
  any copy that overlaps it. The two keys' centres give the shift to verify around.
- **vector index**: every clip's appearance vector, queried only by clips without usable keys
  (stills, clips too short for a key window), which then get a full shift search.

Inner product on unit vectors; exact (IndexFlatIP) up to ``flat_max_keys`` keys, HNSW above.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from humo_data.dataset_ops.config import DedupConfig

#: appearance candidates (clips without keys) need their vectors at least this similar (thumbnail
#: vectors: re-encodes 1.0, a 10% crop 0.79, other videos <= 0.4)
VECTOR_SIMILARITY = 0.7


def build_index(vectors: np.ndarray, cfg: DedupConfig):
    import faiss

    x = np.ascontiguousarray(vectors, np.float32)
    d = x.shape[1] if x.ndim == 2 and len(x) else 1
    kind = cfg.index if cfg.index != "auto" else ("flat" if len(x) <= cfg.flat_max_keys else "hnsw")
    if kind == "flat":
        index = faiss.IndexFlatIP(d)
    else:
        index = faiss.IndexHNSWFlat(d, cfg.hnsw_m, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = 64
        index.hnsw.efSearch = max(48, 3 * cfg.neighbours)
    if len(x):
        index.add(x)
    return index


def serialize(index) -> np.ndarray:
    import faiss

    return faiss.serialize_index(index)


def deserialize(blob: np.ndarray):
    import faiss

    return faiss.deserialize_index(blob)


@dataclass
class Keys:
    """Keys with their owner clip (global index) and centre bin."""

    vectors: np.ndarray  # [k, d] float32
    owner: np.ndarray  # [k] int64
    centre: np.ndarray  # [k] int32

    @classmethod
    def empty(cls, dim: int) -> Keys:
        return cls(np.zeros((0, dim), np.float32), np.zeros(0, np.int64), np.zeros(0, np.int32))

    @classmethod
    def concat(cls, parts: list[Keys]) -> Keys:
        parts = [p for p in parts if len(p.owner)]
        if not parts:
            return cls.empty(1)
        return cls(
            np.concatenate([p.vectors for p in parts]),
            np.concatenate([p.owner for p in parts]),
            np.concatenate([p.centre for p in parts]),
        )


def key_candidates(
    index, indexed: Keys, queries: Keys, sources: np.ndarray, cfg: DedupConfig
) -> dict[tuple[int, int], set[int]]:
    """(a, b) with a < b -> shifts to verify (b's bin j on a's bin j + shift)."""
    out: dict[tuple[int, int], set[int]] = {}
    if index.ntotal == 0 or len(queries.owner) == 0:
        return out
    k = min(cfg.neighbours, index.ntotal)
    sims, ids = index.search(np.ascontiguousarray(queries.vectors, np.float32), k)
    q_owner = np.repeat(queries.owner, k)
    q_centre = np.repeat(queries.centre, k)
    flat_ids, flat_sims = ids.ravel(), sims.ravel()
    ok = (flat_ids >= 0) & (flat_sims >= cfg.key_similarity)
    hit = flat_ids[ok]
    a, ca = q_owner[ok], q_centre[ok]
    b, cb = indexed.owner[hit], indexed.centre[hit]
    keep = a != b
    if cfg.cross_source_only:
        keep &= sources[a] != sources[b]
    for x, y, cx, cy in zip(a[keep], b[keep], ca[keep], cb[keep], strict=True):
        if x < y:
            out.setdefault((int(x), int(y)), set()).add(int(cx - cy))
        else:
            out.setdefault((int(y), int(x)), set()).add(int(cy - cx))
    return out


def vector_candidates(
    index, owners: np.ndarray, query_vectors: np.ndarray, query_owner: np.ndarray, sources: np.ndarray,
    cfg: DedupConfig,
) -> set[tuple[int, int]]:  # fmt: skip
    """Pairs (a < b) for clips without keys, by appearance vector."""
    out: set[tuple[int, int]] = set()
    if index.ntotal == 0 or len(query_owner) == 0:
        return out
    k = min(cfg.neighbours, index.ntotal)
    sims, ids = index.search(np.ascontiguousarray(query_vectors, np.float32), k)
    for row, a in enumerate(query_owner):
        for sim, j in zip(sims[row], ids[row], strict=True):
            if j < 0 or sim < VECTOR_SIMILARITY:
                continue
            b = int(owners[j])
            if b == a or (cfg.cross_source_only and sources[a] == sources[b]):
                continue
            out.add((min(int(a), b), max(int(a), b)))
    return out
