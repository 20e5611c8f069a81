"""The grouped steps of the identity pass, as functions of one group's Arrow table.

    features rows ──group by source_id──> source_pass ──> work rows: clip | identity | exemplar
    identity rows ──driver──> link_identities (index.py) ──> identity key -> dataset-wide id
    clip rows needing more + exemplar rows ──group by identity_id──> cross_pass ──> output rows

``source_pass`` clusters a source's tracks and picks every clip's local references (cross_shot,
same_shot, same_clip); it also emits one centroid row per source identity and a few exemplar crops.
``cross_pass`` sees one dataset-wide identity: the clips still short of K references better than
same_shot, and the exemplars of the identity's other sources (cross_source).
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
    within, _, scale = distances(cfg, backend)

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

    pools = {lab: _LabelCrops(rows, crops) for lab, crops in by_label.items()}
    out: list[dict[str, Any]] = []
    for ci, r in enumerate(rows):
        main = r.get("main_track")
        lab = label.get((ci, main)) if main is not None else None
        row = _clip_row(r, key[lab] if lab is not None else None)
        if lab is not None and lab in pools:
            pool = pools[lab]
            local = refs.select(_target(r, main), pool.candidates, cfg, within, scale, pool.kinds(ci, r, cfg))
            row["reference_images"] = local
            row["needs_cross"] = sum(x["kind"] == "cross_shot" for x in local) < cfg.references_per_clip
        elif lab is not None:
            row["needs_cross"] = True
        out.append(row)

    for lab in sorted(key):
        members = [i for i, x in enumerate(labels) if x == lab]
        out.append({
            "row_type": IDENTITY, "source_id": source_id, "identity_key": key[lab],
            "embedding": centroid(np.stack([emb[i] for i in members])).tolist(), "size": len(members),
            "reference_backend": _backend_name(rows[clip_of[members[0]]]),
        })  # fmt: skip
        out.extend(_exemplars(rows, by_label[lab], key[lab], cfg))
    return pa.Table.from_pylist(out, schema=work_schema())


def _clip_row(r: dict[str, Any], identity_key: str | None) -> dict[str, Any]:
    return {
        "row_type": CLIP, "clip_id": r["clip_id"], "_shard": r.get("_shard"), "source_id": r["source_id"],
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

    def __init__(self, rows: list[dict[str, Any]], crops: list[tuple[int, dict[str, Any]]]):
        self.candidates = refs.CandidateSet(
            [_as_candidate(rows[ci], crop, "same_clip") for ci, crop in crops]
        )
        self.clip = np.array([ci for ci, _ in crops], np.int64)
        shots = [rows[ci].get("shot_index") for ci, _ in crops]
        self.shot = np.array([-1 if s is None else s for s in shots], np.int64)
        self.start = np.array([rows[ci].get("start_time") or 0.0 for ci, _ in crops], np.float64)
        self.end = np.array([rows[ci].get("end_time") or 0.0 for ci, _ in crops], np.float64)

    def kinds(self, ci: int, row: dict[str, Any], cfg: IdentityConfig) -> np.ndarray:
        """Kind rank of each crop as a reference for clip ``ci`` (-1: not a candidate): its own
        frames are same_clip, another shot is cross_shot, the same shot counts (same_shot) only at
        least min_gap_seconds away. Unknown shots count as the same shot."""
        shot = row.get("shot_index")
        start, end = row.get("start_time") or 0.0, row.get("end_time") or 0.0
        gap = np.maximum(0.0, np.maximum(self.start - end, start - self.end))
        kind = np.full(len(self.clip), -1, np.int64)
        kind[gap >= cfg.min_gap_seconds] = refs.RANK["same_shot"]
        if shot is not None:
            kind[(self.shot >= 0) & (self.shot != shot)] = refs.RANK["cross_shot"]
        kind[self.clip == ci] = refs.RANK["same_clip"]
        return kind


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


def _exemplars(rows: list[dict], crops: list[tuple[int, dict]], key: str, cfg: IdentityConfig) -> list[dict]:
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
        })  # fmt: skip
    return out


# --- per dataset-wide identity ------------------------------------------------------------------


def cross_pass(table: pa.Table, cfg: IdentityConfig) -> pa.Table:
    """One dataset-wide identity's clips (short of references) and exemplars -> output rows."""
    rows = table.to_pylist()
    clips = sorted((r for r in rows if r["row_type"] == CLIP), key=lambda r: r["clip_id"])
    pool = _pool(sorted((r for r in rows if r["row_type"] == EXEMPLAR), key=_exemplar_order), cfg.pool_size)
    cands = refs.CandidateSet([_pooled(e) for e in pool])
    pool_sources = np.array([e["source_id"] for e in pool], object)
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
        kinds = np.where(pool_sources == r["source_id"], -1, refs.RANK["cross_source"])
        cross = refs.select(target, cands, cfg, within, scale, kinds)
        r["reference_images"] = refs.merge(r.get("reference_images") or [], cross, cfg.references_per_clip)
        out.append(output_row(r))
    return pa.Table.from_pylist(out, schema=output_schema())


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


def _pool(exemplars: list[dict[str, Any]], size: int) -> list[dict[str, Any]]:
    """Exemplars round-robin over sources (every source offers one before any offers a second), at
    most ``size`` plus one source's share: a clip skips its own source's crops and still sees ``size``."""
    by_source: dict[str, list[dict]] = defaultdict(list)
    for e in exemplars:
        by_source[e["source_id"]].append(e)
    queues = [by_source[s] for s in sorted(by_source)]
    share = max((len(q) for q in queues), default=0)
    order = [q[d] for d in range(share) for q in queues if len(q) > d]
    return order[: size + share]


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
