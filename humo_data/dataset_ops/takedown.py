"""``humo-data remove OUT --source ID|URI`` / ``--identity ID``: takedown requests.

- ``--source``: every row of the source (by source_id, source_uri, or a local path spelled as it
  was given to curate: relative to the working directory, absolute or ``file://``), its feature
  rows, and every reference image another row took from it (its pixels are the source's content).
  A value that matches nothing fails naming the sources spelled like it.
- ``--identity``: every clip that shows the person, and every reference image cut from such a
  clip. A clip shows the person when its main face carries the ``identity_id``, or when any face
  track in it (features/faces: the people seen beside the main one, and clips that left the
  triplets earlier) lies within the removal distance of the person's centroid (the mean main-face
  embedding of their rows). Face embeddings are biometric data: the feature rows of those clips go
  too, so a later identity pass cannot bring the crops back.

Affected triplet shards are rewritten (next ``-g<n>`` file under the same key) with their feature
companions, references re-ranked and the stage-1/2 flags recomputed; removed rows become rejects
(stage ``takedown``, reason ``source_removed`` / ``identity_removed``, detail naming the request,
not the person). One commit; the manifest's ``phases.takedown.requests`` lists every request. The
ledger keeps the source as processed, so rerunning curate on the same input does not bring it
back. Exports made earlier (humo-data export) are outside the dataset: remove from them too.
"""

from __future__ import annotations

import difflib
import hashlib
import os
from collections import defaultdict
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from humo_data.dataset_ops.card import refresh_documents
from humo_data.dataset_ops.common import (
    curate_config,
    dataset_op,
    maybe_ray,
    merge_pending,
    resolve,
    run_tasks,
    share,
)
from humo_data.dataset_ops.config import DatasetOpsConfig
from humo_data.identity.config import KIND_RANK
from humo_data.io.dataset import Dataset, open_dataset
from humo_data.io.manifest import utc_now
from humo_data.io.shards import (
    companions,
    drop_record,
    feature_tables,
    filter_feature_shard,
    gen_path,
    next_gen,
    read_triplets,
    reject_rows,
    rejects_record,
    triplet_record,
    write_feature_shard,
)
from humo_data.io.sources import is_local, local_path
from humo_data.io.store import Store

STAGE = "takedown"
FACES = "features/faces"


class NothingToRemove(ValueError):
    """The request matches nothing in the dataset; the message says what was looked for."""


# --- who is shown where -------------------------------------------------------------------------


def identity_rows(ds: Dataset, identity: str) -> set[str]:
    out: set[str] = set()
    for entry in ds.shards("triplets"):
        pf = pq.ParquetFile(ds.store.open_read(entry["path"]))
        if "identity_id" not in pf.schema_arrow.names:
            continue
        t = pf.read(columns=["clip_id", "identity_id"])
        out.update(
            c for c, i in zip(t.column(0).to_pylist(), t.column(1).to_pylist(), strict=True) if i == identity
        )
    return out


def _source_keys(value: str) -> set[str]:
    """The spellings a ``--source`` value may have in the dataset: as typed, and for a local path
    the absolute path curate recorded (``file://`` stripped, relative to the working directory, as
    ``curate --input`` resolved it) and its symlink-free form."""
    keys = {value}
    if is_local(value):
        path = local_path(value)
        keys |= {os.path.abspath(path), os.path.realpath(path)}
    return keys


def _uri_keys(uri: str) -> set[str]:
    """The spellings of a recorded source URI (a local one also without ``file://``)."""
    return {uri, os.path.abspath(local_path(uri))} if is_local(uri) else {uri}


def known_sources(ds: Dataset) -> dict[str, str]:
    """Every source of the dataset, URI -> source_id: the ledger (sources whose clips were all
    rejected too) and the triplet rows."""
    out = {uri: str(e.get("source_id") or "") for uri, e in ds.state.finished.items()}
    for entry in ds.shards("triplets"):
        t = pq.read_table(ds.store.open_read(entry["path"]), columns=["source_id", "source_uri"])
        for s, u in zip(t.column(0).to_pylist(), t.column(1).to_pylist(), strict=True):
            if u:
                out[u] = s or out.get(u, "")
    return out


def source_ids(ds: Dataset, value: str) -> set[str]:
    """Source ids a ``--source`` value names: a source_id, or a source URI or local path written
    as curate's input named it (relative, absolute or ``file://``)."""
    keys = _source_keys(value)
    out: set[str] = set()
    for uri, sid in known_sources(ds).items():
        if sid and (value == sid or keys & _uri_keys(uri)):
            out.add(sid)
    return out


def close_sources(ds: Dataset, value: str, n: int = 3, cutoff: float = 0.6) -> list[str]:
    """Source URIs spelled like ``value``, best first: by file name (paths share long prefixes,
    which would make every source look close), by whole URI when nearly equal, or by source_id."""
    typed = sorted(_source_keys(value))

    def ratio(a: str, b: str) -> float:
        return difflib.SequenceMatcher(None, a, b).ratio()

    scores: dict[str, float] = {}
    for uri, sid in known_sources(ds).items():
        name = uri.rstrip("/").rsplit("/", 1)[-1]
        whole = max(ratio(t, uri) for t in typed)
        score = max(
            max(ratio(t.rstrip("/").rsplit("/", 1)[-1], name) for t in typed),
            whole if whole >= 0.9 else 0.0,
            ratio(value, sid) if sid else 0.0,
        )
        if score >= cutoff:
            scores[uri] = score
    return sorted(scores, key=lambda u: -scores[u])[:n]


def no_such_source(ds: Dataset, value: str) -> NothingToRemove:
    """The error for a ``--source`` that matches nothing, naming the sources spelled like it."""
    looked = sorted(_source_keys(value) - {value})
    msg = f"no source with id or URI {value!r} in this dataset" + (
        f" (looked for {', '.join(looked)})" if looked else ""
    )
    close = close_sources(ds, value)
    if close:
        msg += "; close matches: " + ", ".join(close)
    else:
        known = sorted(known_sources(ds))
        msg += (
            f"; its {len(known)} source(s) include: " + ", ".join(known[:5])
            if known
            else "; it has no sources"
        )
    return NothingToRemove(msg)


def centroids(ds: Dataset, clip_ids: set[str]) -> dict[str, np.ndarray]:
    """Face backend -> mean main-face embedding of ``clip_ids`` (unit norm for unit-norm backends)."""
    vectors: dict[str, list[np.ndarray]] = defaultdict(list)
    for entry in ds.shards(FACES):
        t = pq.read_table(ds.store.open_read(entry["path"]), columns=["clip_id", "backend", "main_embedding"])
        for cid, backend, emb in zip(*(t.column(i).to_pylist() for i in range(3)), strict=True):
            if cid in clip_ids and emb is not None:
                vectors[backend or ""].append(np.asarray(emb, np.float32))
    out = {}
    for backend, vs in vectors.items():
        m = np.stack(vs)
        c = m.mean(0)
        if np.allclose(np.linalg.norm(m, axis=1), 1.0, atol=1e-3):
            c = c / max(float(np.linalg.norm(c)), 1e-12)
        out[backend] = c
    return out


def _faces_task(task: dict[str, Any]) -> dict[str, Any]:
    """Clips of one features/faces shard with a face track near a centroid (runs on a worker)."""
    store = Store.from_spec(task["store"])
    t = pq.read_table(store.open_read(task["path"]), columns=["clip_id", "backend", "track_embeddings"])
    cents = {b: np.asarray(c, np.float32) for b, c in task["centroids"].items()}
    hits = []
    for cid, backend, tracks in zip(*(t.column(i).to_pylist() for i in range(3)), strict=True):
        c = cents.get(backend or "")
        if c is None or not tracks:
            continue
        emb = np.asarray([e for e in tracks if e is not None], np.float32)
        if len(emb) and float(np.linalg.norm(emb - c, axis=1).min()) <= task["distances"].get(
            backend or "", 0.0
        ):
            hits.append(cid)
    return {"clips": hits}


def clips_showing(ds: Dataset, identity: str, ops: DatasetOpsConfig) -> tuple[set[str], dict[str, Any]]:
    """Every clip id (triplets or not) that shows ``identity``, and how it was found."""
    own = identity_rows(ds, identity)
    if not own:
        raise NothingToRemove(
            f"no row has identity_id {identity!r} (see `humo-data inspect` or the triplets' identity_id)"
        )
    cents = centroids(ds, own)
    id_cfg = curate_config(ds.manifest).identity
    distances = {}
    for backend in cents:
        base = id_cfg.backend_distances.get(backend, id_cfg.backend_distances.get("dlib", (0.55, 0.5)))
        distances[backend] = ops.takedown.distance or id_cfg.distance_threshold or base[0]
    found: set[str] = set(own)
    if cents:
        tasks = [{"store": ds.store.spec(), "path": e["path"], "distances": distances,
                  "centroids": {b: c.tolist() for b, c in cents.items()}} for e in ds.shards(FACES)]  # fmt: skip
        for res in run_tasks(_faces_task, tasks):
            found.update(res["clips"])
    return found, {"identity_rows": len(own), "face_matches": len(found) - len(own), "distances": distances}


# --- rewriting ----------------------------------------------------------------------------------


def _rewrite_task(task: dict[str, Any]) -> dict[str, Any]:
    """One triplet shard key: rows, references and feature rows of the request removed."""
    from humo_data.jobs.finish import compute_flags

    store = Store.from_spec(task["store"])
    clips = set(resolve(task["clips"]))
    sources = set(task["sources"])
    key, gen = task["key"], task["gen"]
    records: list[dict[str, Any]] = []
    removed_rows: list[dict[str, Any]] = []
    refs_removed = 0
    delete: list[str] = []
    entry = task["entry"]
    if entry is not None:
        t = read_triplets(store, entry)
        sids, cids = (t.column(c).to_pylist() for c in ("source_id", "clip_id"))
        gone = [c in clips or s in sources for c, s in zip(cids, sids, strict=True)]
        refs = (
            t.column("reference_images").to_pylist()
            if "reference_images" in t.column_names
            else [None] * t.num_rows
        )
        new_refs, new_kinds, changed = [], [], any(gone)
        for r in refs:
            keep = [
                x
                for x in r or []
                if x.get("source_clip_id") not in clips and x.get("source_id") not in sources
            ]
            refs_removed += len(r or []) - len(keep)
            changed |= len(keep) != len(r or [])
            new_refs.append(keep)
            new_kinds.append(
                max(
                    (x.get("kind") for x in keep if x.get("kind")),
                    key=lambda k: KIND_RANK.get(k, 0),
                    default=None,
                )
            )
        if changed:
            light = t.filter(pa.array(gone, pa.bool_())).select(
                [c for c in ("clip_id", "source_id", "source_uri", "start_time", "end_time", "source_meta") if c in t.column_names]
            ).to_pylist()  # fmt: skip
            removed_rows.extend(light)
            if "reference_images" in t.column_names:
                t = t.set_column(t.schema.get_field_index("reference_images"), "reference_images",
                                 pa.array(new_refs, t.schema.field("reference_images").type))  # fmt: skip
                t = t.set_column(
                    t.schema.get_field_index("reference_kind"),
                    "reference_kind",
                    pa.array(new_kinds, pa.string()),
                )
            t = t.filter(pa.array([not g for g in gone], pa.bool_()))
            flags = compute_flags(t, task["min_kind"])
            for name, vals in flags.items():
                t = t.set_column(
                    t.schema.get_field_index(name), name, pa.array(vals, t.schema.field(name).type)
                )
            records.append(drop_record(entry))
            delete.append(entry["path"])
            if t.num_rows:
                rel = gen_path("triplets", key, gen)
                records.append(triplet_record(store, key, rel, t, entry.get("stages"),
                                                   row_group_rows=task["row_group_rows"], compression=task["compression"]))  # fmt: skip
    features_removed = 0
    for table, fentry in task["companions"].items():
        data = pq.read_table(store.open_read(fentry["path"]))
        ids = data.column("clip_id").to_pylist()
        srcs = data.column("source_id").to_pylist() if "source_id" in data.column_names else [None] * len(ids)
        drop = {c for c, s in zip(ids, srcs, strict=True) if c in clips or s in sources}
        if entry is not None and removed_rows:
            drop |= {r["clip_id"] for r in removed_rows}
        if not drop & set(ids):
            continue
        kept = filter_feature_shard(store, table, fentry, drop_ids=drop)
        features_removed += len(ids) - kept.num_rows
        delete.append(fentry["path"])
        if kept.num_rows:
            rel = gen_path(table, key, next_gen(fentry["path"]))
            extra = {"hash": fentry["hash"]} if fentry.get("hash") else None
            records.append(write_feature_shard(store, table, key, rel, kept, extra))
        else:
            records.append({"t": "drop", "table": table, "key": key})
    return {"records": records, "removed": removed_rows, "references": refs_removed,
            "features": features_removed, "delete": delete}  # fmt: skip


def run_remove(output: str, ops: DatasetOpsConfig, *, source: str | None = None, identity: str | None = None,
               dry_run: bool = False) -> dict[str, Any]:  # fmt: skip
    if (source is None) == (identity is None):
        raise ValueError("give exactly one of --source or --identity")
    kind, value = ("source", source) if source is not None else ("identity", identity)
    request = "t-" + hashlib.sha1(f"{kind}:{value}:{utc_now()}".encode()).hexdigest()[:12]
    if dry_run:  # read only: no lease, nothing written
        ds = open_dataset(str(output))
        clips, how = clips_showing(ds, identity, ops) if identity is not None else (set(), {})
        sources = source_ids(ds, source) if source is not None else set()
        if source is not None and not sources:
            raise no_such_source(ds, source)
        if sources:
            how = {"source_ids": sorted(sources)}
        return _dry_run(ds, clips, sources, kind, value, how)
    with dataset_op(output, STAGE) as op:
        ds = op.ds
        maybe_ray(ds, ops)
        merge_pending(ds)
        how: dict[str, Any] = {}
        clips: set[str] = set()
        if identity is not None:
            clips, how = clips_showing(ds, identity, ops)
        sources = sorted(source_ids(ds, source)) if source is not None else []
        if source is not None and not sources:
            raise no_such_source(ds, source)
        if sources:
            how = {"source_ids": sources}
        cur = curate_config(ds.manifest)
        keys = sorted(
            {e["key"] for e in ds.shards("triplets")}
            | {e["key"] for t in feature_tables(ds) for e in ds.shards(t)}
        )
        shared = share(sorted(clips))  # one copy in the object store, not one per task
        tasks = []
        for key in keys:
            entry = ds.state.shard("triplets", key)
            tasks.append({"store": ds.store.spec(), "key": key, "entry": entry, "companions": companions(ds, key),
                          "gen": next_gen(entry["path"]) if entry else 1, "clips": shared, "sources": sources,
                          "min_kind": cur.identity.min_reference_kind,
                          "row_group_rows": cur.writer.row_group_rows, "compression": cur.writer.compression})  # fmt: skip
        results = run_tasks(_rewrite_task, tasks)
        removed = [r for res in results for r in res["removed"]]
        refs = sum(res["references"] for res in results)
        feats = sum(res["features"] for res in results)
        if not removed and not refs and not feats:
            raise NothingToRemove(f"no row, reference image or feature row matches {kind} {value!r}")
        records = [r for res in results for r in res["records"]]
        if removed:
            reason = f"{kind}_removed"
            work = [{**r, "_reject_stage": STAGE, "_reject_reason": reason,
                     "_reject_detail": f"takedown request {request}"} for r in removed]  # fmt: skip
            records.append(rejects_record(ds.store, f"{op.run_id}-takedown", reject_rows(work)))
        drops = [r for r in records if r["t"] == "drop"]
        ds.state.record(drops + [r for r in records if r["t"] == "shard"])
        ds.state.flush()
        new_paths = {r["path"] for r in records if r["t"] == "shard"}
        ds.store.delete_many([p for res in results for p in res["delete"] if p not in new_paths])
        entry = {"id": request, "kind": kind, "value": value, "at": utc_now(), "rows": len(removed),
                 "references": refs, "feature_rows": feats, **how}  # fmt: skip
        requests = list(op.previous.get("requests", [])) + [entry]
        op.done({"requests": requests})
        refresh_documents(ds, ops)
        return {**entry, "notes": op.notes}


def _dry_run(
    ds: Dataset, clips: set[str], sources: set[str], kind: str, value: str, how: dict[str, Any]
) -> dict[str, Any]:
    """What a removal would touch (triplet rows and reference images), without writing anything."""
    rows = refs = 0
    for entry in ds.shards("triplets"):
        t = pq.read_table(
            ds.store.open_read(entry["path"]), columns=["clip_id", "source_id", "reference_images"]
        )
        for c, s, r in zip(*(t.column(i).to_pylist() for i in range(3)), strict=True):
            rows += c in clips or s in sources
            refs += sum(
                1 for x in r or [] if x.get("source_clip_id") in clips or x.get("source_id") in sources
            )
    return {"kind": kind, "value": value, "dry_run": True, "rows": rows, "references": refs, **how}
