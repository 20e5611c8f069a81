"""The grouped steps of the identity pass, as functions of one group's Arrow table.

    features rows ──group by source_id──> source_pass ──> work rows: clip | identity | exemplar
    identity rows ──driver──> link_identities (index.py) ──> identity key -> dataset-wide id
    clip rows needing more + exemplar rows ──group by identity_id──> cross_pass ──> output rows

``source_pass`` clusters a source's tracks and picks every clip's local references (cross_shot,
same_shot, same_clip); it also emits one centroid row per source identity and a few exemplar crops.
``cross_pass`` sees one dataset-wide identity: its clips and the exemplars of its other sources.

Same footage (DESIGN: a re-upload, re-encode, crop or trim of the same recording is never "another
source" or "another shot"):

- an exemplar whose motion aligns with the target clip's (footage.py) shows the target's own
  footage: on the target's timeline (through the time shift) it is same_clip inside the clip's
  span, same_shot at least min_gap_seconds away (and only in a context that differs), else nothing;
  exemplars aligned with such an exemplar (two copies) count the same way;
- an exemplar of another source in the same set and clothes as the target (context similarity >=
  same_context) is the same recording seen at other moments: never cross_source, and as a
  same_shot candidate it fails the context rule;
- only the rest is cross_source: another recording of the person;
- within a source, another shot whose motion aligns with the target's shot (a replay) is the same
  footage too, never cross_shot; shots are aligned only when they look alike (same_context);
- a reference list never holds two crops of the same moment (times within same_moment_seconds on
  one timeline, copies mapped through their time shift).

The same functions serve the Ray job and the in-memory runner (job.py).
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import numpy as np
import pyarrow as pa

from humo_data.identity import references as refs
from humo_data.identity.cluster import centroid, cluster_tracks
from humo_data.identity.config import IdentityConfig
from humo_data.identity.context import context_similarity
from humo_data.identity.footage import (
    Aligner,
    Alignment,
    Series,
    align,
    mapped_kind,
    moment,
    series_from_clips,
)
from humo_data.schema import triplet_schema

CLIP, IDENTITY, EXEMPLAR = "clip", "identity", "exemplar"
OUTPUT_COLUMNS = (
    "clip_id",
    "_shard",
    "identity_id",
    "reference_images",
    "reference_kind",
    "reference_backend",
)


def reference_type() -> pa.DataType:
    return triplet_schema().field("reference_images").type


def work_schema() -> pa.Schema:
    """Rows between the grouped steps (one schema for all row types, so Ray can union them)."""
    return pa.schema([
        pa.field("row_type", pa.string()),
        pa.field("clip_id", pa.string()),
        pa.field("_shard", pa.string()),
        pa.field("source_id", pa.string()),
        pa.field("identity_key", pa.string()),
        pa.field("identity_id", pa.string()),
        pa.field("needs_cross", pa.bool_()),
        pa.field("embedding", pa.list_(pa.float32())),
        pa.field("contexts", pa.list_(pa.list_(pa.float32()))),
        pa.field("yaws", pa.list_(pa.float32())),
        pa.field("size", pa.int32()),
        pa.field("reference_backend", pa.string()),
        pa.field("reference_images", reference_type()),
        # same-footage check: the clip's span (targets), and motion around the clip or crop
        pa.field("start_time", pa.float64()),
        pa.field("end_time", pa.float64()),
        pa.field("motion_first", pa.int64()),
        pa.field("motion", pa.list_(pa.float32())),
    ])  # fmt: skip


def output_schema() -> pa.Schema:
    t = triplet_schema()
    return pa.schema([
        pa.field("clip_id", pa.string()),
        pa.field("_shard", pa.string()),
        pa.field("identity_id", t.field("identity_id").type),
        pa.field("reference_images", t.field("reference_images").type),
        pa.field("reference_kind", t.field("reference_kind").type),
        pa.field("reference_backend", t.field("reference_backend").type),
    ])  # fmt: skip


def distances(cfg: IdentityConfig, backend: str | None) -> tuple[float, float, float]:
    """(within-source, cross-source, similarity scale) distances for a face backend."""
    base = cfg.backend_distances.get(backend or "", cfg.backend_distances.get("dlib", (0.55, 0.5)))
    within = cfg.distance_threshold or base[0]
    cross = cfg.cross_source_distance or base[1]
    return within, cross, base[0]


def _backend_name(row: dict[str, Any]) -> str | None:
    face = row.get("backend")
    if not face:
        return None
    return f"{face}+{row.get('context_backend') or 'none'}"


def _context_backend(reference_backend: str | None) -> str | None:
    parts = (reference_backend or "").split("+", 1)
    return parts[1] if len(parts) == 2 and parts[1] != "none" else None


def _series_fields(series: Series | None) -> dict[str, Any]:
    if series is None or not len(series):
        return {"motion_first": None, "motion": None}
    return {"motion_first": series.first, "motion": series.values.tolist()}


def _series_of(row: dict[str, Any], step: float) -> Series:
    if row.get("motion") is None or row.get("motion_first") is None:
        return Series.empty(step)
    return Series(int(row["motion_first"]), np.asarray(row["motion"], np.float32), step)


def _vec(v: Any) -> np.ndarray | None:
    return None if v is None else np.asarray(v, np.float32)


# --- per source ---------------------------------------------------------------------------------


def source_pass(table: pa.Table, cfg: IdentityConfig) -> pa.Table:
    """One source's features rows -> work rows (clips with local references, identity centroids,
    exemplar crops)."""
    rows = sorted(table.to_pylist(), key=lambda r: (r.get("start_time") or 0.0, r["clip_id"]))
    if not rows:
        return work_schema().empty_table()
    source_id = rows[0]["source_id"]
    backend = next((r.get("backend") for r in rows if r.get("backend")), None)
    context_backend = next((r.get("context_backend") for r in rows if r.get("context_backend")), None)
    within, _, scale = distances(cfg, backend)
    shots = _ShotMotion(rows, cfg)

    # every kept track of the source, clustered into identities
    emb, clip_of, track_of = [], [], []
    for ci, r in enumerate(rows):
        for t, e in enumerate(r.get("track_embeddings") or []):
            if e is not None:
                emb.append(np.asarray(e, np.float32))
                clip_of.append(ci)
                track_of.append(t)
    labels = (
        cluster_tracks(np.stack(emb), np.asarray(clip_of), within, cfg.max_exact_tracks)
        if emb
        else np.zeros(0, int)
    )
    label = {(c, t): int(lab) for c, t, lab in zip(clip_of, track_of, labels, strict=True)}
    key = {lab: f"{source_id}/{lab}" for lab in set(label.values())}

    # candidate crops by identity
    by_label: dict[int, list[tuple[int, dict[str, Any]]]] = defaultdict(list)
    for ci, r in enumerate(rows):
        for crop in r.get("crops") or []:
            lab = label.get((ci, crop["track"]))
            if lab is not None:
                by_label[lab].append((ci, crop))

    pools = {lab: _LabelCrops(rows, crops, context_backend) for lab, crops in by_label.items()}
    out: list[dict[str, Any]] = []
    for ci, r in enumerate(rows):
        main = r.get("main_track")
        lab = label.get((ci, main)) if main is not None else None
        row = _clip_row(r, key[lab] if lab is not None else None)
        row.update(_series_fields(shots.around(r, r.get("start_time") or 0.0, r.get("end_time") or 0.0, ci)))
        if lab is not None and lab in pools:
            pool = pools[lab]
            kinds, moments = pool.kinds(ci, r, cfg, shots)
            local = refs.select(_target(r, main), pool.candidates, cfg, within, scale, kinds, moments)
            row["reference_images"] = [refs.clean(x) for x in local]
        # every identified clip looks for another recording (the best kind) when its identity has one
        row["needs_cross"] = lab is not None
        out.append(row)

    for lab in sorted(key):
        members = [i for i, x in enumerate(labels) if x == lab]
        out.append({
            "row_type": IDENTITY, "source_id": source_id, "identity_key": key[lab],
            "embedding": centroid(np.stack([emb[i] for i in members])).tolist(), "size": len(members),
            "reference_backend": _backend_name(rows[clip_of[members[0]]]),
        })  # fmt: skip
        out.extend(_exemplars(rows, by_label[lab], key[lab], cfg, shots))
    return pa.Table.from_pylist(out, schema=work_schema())


class _ShotMotion:
    """Motion series of every shot of one source (clips of unknown shot stand alone), and which
    shots of it are the same footage (a replay: shots that look alike and whose motion aligns)."""

    def __init__(self, rows: list[dict[str, Any]], cfg: IdentityConfig):
        self.cfg = cfg
        by_shot: dict[Any, list[dict[str, Any]]] = defaultdict(list)
        for ci, r in enumerate(rows):
            by_shot[self.key(ci, r)].append(r)
        self.series = {
            k: series_from_clips(
                [(r.get("motion"), r.get("start_time") or 0.0, r.get("end_time") or 0.0) for r in members],
                cfg,
            )
            for k, members in by_shot.items()
        }
        self._links: dict[tuple[Any, Any], Alignment | None] = {}

    @staticmethod
    def key(ci: int, row: dict[str, Any]) -> Any:
        shot = row.get("shot_index")
        return ("shot", int(shot)) if shot is not None else ("clip", ci)

    def around(self, row: dict[str, Any], t0: float, t1: float, ci: int | None = None) -> Series | None:
        key = self.key(ci if ci is not None else -1, row)
        series = self.series.get(key)
        if series is None:
            return None
        w = self.cfg.footage_window_seconds
        return series.window(t0 - w, t1 + w)

    def link(self, a: Any, b: Any) -> Alignment | None:
        """Shot ``b`` replays shot ``a`` (time in a = time in b + offset), or None."""
        if (a, b) not in self._links:
            found = align(self.series[a], self.series[b], self.cfg)
            self._links[(a, b)] = found
            self._links[(b, a)] = (
                None
                if found is None
                else Alignment(
                    -found.offset, found.correlation, found.evidence, found.overlap_seconds
                )  # fmt: skip
            )
        return self._links[(a, b)]


def _clip_row(r: dict[str, Any], identity_key: str | None) -> dict[str, Any]:
    return {
        "row_type": CLIP, "clip_id": r["clip_id"], "_shard": r.get("_shard"), "source_id": r["source_id"],
        "start_time": r.get("start_time"), "end_time": r.get("end_time"),
        "identity_key": identity_key, "needs_cross": False, "reference_images": [],
        "embedding": r.get("main_embedding"), "reference_backend": _backend_name(r),
        "contexts": [c["context"] for c in r.get("crops") or [] if c["track"] == r.get("main_track")],
        "yaws": [c["yaw"] for c in r.get("crops") or [] if c["track"] == r.get("main_track")],
    }  # fmt: skip


def _target(r: dict[str, Any], main: int) -> refs.Target:
    crops = [c for c in r.get("crops") or [] if c["track"] == main]
    emb = r.get("main_embedding") or r["track_embeddings"][main]
    return refs.Target(
        clip_id=r["clip_id"],
        source_id=r["source_id"],
        embedding=np.asarray(emb, np.float32),
        contexts=[_vec(c["context"]) for c in crops if c.get("context") is not None],
        yaws=[float(c["yaw"] or 0.0) for c in crops],
    )


class _LabelCrops:
    """Every crop of one source identity, with where it comes from (clip, shot, time span)."""

    def __init__(self, rows: list[dict[str, Any]], crops: list[tuple[int, dict[str, Any]]], context_backend):
        self.candidates = refs.CandidateSet(
            [_as_candidate(rows[ci], crop, "same_clip") for ci, crop in crops], context_backend
        )
        self.clip = np.array([ci for ci, _ in crops], np.int64)
        shots = [rows[ci].get("shot_index") for ci, _ in crops]
        self.shot = np.array([-1 if s is None else s for s in shots], np.int64)
        self.shot_key = [_ShotMotion.key(ci, rows[ci]) for ci, _ in crops]
        self.start = np.array([rows[ci].get("start_time") or 0.0 for ci, _ in crops], np.float64)
        self.end = np.array([rows[ci].get("end_time") or 0.0 for ci, _ in crops], np.float64)
        self.source_id = rows[0]["source_id"] if rows else ""
        self._looks: dict[tuple[Any, Any], bool] = {}

    def kinds(self, ci: int, row: dict[str, Any], cfg: IdentityConfig, shots: _ShotMotion):
        """(kind rank of each crop as a reference for clip ``ci``, -1: not a candidate; the moment
        each shows). Its own frames are same_clip, another shot is cross_shot unless it replays the
        clip's shot (then its moments map onto the clip's timeline), the same shot counts
        (same_shot) only at least min_gap_seconds away. Unknown shots count as the same shot."""
        shot = row.get("shot_index")
        start, end = row.get("start_time") or 0.0, row.get("end_time") or 0.0
        gap = np.maximum(0.0, np.maximum(self.start - end, start - self.end))
        kind = np.full(len(self.clip), -1, np.int64)
        kind[gap >= cfg.min_gap_seconds] = refs.RANK["same_shot"]
        still = cfg.footage_still_motion
        moments: list[refs.Moment] = [
            moment(self.source_id, c.time, shots.series.get(self.shot_key[i]), still)
            for i, c in enumerate(self.candidates.items)
        ]
        if shot is not None:
            other = (self.shot >= 0) & (self.shot != shot)
            kind[other] = refs.RANK["cross_shot"]
            mine = _ShotMotion.key(ci, row)
            for other_key in {self.shot_key[i] for i in np.flatnonzero(other)}:
                if not self._look_alike(mine, other_key, cfg):
                    continue
                found = shots.link(mine, other_key)
                if found is None:
                    continue
                for i in (i for i in np.flatnonzero(other) if self.shot_key[i] == other_key):
                    t = self.candidates.items[i].time + found.offset
                    k = mapped_kind(t, start, end, cfg.min_gap_seconds, cfg.same_moment_seconds)
                    kind[i] = -1 if k is None else refs.RANK[k]
                    moments[i] = (self.source_id, t)
        kind[self.clip == ci] = refs.RANK["same_clip"]
        return kind, moments

    def _look_alike(self, a: Any, b: Any, cfg: IdentityConfig) -> bool:
        """Two shots in the same set and clothes (some crops of each at >= same_context): only these
        can be a replay, so only these pay for a motion alignment."""
        if (a, b) not in self._looks:
            ia = [i for i, k in enumerate(self.shot_key) if k == a]
            ib = [i for i, k in enumerate(self.shot_key) if k == b]
            c = self.candidates
            alike = False
            if ia and ib and c.context_dim:
                sim = context_similarity(c.context_backend, c.contexts[ia], c.contexts[ib])
                alike = bool(
                    np.nanmax(np.where(np.isnan(sim), -np.inf, sim)) >= cfg.context_limit(c.context_backend)
                )
            self._looks[(a, b)] = self._looks[(b, a)] = alike
        return self._looks[(a, b)]


def _as_candidate(r: dict[str, Any], crop: dict[str, Any], kind: str) -> refs.Candidate:
    return refs.Candidate(
        kind=kind,
        clip_id=r["clip_id"],
        source_id=r["source_id"],
        time=float(r.get("start_time") or 0.0) + float(crop["time"] or 0.0),
        image=crop["image"],
        box=list(crop["box"] or []),
        yaw=float(crop["yaw"] or 0.0),
        context=_vec(crop.get("context")),
        # the crop's own embedding (image by image), else its track's mean
        embedding=np.asarray(crop.get("embedding") or r["track_embeddings"][crop["track"]], np.float32),
    )


def _exemplars(
    rows: list[dict], crops: list[tuple[int, dict]], key: str, cfg: IdentityConfig, shots: _ShotMotion
) -> list[dict]:
    """A few crops of one source identity for the dataset-wide pool: near-frontal first, from
    distinct clips."""
    ranked = sorted(crops, key=lambda x: (abs(x[1]["yaw"] or 0.0), rows[x[0]]["clip_id"], x[1]["time"]))
    chosen: list[tuple[int, dict]] = []
    for x in ranked:
        if len(chosen) < cfg.exemplars_per_source and all(x[0] != c[0] for c in chosen):
            chosen.append(x)
    for x in ranked:
        if len(chosen) < cfg.exemplars_per_source and all(x is not c for c in chosen):
            chosen.append(x)
    out = []
    for ci, crop in chosen:
        r = rows[ci]
        cand = _as_candidate(r, crop, "cross_source")
        out.append({
            "row_type": EXEMPLAR, "clip_id": r["clip_id"], "source_id": r["source_id"], "identity_key": key,
            "embedding": cand.embedding.tolist(), "contexts": [crop.get("context")], "yaws": [cand.yaw],
            "reference_backend": _backend_name(r), "reference_images": [refs.as_reference(cand, None, None)],
            **_series_fields(shots.around(r, cand.time, cand.time, ci)),
        })  # fmt: skip
    return out


# --- per dataset-wide identity ------------------------------------------------------------------


def cross_pass(table: pa.Table, cfg: IdentityConfig) -> pa.Table:
    """One dataset-wide identity's clips and exemplars -> output rows."""
    rows = table.to_pylist()
    clips = sorted((r for r in rows if r["row_type"] == CLIP), key=lambda r: r["clip_id"])
    exemplars = sorted((r for r in rows if r["row_type"] == EXEMPLAR), key=_exemplar_order)
    context_backend = next(
        (b for r in rows if (b := _context_backend(r.get("reference_backend")))), None
    )  # fmt: skip
    pool = _Pool(_pool(exemplars, cfg.pool_size, cfg, context_backend), cfg, context_backend)
    out = []
    for r in clips:
        backend = (r.get("reference_backend") or "").split("+")[0] or None
        within, _, scale = distances(cfg, backend)
        target = refs.Target(
            clip_id=r["clip_id"],
            source_id=r["source_id"],
            embedding=np.asarray(r["embedding"], np.float32),
            contexts=[_vec(c) for c in r.get("contexts") or [] if c is not None],
            yaws=[float(y) for y in r.get("yaws") or []],
        )
        ctx = pool.candidates.context_similarity(target.contexts)
        kinds, moments = pool.kinds(r, ctx)
        cross = refs.select(target, pool.candidates, cfg, within, scale, kinds, moments, ctx)
        r["reference_images"] = refs.merge(
            r.get("reference_images") or [], cross, cfg.references_per_clip, cfg.same_moment_seconds
        )
        out.append(output_row(r))
    return pa.Table.from_pylist(out, schema=output_schema())


class _Pool:
    """The pooled exemplars of one identity: which of them are copies showing the same moments
    (their motion aligns: a time shift), which are one recording (copies, or the same set and
    clothes: context >= same_context; joined transitively), and their kind and moment per target."""

    def __init__(self, exemplars: list[dict[str, Any]], cfg: IdentityConfig, context_backend: str | None):
        self.cfg = cfg
        self.items = exemplars
        self.candidates = refs.CandidateSet([_pooled(e) for e in exemplars], context_backend)
        self.limit = cfg.context_limit(context_backend)
        self.series = [_series_of(e, cfg.footage_step_seconds) for e in exemplars]
        self.sources = np.array([e["source_id"] for e in exemplars], object)
        # copies among the pool: exemplars of other sources whose motion aligns
        self.links: dict[int, list[tuple[int, float]]] = defaultdict(list)  # i -> [(j, time_i - time_j)]
        c = self.candidates
        self.aligner = Aligner(self.series, cfg)
        self.recording = list(range(len(c)))  # union-find: exemplars of one recording
        sim = (
            context_similarity(context_backend, c.contexts, c.contexts)
            if len(c) > 1 and c.context_dim
            else np.full((len(c), len(c)), np.nan)
        )
        for i in range(len(c)):
            for j in range(i + 1, len(c)):
                if sim[i, j] >= self.limit:
                    self._join(i, j)
            others = [j for j in range(i + 1, len(c)) if self.sources[i] != self.sources[j]]
            for j, found in enumerate(self.aligner.align(self.series[i], others) if others else []):
                if found is not None:  # time_i = time_j + offset
                    self.links[i].append((j, found.offset))
                    self.links[j].append((i, -found.offset))
                    self._join(i, j)
        # moments without a target: each group of copies on its first member's timeline
        self.base: list[refs.Moment] = [
            moment(str(self.sources[i]), c.items[i].time, self.series[i], cfg.footage_still_motion)
            for i in range(len(c))
        ]
        grouped: set[int] = set()
        for root in range(len(c)):
            if root in grouped:
                continue
            for j, shift in self._reach({root: 0.0}).items():
                grouped.add(j)
                if j != root:
                    self.base[j] = (str(self.sources[root]), c.items[j].time + shift)

    def _join(self, i: int, j: int) -> None:
        self.recording[self._root(j)] = self._root(i)

    def _root(self, i: int) -> int:
        while self.recording[i] != i:
            self.recording[i] = self.recording[self.recording[i]]
            i = self.recording[i]
        return i

    def _reach(self, start: dict[int, float]) -> dict[int, float]:
        """Exemplars reachable through copy links from ``start`` (index -> shift onto start's timeline)."""
        shift = dict(start)
        todo = list(start)
        while todo:
            i = todo.pop()
            for j, off in self.links[i]:  # time_i = time_j + off
                if j not in shift:
                    shift[j] = shift[i] + off
                    todo.append(j)
        return shift

    def kinds(self, clip: dict[str, Any], ctx: np.ndarray) -> tuple[np.ndarray, list[refs.Moment]]:
        """Per exemplar, its kind rank for this clip (-1: none) and the moment it shows."""
        cfg, c = self.cfg, self.candidates
        kind = np.full(len(c), refs.RANK["cross_source"], np.int64)
        kind[self.sources == clip["source_id"]] = -1  # the clip's own source gave its local references
        moments = list(self.base)
        target = _series_of(clip, cfg.footage_step_seconds)
        start, end = clip.get("start_time") or 0.0, clip.get("end_time") or 0.0
        # time on the clip's timeline = exemplar's + offset, for exemplars showing the clip's moments
        found = self.aligner.align(target, [int(i) for i in np.flatnonzero(kind >= 0)])
        aligned = {i: f.offset for i, f in enumerate(found) if f is not None}
        for i, shift in self._reach(aligned).items():
            if self.sources[i] == clip["source_id"]:
                continue
            t = c.items[i].time + shift
            k = mapped_kind(t, start, end, cfg.min_gap_seconds, cfg.same_moment_seconds)
            kind[i] = -1 if k is None else refs.RANK[k]
            moments[i] = (clip["source_id"], t)
        # the same recording at moments not aligned: exemplars in the target's set and clothes, and
        # every exemplar that looks like one of those or like a copy the motion found
        same_look = ~np.isnan(ctx) & (np.nan_to_num(ctx) >= self.limit)
        recordings = {self._root(int(i)) for i in np.flatnonzero(same_look)} | {
            self._root(i) for i in aligned
        }
        same = np.array([self._root(i) in recordings for i in range(len(c))], bool)
        kind[same & (kind == refs.RANK["cross_source"])] = -1
        return kind, moments


def _pooled(e: dict[str, Any]) -> refs.Candidate:
    ref = e["reference_images"][0]
    return refs.Candidate(
        kind="cross_source",
        clip_id=ref["source_clip_id"],
        source_id=ref["source_id"],
        time=ref["time"],
        image=ref["image"],
        box=ref["box"],
        yaw=float(e["yaws"][0] or 0.0),
        context=_vec((e.get("contexts") or [None])[0]),
        embedding=np.asarray(e["embedding"], np.float32),
    )


def _exemplar_order(r: dict[str, Any]) -> tuple:
    return (r["source_id"], abs((r.get("yaws") or [0.0])[0] or 0.0), r["clip_id"])


def _pool(
    exemplars: list[dict[str, Any]], size: int, cfg: IdentityConfig, context_backend: str | None
) -> list[dict[str, Any]]:
    """Exemplars round-robin over sources (every source offers one before any offers a second), at
    most ``size`` plus one source's share: a clip skips its own source's crops and still sees ``size``.
    An exemplar in the same set and clothes as one already pooled from another source (a copy of a
    recording the pool holds) leaves room for other recordings, unless nothing else is left."""
    by_source: dict[str, list[dict]] = defaultdict(list)
    for e in exemplars:
        by_source[e["source_id"]].append(e)
    queues = [by_source[s] for s in sorted(by_source)]
    share = max((len(q) for q in queues), default=0)
    order = [q[d] for d in range(share) for q in queues if len(q) > d]
    limit = cfg.context_limit(context_backend)
    kept: list[dict[str, Any]] = []
    later: list[dict[str, Any]] = []
    for e in order:
        if len(kept) >= size + share:
            break
        ctx = _vec((e.get("contexts") or [None])[0])
        others = [k for k in kept if k["source_id"] != e["source_id"]]
        looks = [_vec((k.get("contexts") or [None])[0]) for k in others]
        looks = [v for v in looks if v is not None and ctx is not None and len(v) == len(ctx)]
        if (
            looks
            and np.nanmax(
                np.nan_to_num(context_similarity(context_backend, ctx[None], np.stack(looks)), nan=-1.0)
            )
            >= limit
        ):
            later.append(e)
        else:
            kept.append(e)
    return kept + later[: max(0, size + share - len(kept))]


def output_row(r: dict[str, Any]) -> dict[str, Any]:
    images = r.get("reference_images") or []
    return {
        "clip_id": r["clip_id"],
        "_shard": r.get("_shard"),
        "identity_id": r.get("identity_id"),
        "reference_images": images,
        "reference_kind": images[0]["kind"] if images else None,
        "reference_backend": r.get("reference_backend"),
    }
