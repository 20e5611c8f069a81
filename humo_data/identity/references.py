"""Choose a clip's reference crops among candidates of its identity: best kind first, then the most
different context and pose, one crop per source clip before a second one from the same clip, and
never two crops of the same moment (two copies of one frame; ``moments``).

Kinds (``KINDS``, best first; identity/config.py says what each means): ``cross_source`` (another
recording of the person), ``cross_shot`` (another shot of the source), ``same_shot`` (the same shot
or the same footage elsewhere, far enough in time and in a context that differs), ``same_clip``
(last resort: the clip's own moments, the copy-paste HuMo avoids; recorded so stage 1 excludes it).
Which kind a candidate is for a target is decided by the caller (passes.py, with footage.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from humo_data.identity.config import KINDS, IdentityConfig
from humo_data.identity.context import context_similarity

RANK = {k: i for i, k in enumerate(KINDS)}  # position in KINDS: 0 = best (KIND_RANK is the reverse)
Moment = tuple[str, float]  # (timeline: a source id, seconds on it)


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


def similarity(distance: float, scale: float) -> float:
    """Identity similarity in [0, 1]: 1 - distance / (2 x the backend's same-person distance), so
    0.5 sits on the match threshold for every backend."""
    return float(min(1.0, max(0.0, 1.0 - distance / (2.0 * scale))))


class CandidateSet:
    """Candidates of one identity as arrays, so a clip's references cost a few vector operations
    (a long source has thousands of crops per person). ``context_backend`` names how the context
    descriptors compare (faces/context.py)."""

    def __init__(self, candidates: Sequence[Candidate], context_backend: str | None = None):
        self.items = list(candidates)
        self.context_backend = context_backend
        n = len(self.items)
        self.kind = np.array([RANK.get(c.kind, -1) for c in self.items], np.int64)
        self.embeddings = (
            np.stack([np.asarray(c.embedding, np.float32) for c in self.items]) if n else np.zeros((0, 1))
        )
        self.yaws = np.array([c.yaw for c in self.items], np.float64)
        self.times = np.array([c.time for c in self.items], np.float64)
        clip_ids = [c.clip_id for c in self.items]
        rank = {cid: i for i, cid in enumerate(sorted(set(clip_ids)))}
        self.clip_rank = np.array([rank[c] for c in clip_ids], np.int64)
        lengths = [len(c.context) for c in self.items if c.context is not None]
        self.context_dim = max(set(lengths), key=lengths.count) if lengths else 0
        self.contexts = np.full((n, max(1, self.context_dim)), np.nan, np.float32)
        for i, c in enumerate(self.items):
            if c.context is not None and len(c.context) == self.context_dim:
                self.contexts[i] = c.context

    def __len__(self) -> int:
        return len(self.items)

    def context_similarity(self, contexts: Sequence[np.ndarray]) -> np.ndarray:
        """Per candidate: the highest similarity with any of the target's descriptors (NaN when
        unknown or not comparable)."""
        own = [c for c in contexts if c is not None and len(c) == self.context_dim]
        if not own or not self.context_dim or not len(self):
            return np.full(len(self), np.nan)
        sim = context_similarity(self.context_backend, self.contexts, np.stack(own))
        sim = np.where(np.isnan(sim), -np.inf, sim).max(1)
        return np.where(np.isfinite(sim), sim, np.nan)


def select(
    target: Target,
    candidates: CandidateSet,
    cfg: IdentityConfig,
    max_distance: float,
    scale: float,
    kinds: np.ndarray | None = None,
    moments: Sequence[Moment] | None = None,
    ctx: np.ndarray | None = None,
) -> list[dict[str, Any]]:
    """Up to ``cfg.references_per_clip`` reference structs (triplet ``reference_images`` items, plus
    ``_moment``, which ``merge``/``clean`` drop). ``kinds``: per candidate, its kind rank for this
    target (-1 = not a candidate); default: the candidates' own kinds. ``moments``: per candidate,
    the moment it shows (default: its own source and time); ``ctx``: context similarities when the
    caller computed them already."""
    if not len(candidates):
        return []
    kind = candidates.kind if kinds is None else kinds
    d = np.linalg.norm(candidates.embeddings - np.asarray(target.embedding, np.float32), axis=1)
    if ctx is None:
        ctx = candidates.context_similarity(target.contexts)
    ok = (kind >= 0) & (d <= max_distance)
    same_shot = kind == RANK["same_shot"]
    ok &= ~same_shot | (~np.isnan(ctx) & (ctx < cfg.same_shot_limit(candidates.context_backend)))
    if not ok.any():
        return []
    if target.yaws:
        pose = np.min(np.abs(candidates.yaws[:, None] - np.asarray(target.yaws)[None, :]), axis=1) / 45.0
        pose = np.minimum(pose, 1.0)
    else:
        pose = np.zeros(len(candidates))
    score = cfg.context_weight * (1.0 - np.nan_to_num(ctx, nan=1.0)) + cfg.pose_weight * pose
    idx = np.flatnonzero(ok)
    # best kind, then highest score, then nearest, then clip id and time (deterministic)
    order = idx[
        np.lexsort((candidates.times[idx], candidates.clip_rank[idx], d[idx], -score[idx], kind[idx]))
    ]
    moment = list(moments) if moments is not None else [(c.source_id, c.time) for c in candidates.items]
    picked: list[int] = []
    seen: list[Moment] = []
    used_clips: set[int] = set()
    for k in range(len(KINDS)):
        rest = [int(i) for i in order if kind[i] == k]
        while rest and len(picked) < cfg.references_per_clip:
            # one crop per source clip first, then a second from a clip already used
            j = next((j for j, i in enumerate(rest) if candidates.clip_rank[i] not in used_clips), 0)
            i = rest.pop(j)
            if same_moment(moment[i], seen, cfg.same_moment_seconds):
                continue
            picked.append(i)
            seen.append(moment[i])
            used_clips.add(int(candidates.clip_rank[i]))
    out = []
    for i in picked:
        ref = as_reference(
            candidates.items[i],
            similarity(float(d[i]), scale),
            None if np.isnan(ctx[i]) else float(ctx[i]),
            KINDS[int(kind[i])],
        )
        ref["_moment"] = moment[i]
        out.append(ref)
    return out


def same_moment(m: Moment, seen: Sequence[Moment], tolerance: float) -> bool:
    """``m`` shows a moment already in ``seen`` (same timeline, times within ``tolerance``)."""
    return any(m[0] == s[0] and abs(m[1] - s[1]) <= tolerance for s in seen)


def as_reference(
    c: Candidate, sim: float | None, ctx: float | None, kind: str | None = None
) -> dict[str, Any]:
    return {
        "image": c.image,
        "source_clip_id": c.clip_id,
        "source_id": c.source_id,
        "time": float(c.time),
        "box": [float(v) for v in c.box],
        "similarity": sim,
        "context_similarity": ctx,
        "kind": kind or c.kind,
    }


def merge(
    local: list[dict[str, Any]], cross: list[dict[str, Any]], k: int, tolerance: float = 0.0
) -> list[dict[str, Any]]:
    """Local references (from the target's source, already ranked) and the cross step's ones
    (cross_source, or a copy's crops as same_shot / same_clip), best kind first, at most ``k``, one
    crop per moment (a local reference shows its own source and time)."""
    both = sorted([*local, *cross], key=lambda r: RANK.get(r["kind"], len(RANK)))  # stable: keeps ranking
    out: list[dict[str, Any]] = []
    seen: list[Moment] = []
    for r in both:
        m = r.get("_moment") or (r["source_id"], float(r["time"]))
        if len(out) < k and not same_moment(m, seen, tolerance):
            out.append(clean(r))
            seen.append(m)
    return out


def clean(ref: dict[str, Any]) -> dict[str, Any]:
    """A reference struct without the working keys."""
    return {k: v for k, v in ref.items() if not k.startswith("_")}
