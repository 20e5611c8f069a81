"""The near-duplicate search as functions of blocks of clips, shared by the Ray job (dedup.py) and
the in-memory runner (``find_near_duplicates``, tests and small sets).

    signature rows + meta rows ──make_block──> Block (global clip numbers start..start+n)
    every Block ──index_bundle──> faiss key index + vector index + source code of every clip
    Block + bundle ──block_matches──> candidate pairs ──verify──> Match (other blocks read lazily)
    all matches ──keep_ranks (per duplicate group) + choose_keepers──> decisions (clip, kept clip, evidence)

Each Block holds its clips' signatures and the few metadata the keep order (keep.py) needs; the bundle holds
one key per motion anchor (~1-2 per second of video) and one vector per clip. Nothing holds a pair
matrix: the work per clip is its keys' nearest neighbours plus a few verifications.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from humo_data.dataset_ops.config import DedupConfig
from humo_data.dataset_ops.index import (
    Keys,
    build_index,
    deserialize,
    key_candidates,
    serialize,
    vector_candidates,
)
from humo_data.dataset_ops.keep import face_source_px, keep_ranks, why_kept
from humo_data.dataset_ops.matching import Decision, Match, choose_keepers, verify
from humo_data.dataset_ops.signatures import Signature, index_keys, query_keys

#: metadata columns of the triplets the keep order (keep.py) and the reject rows need
META_COLUMNS = (
    "clip_id", "source_id", "start_time", "end_time", "stage1", "stage2", "width", "height", "source_width",
    "source_height", "source_bits_per_pixel", "source_duration", "face_track", "quality_aesthetic",
    "quality_sharpness",
)  # fmt: skip


def source_code(source_id: str) -> int:
    return int.from_bytes(hashlib.blake2b(source_id.encode(), digest_size=8).digest(), "little", signed=True)


@dataclass
class Block:
    """Clips ``start .. start + len(meta)`` of the dataset's numbering: their signatures and keep
    order metadata (~1.5 KB per clip). Keys are derived where they are used (``block_keys``), so they
    never travel through the object store."""

    start: int
    meta: list[dict[str, Any]]  # META_COLUMNS + "_shard" per clip
    signatures: list[Signature | None]

    def __len__(self) -> int:
        return len(self.meta)

    def signature(self, g: int) -> Signature | None:
        return self.signatures[g - self.start]


def make_block(start: int, meta: list[dict[str, Any]], signatures: list[Signature | None]) -> Block:
    for m, sig in zip(meta, signatures, strict=True):
        if sig is not None:
            m["content_fraction"] = sig.content_fraction
        if "face_track" in m:  # the face size is all the keep order needs of the track
            m["face_source_px"] = face_source_px(m)
            del m["face_track"]
    return Block(start, meta, signatures)


@dataclass
class BlockKeys:
    keys: Keys  # indexed keys (moving clips), every key_stride bins
    queries: Keys  # query keys (first/last window and motion events, +- stride // 2)
    vector_owner: np.ndarray
    vectors: np.ndarray
    needs_vector_query: np.ndarray  # global ids of clips without usable keys (stills, short clips)


def block_keys(block: Block, cfg: DedupConfig, index: bool = True, query: bool = True) -> BlockKeys:
    keys, queries, v_owner, vectors, vector_queries = [], [], [], [], []
    for i, sig in enumerate(block.signatures):
        g = block.start + i
        if sig is None:
            continue
        if sig.vector is not None:
            v_owner.append(g)
            vectors.append(sig.vector)
        if sig.is_static(cfg.static_motion):
            vector_queries.append(g)
            continue
        if index:
            k, kc = index_keys(sig.motion, cfg)
            if len(k):
                keys.append(Keys(k, np.full(len(k), g, np.int64), kc))
        q, qc = query_keys(sig.motion, cfg) if query else (np.zeros((0, 1), np.float32), [])
        if len(q):
            queries.append(Keys(q, np.full(len(q), g, np.int64), qc))
        elif query:
            vector_queries.append(g)
    return BlockKeys(
        Keys.concat(keys), Keys.concat(queries), np.asarray(v_owner, np.int64),
        np.stack(vectors).astype(np.float32) if vectors else np.zeros((0, 1), np.float32),
        np.asarray(vector_queries, np.int64),
    )  # fmt: skip


@dataclass
class Bundle:
    """What every search task shares: both indexes (serialised) and every clip's source code."""

    key_index: np.ndarray
    key_owner: np.ndarray
    key_centre: np.ndarray
    vector_index: np.ndarray
    vector_owner: np.ndarray
    sources: np.ndarray  # [N] int64, by global clip number

    def indexed_keys(self) -> Keys:
        return Keys(np.zeros((0, 1), np.float32), self.key_owner, self.key_centre)


def index_bundle(blocks: Sequence[Block] | Callable[[], Any], total: int, cfg: DedupConfig) -> Bundle:
    """Both indexes over every block (``blocks``: a sequence, or a callable yielding blocks one at a
    time so only one is in memory besides the keys)."""
    sources = np.zeros(total, np.int64)
    keys, v_owner, vectors = [], [], []
    for block in blocks() if callable(blocks) else blocks:
        for i, m in enumerate(block.meta):
            sources[block.start + i] = source_code(m["source_id"])
        bk = block_keys(block, cfg, query=False)
        keys.append(bk.keys)
        v_owner.append(bk.vector_owner)
        vectors.append(bk.vectors)
    all_keys = Keys.concat(keys)
    vec = [v for v in vectors if len(v)]
    dims = {v.shape[1] for v in vec}
    vec_matrix = np.concatenate(vec) if len(dims) == 1 else np.zeros((0, 1), np.float32)
    return Bundle(
        key_index=serialize(build_index(all_keys.vectors, cfg)),
        key_owner=all_keys.owner,
        key_centre=all_keys.centre,
        vector_index=serialize(build_index(vec_matrix, cfg)),
        vector_owner=np.concatenate(v_owner) if len(dims) == 1 else np.zeros(0, np.int64),
        sources=sources,
    )


def block_matches(
    block: Block,
    bundle: Bundle,
    lookup: Callable[[int], tuple[Signature | None, dict]],
    cfg: DedupConfig,
    home: Callable[[int], int] | None = None,
) -> list[tuple[Match, dict, dict]]:
    """Verified duplicate pairs found from ``block``'s clips: (match, meta a, meta b).
    ``lookup(g)`` gives any clip's signature and meta (other blocks, read lazily); ``home(g)``
    the block holding clip g, so pairs can be visited block by block."""
    lo = block.start
    bk = block_keys(block, cfg, index=False)
    pairs = key_candidates(
        deserialize(bundle.key_index), bundle.indexed_keys(), bk.queries, bundle.sources, cfg
    )
    if len(bk.needs_vector_query):
        sigs = [block.signatures[i] for i in bk.needs_vector_query - lo]
        with_vec = [i for i, s in enumerate(sigs) if s is not None and s.vector is not None]
        if with_vec:
            qv = np.stack([sigs[i].vector for i in with_vec]).astype(np.float32)
            for pair in vector_candidates(
                deserialize(bundle.vector_index), bundle.vector_owner, qv, bk.needs_vector_query[with_vec],
                bundle.sources, cfg,
            ):  # fmt: skip
                pairs.setdefault(pair, set())
    out = []
    # a pair found from both ends is verified twice (at most); decisions() keeps one. Pairs go in
    # the order of the blocks holding their clips (``home``), so each other block is read once.
    order = sorted(pairs, key=lambda p: ((home(p[0]), home(p[1])) if home else (0, 0), p))
    for a, b in order:
        hints = pairs[(a, b)]
        sa, ma = lookup(a)
        sb, mb = lookup(b)
        if sa is None or sb is None:
            continue
        m = verify(sa, sb, cfg, a, b, hints or None)
        if m is not None:
            out.append((m, ma, mb))
    return out


def duplicate_groups(clips: Sequence[int], matches: Sequence[Match]) -> list[int]:
    """Group id (the smallest clip number) of each of ``clips``: connected components of the pairs."""
    parent = {c: c for c in clips}

    def root(c: int) -> int:
        while parent[c] != c:
            parent[c] = parent[parent[c]]
            c = parent[c]
        return c

    for m in matches:
        a, b = root(m.a), root(m.b)
        if a != b:
            parent[max(a, b)] = min(a, b)
    return [root(c) for c in clips]


def decisions(
    matches: Sequence[tuple[Match, dict, dict]], order: Sequence[str]
) -> list[tuple[dict, dict, Match]]:
    """(meta of the clip that goes, meta of the clip it duplicates, evidence), deterministic. Each
    meta gets ``_keep_rank``: its sort key within its duplicate group (keep.py)."""
    metas: dict[int, dict] = {}
    unique: dict[tuple[int, int], Match] = {}
    for m, ma, mb in matches:
        metas[m.a], metas[m.b] = ma, mb
        prev = unique.get((m.a, m.b))
        if prev is None or m.similarity > prev.similarity:
            unique[(m.a, m.b)] = m
    clips = sorted(metas)
    ranks = keep_ranks([metas[c] for c in clips], duplicate_groups(clips, list(unique.values())), order)
    for c, r in zip(clips, ranks, strict=True):
        metas[c]["_keep_rank"] = r
    chosen: list[Decision] = choose_keepers(dict(zip(clips, ranks, strict=True)), list(unique.values()))
    return [
        (metas[d.clip], metas[d.kept], d.match)
        for d in sorted(chosen, key=lambda d: metas[d.clip]["clip_id"])
    ]


def reject_detail(kept: dict[str, Any], gone: dict[str, Any], match: Match, cfg: DedupConfig) -> str:
    """Which clip stays, the duplicate evidence, and the keep_order key that chose it."""
    why = why_kept(kept, gone, kept["_keep_rank"], gone["_keep_rank"], cfg.keep_order)
    return f"near_duplicate of {kept['clip_id']} (source {kept['source_id']}): {match.describe(cfg.step_seconds)}; {why}"


# --- in memory ----------------------------------------------------------------------------------


def find_near_duplicates(
    signature_rows: Sequence[dict[str, Any]], meta: Sequence[dict[str, Any]], cfg: DedupConfig
) -> list[tuple[dict, dict, Match]]:
    """The whole search in this process (same functions as the Ray job). ``signature_rows``: rows
    of features/signatures; ``meta``: triplet rows with META_COLUMNS. Clips without a signature
    row take no part."""
    by_id = {r["clip_id"]: Signature.from_row(r) for r in signature_rows if r.get("motion") is not None}
    meta = sorted(meta, key=lambda r: r["clip_id"])
    block = make_block(0, [dict(m) for m in meta], [by_id.get(m["clip_id"]) for m in meta])
    bundle = index_bundle([block], len(block), cfg)

    def lookup(g: int):
        return block.signature(g), block.meta[g]

    return decisions(block_matches(block, bundle, lookup, cfg), cfg.keep_order)
