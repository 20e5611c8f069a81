"""Run the identity pass: on a Ray Dataset of features rows (the curate job), or in memory.

    out = run_identity(faces_ds, cfg)     # ray.data.Dataset -> ray.data.Dataset
    out = identity_table(faces_table, cfg)  # pyarrow.Table -> pyarrow.Table (tests, small sets)

Input rows: the columns of schemas/features_faces.v1.json plus ``_shard`` (carried through
unchanged, so the caller knows which triplet shard each output row belongs to). Output rows:
``clip_id``, ``_shard``, ``identity_id``, ``reference_images``, ``reference_kind``,
``reference_backend`` (triplet v2 types), one per input clip.

Memory: the per-source step holds one source's features (its crops) at a time; the driver holds one
centroid per source identity; the cross-source step holds one dataset-wide identity's clips that
still need references plus its exemplar pool. Identities seen in one source only skip that step.
The result depends only on the input rows (groups are sorted inside), so a rerun after a crash
gives the same references.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from humo_data.identity.config import IdentityConfig
from humo_data.identity.index import link_identities
from humo_data.identity.passes import (
    CLIP,
    EXEMPLAR,
    IDENTITY,
    cross_pass,
    distances,
    output_row,
    output_schema,
    source_pass,
    work_schema,
)  # fmt: skip


def plan_identities(identities: pa.Table, cfg: IdentityConfig) -> tuple[dict[str, str], set[str]]:
    """Identity rows (work schema) -> (identity key -> dataset-wide id, ids seen in 2+ sources).
    Each face backend is linked on its own (embedding spaces differ)."""
    mapping: dict[str, str] = {}
    by_backend: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in identities.select(
        ["identity_key", "source_id", "embedding", "size", "reference_backend"]
    ).to_pylist():
        by_backend[(r["reference_backend"] or "").split("+")[0]].append(r)
    for backend, rows in sorted(by_backend.items()):
        _, cross, _ = distances(cfg, backend or None)
        mapping.update(
            link_identities(
                [r["identity_key"] for r in rows],
                [r["source_id"] for r in rows],
                np.stack([np.asarray(r["embedding"], np.float32) for r in rows]),
                [r["size"] for r in rows],
                cross,
            )
        )
    sources: dict[str, set[str]] = defaultdict(set)
    for key, gid in mapping.items():
        sources[gid].add(key.rsplit("/", 1)[0])
    return mapping, {gid for gid, s in sources.items() if len(s) > 1}


def assign(
    table: pa.Table, row_type: str, mapping: dict[str, str], multi: set[str], needs: bool | None
) -> pa.Table:
    """Rows of ``row_type`` with ``identity_id`` filled. ``needs``: True keeps the clips that go to
    the cross-source step (short of references, identity in 2+ sources), False the others; exemplars
    are kept only for identities in 2+ sources."""
    table = table.filter(pc.equal(table.column("row_type"), row_type))
    ids = [mapping.get(k) if k else None for k in table.column("identity_key").to_pylist()]
    table = table.set_column(
        table.schema.get_field_index("identity_id"), "identity_id", pa.array(ids, pa.string())
    )
    if row_type == EXEMPLAR:
        keep = [i in multi for i in ids]
    elif needs is None:
        return table
    else:
        cross = [
            bool(n) and i in multi for n, i in zip(table.column("needs_cross").to_pylist(), ids, strict=True)
        ]
        keep = cross if needs else [not c for c in cross]
    return table.filter(pa.array(keep, pa.bool_()))


def finish(table: pa.Table) -> pa.Table:
    """Clip work rows that need no cross-source step -> output rows."""
    return pa.Table.from_pylist([output_row(r) for r in table.to_pylist()], schema=output_schema())


# --- in memory ----------------------------------------------------------------------------------


def identity_table(faces: pa.Table, cfg: IdentityConfig) -> pa.Table:
    """The whole pass on an in-memory features table (same functions as the Ray job)."""
    if "_shard" not in faces.column_names:
        faces = faces.append_column("_shard", pa.nulls(faces.num_rows, pa.string()))
    sources = faces.column("source_id").to_pylist()
    groups: dict[str, list[int]] = defaultdict(list)
    for i, s in enumerate(sources):
        groups[s].append(i)
    parts = [source_pass(faces.take(pa.array(idx)), cfg) for _, idx in sorted(groups.items())]
    work = pa.concat_tables(parts) if parts else work_schema().empty_table()
    mapping, multi = plan_identities(work.filter(pc.equal(work.column("row_type"), IDENTITY)), cfg)
    done = finish(assign(work, CLIP, mapping, multi, needs=False))
    need = pa.concat_tables(
        [assign(work, CLIP, mapping, multi, True), assign(work, EXEMPLAR, mapping, multi, None)]
    )
    by_id: dict[str, list[int]] = defaultdict(list)
    for i, gid in enumerate(need.column("identity_id").to_pylist()):
        by_id[gid].append(i)
    crossed = [cross_pass(need.take(pa.array(idx)), cfg) for _, idx in sorted(by_id.items())]
    out = pa.concat_tables([done, *crossed])
    return out.take(pc.sort_indices(out, [("clip_id", "ascending")]))


# --- Ray ----------------------------------------------------------------------------------------


def _source_group(batch: pa.Table, cfg: IdentityConfig) -> pa.Table:
    return source_pass(batch, cfg)


def _cross_group(batch: pa.Table, cfg: IdentityConfig) -> pa.Table:
    return cross_pass(batch, cfg)


def _assign_batch(batch: pa.Table, row_type: str, mapping, multi, needs) -> pa.Table:
    return assign(batch, row_type, mapping, multi, needs)


def _finish_batch(batch: pa.Table) -> pa.Table:
    return finish(batch)


def run_identity(faces, cfg: IdentityConfig):
    """The identity pass on a Ray Dataset of features rows (+ ``_shard``): a Dataset of output rows.

    Two shuffles (group by source, then by dataset-wide identity for the clips that need
    cross-source references) and one small driver step (the identity index)."""
    import ray
    from ray.data.context import ShuffleStrategy

    res = cfg.resources
    # the shuffle strategy lives in the dataset's DataContext, which Ray shares with the caller's
    # datasets by reference: work on a copy that has its own context
    faces = ray.data.Dataset.copy(faces, _deep_copy=True)
    parts = None
    if cfg.shuffle == "sort":
        faces.context.shuffle_strategy = ShuffleStrategy.SORT_SHUFFLE_PULL_BASED
    else:
        faces.context.shuffle_strategy = ShuffleStrategy.HASH_SHUFFLE
        parts = cfg.shuffle_partitions or max(1, min(200, -(-faces.count() // cfg.rows_per_partition)))
    work = (
        faces.groupby("source_id", num_partitions=parts)
        .map_groups(_source_group, fn_kwargs={"cfg": cfg}, batch_format="pyarrow", num_cpus=res.num_cpus)
        .materialize()
    )
    ids_ds = work.map_batches(
        _assign_batch, fn_kwargs={"row_type": IDENTITY, "mapping": {}, "multi": set(), "needs": None},
        batch_format="pyarrow",
    )  # fmt: skip
    refs = ids_ds.select_columns(
        ["identity_key", "source_id", "embedding", "size", "reference_backend"]
    ).to_arrow_refs()
    tables = [t for t in ray.get(refs) if t.num_rows]
    identities = pa.concat_tables(tables) if tables else work_schema().empty_table()
    mapping, multi = plan_identities(identities, cfg)

    def kwargs(row_type: str, needs: bool | None) -> dict[str, Any]:
        # Ray Data ships fn_kwargs once per task through the object store; the mapping holds one
        # short string pair per source identity
        return {"row_type": row_type, "mapping": mapping, "multi": multi, "needs": needs}

    done = work.map_batches(_assign_batch, fn_kwargs=kwargs(CLIP, False), batch_format="pyarrow").map_batches(
        _finish_batch, batch_format="pyarrow"
    )
    if not multi:
        return done
    need = work.map_batches(_assign_batch, fn_kwargs=kwargs(CLIP, True), batch_format="pyarrow")
    pool = work.map_batches(_assign_batch, fn_kwargs=kwargs(EXEMPLAR, None), batch_format="pyarrow")
    crossed = (
        need.union(pool)
        .groupby("identity_id", num_partitions=parts)
        .map_groups(_cross_group, fn_kwargs={"cfg": cfg}, batch_format="pyarrow", num_cpus=res.num_cpus)
    )
    return done.union(crossed)
