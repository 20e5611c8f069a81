"""Choose a clip's reference crops among candidates of its identity: best kind first, then the most
different context and pose, one crop per source clip before a second one from the same clip.

Kinds (``KINDS``, best first): ``cross_shot`` (another shot of the source: other clothes or set),
``cross_source`` (the same identity in another source), ``same_shot`` (another clip of the shot,
far enough in time and in a different context), ``same_clip`` (last resort: the clip's own frames,
the copy-paste HuMo avoids; recorded so stage 1 can exclude it).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from humo_data.identity.config import KINDS, IdentityConfig

RANK = {k: i for i, k in enumerate(KINDS)}


@dataclass(eq=False)
class Candidate:
    """A crop that may serve as a reference (from the features table)."""

    kind: str
    clip_id: str
    source_id: str
    time: float  # on the candidate's source timeline
    image: bytes
    box: list[float]
    yaw: float
    context: np.ndarray | None
    embedding: np.ndarray


@dataclass(eq=False)
class Target:
    """The clip that needs references: its main face's embedding, contexts and poses."""

    clip_id: str
    source_id: str
    embedding: np.ndarray
    contexts: list[np.ndarray]
    yaws: list[float]


def context_similarity(contexts: Sequence[np.ndarray], other: np.ndarray | None) -> float | None:
    """Highest dot product of ``other`` with the target's context descriptors (unit vectors); None
    when either side has none or they come from different context backends (lengths differ)."""
    if other is None:
        return None
    sims = [float(np.dot(c, other)) for c in contexts if c is not None and len(c) == len(other)]
    return max(sims) if sims else None


def similarity(distance: float, scale: float) -> float:
    """Identity similarity in [0, 1]: 1 - distance / (2 x the backend's same-person distance), so
    0.5 sits on the match threshold for every backend."""
    return float(min(1.0, max(0.0, 1.0 - distance / (2.0 * scale))))


def select(
    target: Target, candidates: Sequence[Candidate], cfg: IdentityConfig, max_distance: float, scale: float
) -> list[dict[str, Any]]:
    """Up to ``cfg.references_per_clip`` reference structs (triplet ``reference_images`` items)."""
    scored = []
    for c in candidates:
        if c.kind not in RANK:
            continue
        d = float(
            np.linalg.norm(np.asarray(c.embedding, np.float64) - np.asarray(target.embedding, np.float64))
        )
        if d > max_distance:
            continue
        ctx = context_similarity(target.contexts, c.context)
        if c.kind == "same_shot" and (ctx is None or ctx >= cfg.same_shot_max_context):
            continue
        pose = min(1.0, min((abs(c.yaw - y) for y in target.yaws), default=0.0) / 45.0)
        score = cfg.context_weight * (1.0 - (1.0 if ctx is None else ctx)) + cfg.pose_weight * pose
        scored.append((RANK[c.kind], -score, d, c.clip_id, c.time, c, ctx))
    scored.sort(key=lambda s: s[:5])
    picked: list[tuple] = []
    used_clips: set[str] = set()
    for kind in range(len(KINDS)):
        rest = [s for s in scored if s[0] == kind]
        while rest and len(picked) < cfg.references_per_clip:
            # one crop per source clip first, then a second from a clip already used
            i = next((i for i, s in enumerate(rest) if s[3] not in used_clips), 0)
            s = rest.pop(i)
            picked.append(s)
            used_clips.add(s[3])
    return [as_reference(s[5], similarity(s[2], scale), s[6]) for s in picked]


def as_reference(c: Candidate, sim: float | None, ctx: float | None) -> dict[str, Any]:
    return {
        "image": c.image,
        "source_clip_id": c.clip_id,
        "source_id": c.source_id,
        "time": float(c.time),
        "box": [float(v) for v in c.box],
        "similarity": sim,
        "context_similarity": ctx,
        "kind": c.kind,
    }


def merge(local: list[dict[str, Any]], cross: list[dict[str, Any]], k: int) -> list[dict[str, Any]]:
    """Local references (cross_shot / same_shot / same_clip, already ranked) and cross_source ones,
    best kind first, at most ``k``."""
    both = sorted([*local, *cross], key=lambda r: RANK.get(r["kind"], len(RANK)))  # stable: keeps ranking
    return both[:k]
