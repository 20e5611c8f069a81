"""Phases after the streaming pass: stage reruns, identity (grouped), captions (survivors only).

Each writes side tables per triplet shard (``tables/<stage>/part-<key>.parquet``, see
jobs/finish.py) and records, per shard, which stage hash they reflect; the finish phase merges
them. So every phase is resumable shard by shard, and a phase whose inputs and settings did not
change is skipped:

- **rerun**: a per-clip stage whose settings (hash) changed since the rows were written, or that
  was off then, reruns over the committed rows. Its frames come from the stored clip (one decode
  of the 480p MP4: the sources may be gone), its audio from the stored FLAC; a rerun cannot bring
  back clips an earlier run rejected (their media is gone).
- **identity**: needs every clip of a source at once, so it runs grouped over the light face
  data (features/faces), never over media; it reruns whenever the set of clips or its settings
  changed, since a new clip can become another clip's reference.
- **captions**: only over committed rows (a VLM never sees a rejected clip), optionally only the
  rows that can become stage 1 (they have a reference of the required kind).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from humo_data import stage_stats
from humo_data.config import CurateConfig
from humo_data.config_base import short_hash
from humo_data.identity.config import KIND_RANK
from humo_data.io.dataset import Dataset
from humo_data.io.shards import SIDE_PREFIX, merge_side, read_triplets, side_table_name, write_side_table
from humo_data.io.store import Store
from humo_data.jobs.plan import CurationPlan, captions_hash
from humo_data.media.audio import decode_audio_bytes, pcm_to_bytes
from humo_data.media.frames import frames_from_clip
from humo_data.schema import conform
from humo_data.stage import REJECT_DETAIL, REJECT_REASON, Stage

#: columns a side table may carry besides a stage's outputs
SIDE_EXTRA = (REJECT_REASON, REJECT_DETAIL, "_reject_stage")


#: stage names of datasets written before every stage had its own name (the quality family
#: shared "quality" and was told apart by class)
LEGACY_STAGE_NAMES = {"aesthetic": "quality_aestheticstage", "face_quality": "quality_facequalitystage"}


def pending_keys(ds: Dataset, name: str, wanted_hash: str) -> list[dict[str, Any]]:
    """Triplet shards whose rows do not reflect stage ``name`` at ``wanted_hash`` yet (neither
    merged into the shard nor waiting in a side table)."""
    waiting = {e["key"]: e.get("hash") for e in ds.shards(side_table_name(name))}
    out = []
    for entry in ds.shards("triplets"):
        stages = entry.get("stages") or {}
        merged = stages.get(name, stages.get(LEGACY_STAGE_NAMES.get(name, "")))
        if merged == wanted_hash or waiting.get(entry["key"]) == wanted_hash:
            continue
        out.append(entry)
    return out


def _side_entries(ds: Dataset, key: str) -> list[dict[str, Any]]:
    out = []
    for table in ds.manifest["tables"]:
        if table.startswith(SIDE_PREFIX):
            e = ds.state.shard(table, key)
            if e is not None:
                out.append(e)
    return out


def load_rows(
    store: Store, entry: dict[str, Any], sides: list[dict[str, Any]], columns: list[str] | None = None
) -> pa.Table:
    """A triplet shard as working rows, with pending side tables merged (what finish would write)."""
    base = read_triplets(store, entry, columns)
    for side in sides:
        base = merge_side(base, read_triplets(store, side))
    return base


def with_media_inputs(
    table: pa.Table, fractions: tuple[float, ...], need_frames: bool, need_audio: bool
) -> pa.Table:
    """Working columns a stage needs, rebuilt from stored media: ``_frames`` from the clip MP4
    (one decode), ``_audio_pcm`` from the FLAC (no margin: the source is not re-read)."""
    table = conform(
        table.append_column("_kind", pa.array(["clip"] * table.num_rows))
        if "_kind" not in table.column_names
        else table
    )
    rows = table.select(["video", "fps", "audio"]).to_pylist()
    if need_frames:
        frames = [
            frames_from_clip(r["video"], fractions, float(r["fps"] or 25.0)) if r["video"] else None
            for r in rows
        ]
        table = table.set_column(
            table.schema.get_field_index("_frames"),
            "_frames",
            pa.array(frames, table.schema.field("_frames").type),
        )
    if need_audio:
        pcm = [pcm_to_bytes(decode_audio_bytes(r["audio"], 16000)) if r["audio"] else None for r in rows]
        table = table.set_column(
            table.schema.get_field_index("_audio_pcm"), "_audio_pcm", pa.array(pcm, pa.binary())
        )
        table = table.set_column(table.schema.get_field_index("_audio_margin"), "_audio_margin",
                                 pa.array([0.0 if p else None for p in pcm], pa.float64()))  # fmt: skip
    return table


def side_rows(table: pa.Table, columns: list[str]) -> pa.Table:
    """clip_id + ``columns`` (those present) + reject columns when any row was rejected."""
    keep = ["clip_id", *[c for c in columns if c in table.column_names and c != "clip_id"]]
    if REJECT_REASON in table.column_names and table.column(REJECT_REASON).null_count < table.num_rows:
        keep += [c for c in SIDE_EXTRA if c in table.column_names]
    return table.select(list(dict.fromkeys(keep)))


# --- per-shard passes (reruns, captions) ----------------------------------------------------------


def _load_shard_rows(batch: pa.Table, spec: dict[str, Any]) -> pa.Table:
    """One task row (a triplet shard) -> its working rows with media inputs and ``_shard``."""
    task = json.loads(batch.column("task")[0].as_py())
    store = Store.from_spec(spec)
    rows = load_rows(store, task["entry"], task["sides"])
    if task.get("filter_min_kind"):
        need = KIND_RANK[task["filter_min_kind"]]
        kinds = (
            rows.column("reference_kind").to_pylist()
            if "reference_kind" in rows.column_names
            else [None] * rows.num_rows
        )
        rows = rows.filter(pa.array([KIND_RANK.get(k or "", 0) >= need for k in kinds], pa.bool_()))
    rows = with_media_inputs(rows, tuple(task["fractions"]), task["need_frames"], task["need_audio"])
    return rows.append_column("_shard", pa.array([task["entry"]["key"]] * rows.num_rows, pa.string()))


def _select_side(batch: pa.Table, columns: list[str]) -> pa.Table:
    """The side-table columns of a batch, its shard key, and the batch's stage stats (on its first
    row: the stats of the rows leave with them here)."""
    side = side_rows(batch, columns).append_column("_shard", batch.column("_shard"))
    stats = [None] * batch.num_rows
    if batch.num_rows:
        stats[0] = json.dumps(stage_stats.collect(conform(batch), stream=False))
    return side.append_column("_stats", pa.array(stats, pa.string()))


def _write_side_group(batch: pa.Table, spec: dict[str, Any], name: str, stage_hash_: str) -> pa.Table:
    store = Store.from_spec(spec)
    key = batch.column("_shard")[0].as_py()
    stats: dict[str, Any] = {}
    for blob in batch.column("_stats").to_pylist():
        if blob:
            stage_stats.add(stats, json.loads(blob))
    record = write_side_table(store, name, key, batch.drop_columns(["_shard", "_stats"]), stage_hash_)
    return pa.table({"record": [json.dumps(record)], "stats": [json.dumps(stats)]})


def run_shard_pipeline(
    ds: Dataset, tasks: list[dict[str, Any]], stages: list[Stage], name: str, stage_hash_: str,
    on_record: Callable[[], None] | None = None, local: bool = True,
    processor: Callable[[Any], Any] | None = None, processor_columns: tuple[str, ...] = (),
    stats: dict[str, Any] | None = None,
) -> int:  # fmt: skip
    """Triplet shards -> working rows -> ``stages`` (actor pools for model stages, sized by their
    config) -> side table ``tables/<name>/`` per shard, committed as each shard's table lands."""
    import ray

    from humo_data.ray_compute import fit_stages, map_stage

    if not tasks or not (stages or processor):
        return 0
    stages, _ = fit_stages(stages, task_cpus=1.0, local=local)
    spec = ds.store.spec()
    items = [{"task": json.dumps(t, default=str)} for t in tasks]
    data = ray.data.from_items(items, override_num_blocks=len(items)).map_batches(
        _load_shard_rows, fn_kwargs={"spec": spec}, batch_size=1, batch_format="pyarrow"
    )
    if processor is not None:  # a Ray Data processor (vLLM engines) in front of the batch stages
        data = processor(data)
    for stage in stages:
        data = map_stage(data, stage)
    columns = list(dict.fromkeys([*processor_columns, *(c for s in stages for c in s.outputs)]))
    data = data.map_batches(
        _select_side, fn_kwargs={"columns": columns}, batch_format="pyarrow", batch_size=None
    )
    written = data.groupby(
        "_shard", num_partitions=max(1, min(len(tasks), 64))
    ).map_groups(  # one group per shard
        _write_side_group,
        fn_kwargs={"spec": spec, "name": name, "stage_hash_": stage_hash_},
        batch_format="pyarrow",
    )
    n = 0
    for batch in written.iter_batches(batch_format="pyarrow", batch_size=None):
        records = [json.loads(r) for r in batch.column("record").to_pylist()]
        ds.state.record(records)
        ds.state.flush()
        n += len(records)
        if stats is not None:
            for blob in batch.column("stats").to_pylist():
                stage_stats.add(stats, json.loads(blob))
        if on_record:
            on_record()
    return n


def run_reruns(ds: Dataset, plan: CurationPlan, stats: dict[str, Any] | None = None) -> list[str]:
    """Rerun each per-clip stage whose committed rows were made with other settings (or none).
    Stages rerun one after another so each sees the previous one's new columns; returns their names."""
    cfg = plan.config
    ran = []
    for stage in plan.stream:
        if stage.name in plan.phase_stage_names:  # its phase reruns it over committed rows
            continue
        name, h = stage.name, stage.output_hash()
        entries = pending_keys(ds, name, h)
        if not entries:
            continue
        tasks = [{"entry": e, "sides": _side_entries(ds, e["key"]), "fractions": list(cfg.frames.fractions),
                  "need_frames": True, "need_audio": stage.name in ("audio", "sync")} for e in entries]  # fmt: skip
        run_shard_pipeline(ds, tasks, [stage], name, h, local=not cfg.ray.address, stats=stats)
        ran.append(name)
    return ran


# --- identity -------------------------------------------------------------------------------------


def identity_inputs_hash(ds: Dataset, cfg: CurateConfig) -> str:
    """What the identity pass depends on: its settings, the faces settings and the clip set."""
    keys = sorted(e["key"] + e["sha256"][:12] for e in ds.shards("features/faces"))
    digest = hashlib.sha256("|".join(keys).encode()).hexdigest()[:16]
    return short_hash(
        {"identity": cfg.identity.output_hash(), "faces": cfg.faces.output_hash(), "clips": digest}
    )


def _read_features(batch: pa.Table, store_spec: dict[str, Any]) -> pa.Table:
    store = Store.from_spec(store_spec)
    parts = []
    for path, key in zip(batch.column("path").to_pylist(), batch.column("key").to_pylist(), strict=True):
        t = pq.read_table(store.open_read(path))
        parts.append(t.append_column("_shard", pa.array([key] * t.num_rows, pa.string())))
    return pa.concat_tables(parts)


def _write_identity_group(batch: pa.Table, store_spec: dict[str, Any], stage_hash_: str) -> pa.Table:
    store = Store.from_spec(store_spec)
    key = batch.column("_shard")[0].as_py()
    side = batch.drop_columns(["_shard"])
    record = write_side_table(store, "identity", key, side, stage_hash_)
    return pa.table({"record": [json.dumps(record)]})


def _identity_in_process(
    ds: Dataset, features: list[dict[str, Any]], cfg: CurateConfig
) -> list[dict[str, Any]]:
    """The identity pass here, on a few feature shards: the same functions as the Ray job
    (``identity_table``) without starting a Ray dataset, two shuffles and an actor pool."""
    from humo_data.identity.job import identity_table

    spec = ds.store.spec()
    faces = _read_features(
        pa.table({"path": [f["path"] for f in features], "key": [f["key"] for f in features]}), spec
    )
    out = identity_table(faces, cfg.identity)
    records = []
    for key in sorted(set(out.column("_shard").to_pylist())):
        group = out.filter(pc.equal(out.column("_shard"), key))
        result = _write_identity_group(group, spec, cfg.identity.output_hash())
        records += [json.loads(r) for r in result.column("record").to_pylist()]
    return records


def run_identity_phase(ds: Dataset, cfg: CurateConfig) -> int | None:
    """The grouped identity pass; returns the clips with faces it saw, or None when it did not run
    (off, or nothing it depends on changed)."""
    if not (cfg.identity.enabled and cfg.faces.enabled):
        return None
    h = identity_inputs_hash(ds, cfg)
    if ds.manifest.get("phases", {}).get("identity", {}).get("hash") == h:
        return None
    features = [{"path": e["path"], "key": e["key"]} for e in ds.shards("features/faces")]
    records: list[dict[str, Any]] = []
    if features and len(features) <= cfg.ray.in_process_max_shards:
        records = _identity_in_process(ds, features, cfg)
    elif features:
        import ray

        from humo_data.identity.job import run_identity

        spec = ds.store.spec()
        faces = ray.data.from_items(features, override_num_blocks=len(features)).map_batches(
            _read_features, fn_kwargs={"store_spec": spec}, batch_size=1, batch_format="pyarrow"
        )
        out = run_identity(faces, cfg.identity)
        written = out.groupby("_shard", num_partitions=max(1, min(len(features), 64))).map_groups(
            _write_identity_group, fn_kwargs={"store_spec": spec, "stage_hash_": cfg.identity.output_hash()},
            batch_format="pyarrow",
        )  # fmt: skip
        for batch in written.iter_batches(batch_format="pyarrow", batch_size=None):
            records += [json.loads(r) for r in batch.column("record").to_pylist()]
    # shards of clips without faces keep no identity side table; stale ones from an older run go
    stale = [e for e in ds.shards(side_table_name("identity")) if e["key"] not in {r["key"] for r in records}]
    ds.state.record(
        records + [{"t": "drop", "table": side_table_name("identity"), "key": e["key"]} for e in stale]
    )
    clips_with_faces = sum(r["rows"] for r in records)
    ds.state.record([{"t": "phase", "name": "identity", "status": "complete", "hash": h,
                      "clips_with_faces": clips_with_faces}])  # fmt: skip
    ds.state.flush()
    return clips_with_faces


# --- captions ---------------------------------------------------------------------------------------


def run_captions_phase(ds: Dataset, plan: CurationPlan, stats: dict[str, Any] | None = None) -> int:
    """Caption committed rows of shards not captioned with these settings; returns shards done."""
    cfg = plan.config
    stages: list[Stage] = list(plan.captions)
    processor, processor_columns = None, ()
    if plan.captions_vllm:
        from humo_data.captions.vllm import RESULT_COLUMNS, caption_dataset

        processor, processor_columns = (lambda data: caption_dataset(data, cfg.captions)), RESULT_COLUMNS
    if not stages and processor is None:
        return 0
    h = captions_hash(cfg)
    only_candidates = getattr(cfg.captions, "only_stage1_candidates", False) and cfg.identity.enabled
    tasks = [
        {"entry": e, "sides": _side_entries(ds, e["key"]), "fractions": list(cfg.frames.fractions),
         "need_frames": True, "need_audio": False,
         "filter_min_kind": cfg.identity.min_reference_kind if only_candidates else None}
        for e in pending_keys(ds, "captions", h)
    ]  # fmt: skip
    return run_shard_pipeline(ds, tasks, stages, "captions", h, local=not cfg.ray.address,
                              processor=processor, processor_columns=processor_columns, stats=stats)  # fmt: skip
