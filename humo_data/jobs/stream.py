"""Phase 1, the streaming pass: sources -> probe -> cut -> per-clip stages -> worker-side shards.

Each source is decoded once by the cut stage, which hands later stages sampled frames, motion and
margin-padded audio as working columns. The per-clip stages and their order come from the plan
(``jobs/plan.py``). The last op writes shards on the workers; the driver only commits small records.
"""

from __future__ import annotations

import json
import math
import uuid
import warnings
from collections.abc import Callable
from dataclasses import dataclass

from humo_data.clips.config import ClipsConfig
from humo_data.clips.cutter import ClipCutStage, cut_config
from humo_data.config import CurateConfig
from humo_data.io.committer import Committer
from humo_data.io.shard_sink import ShardSink
from humo_data.io.sources import SourceRef
from humo_data.io.store import Store
from humo_data.jobs.plan import CurationPlan, stage_manifest_info
from humo_data.probe.stage import ProbeStage

SINK_CPUS = 0.25  # shard writing is I/O: many small tasks, little CPU


def new_run_id() -> str:
    """Sortable, unique per run: shard keys and log segments of a run share it."""
    import time

    return f"r{int(time.time()):x}{uuid.uuid4().hex[:6]}"


def codec_threads(cfg: CurateConfig, sources: int, cpus: int) -> ClipsConfig:
    """Resolve ``0`` (auto) codec threads: many sources -> one thread each (the most work per CPU),
    few long sources -> their share of the node, so a lone 2-hour file still uses every core."""
    in_flight = max(1, min(sources, cfg.ray.max_sources_in_flight, cpus))
    auto = max(1, cpus // in_flight)
    decode = cfg.clips.decode_threads or auto
    return cfg.clips.model_copy(
        update={"decode_threads": decode, "encode_threads": cfg.clips.encode_threads or decode}
    )


def split_from_bytes(sizes: list[int], cpus: int, clips: ClipsConfig) -> int:
    """Sources bigger than the run's bytes per CPU would run alone at the end of the stream: only
    those are cut in time ranges (``clips/ranges.py``, ``clips.split_when=alone``); the rest keep
    every CPU busy as they are. A cluster under ``clips.split_min_cpus`` splits none."""
    if cpus < clips.split_min_cpus:
        return 2**62
    return sum(max(0, s) for s in sizes) // max(1, cpus) + 1


@dataclass
class StreamResult:
    sources: int
    clips: int
    seconds: float
    retryable: list[str]
    unfinished: list[str]
    duplicates_dropped: int


def run_stream(
    todo: list[SourceRef],
    plan: CurationPlan,
    store: Store,
    committer: Committer,
    run_id: str,
    claims_owners: dict[str, str],
    on_batch: Callable[[], None] | None = None,
) -> StreamResult:
    import ray

    from humo_data.io.claims import SourceClaims
    from humo_data.ray_compute import configure_data_context, fit_stages, map_stage, reserve_per_operator

    cfg = plan.config
    configure_data_context(reserve_per_operator(plan.stream))
    warnings.filterwarnings("ignore", message="The maximum number of concurrent tasks")
    # Largest sources first: long files start early instead of running alone at the end.
    ordered = sorted(todo, key=lambda r: (-r.size, r.uri))
    per_block = cfg.sources.sources_per_block
    items = [
        {
            "source_uri": r.uri,
            "_source_size": r.size,
            "_kind": "source",
            "source_meta": json.dumps(r.meta_dict(), sort_keys=True) if r.meta else None,
        }
        for r in ordered
    ]
    ds = ray.data.from_items(items, override_num_blocks=max(1, math.ceil(len(items) / per_block)))
    node_cpus = max(int(n["Resources"].get("CPU", 1)) for n in ray.nodes() if n["Alive"])
    cluster_cpus = max(1, int(ray.cluster_resources().get("CPU", 1)))
    clips_cfg = codec_threads(cfg, len(todo), node_cpus)
    claims = SourceClaims.options(
        scheduling_strategy=ray.util.scheduling_strategies.NodeAffinitySchedulingStrategy(
            ray.get_runtime_context().get_node_id(), soft=True
        )
    ).remote(claims_owners)
    wr = cfg.writer
    in_flight = cfg.ray.max_sources_in_flight
    ds = map_stage(ds, ProbeStage(cfg.probe, retries=wr.retries, backoff=wr.retry_backoff_seconds, claims=claims),
                   concurrency=in_flight)  # fmt: skip
    cut = ClipCutStage(
        cut_config(cfg, clips_cfg).model_copy(
            update={"split_from_bytes": split_from_bytes([r.size for r in todo], cluster_cpus, cfg.clips)}
        )
    )
    ds = map_stage(ds, cut, concurrency=in_flight)
    stages, notes = fit_stages(plan.stream, cut.resources.num_cpus, local=not cfg.ray.address)
    committer.notes += notes
    for stage in stages:
        ds = map_stage(ds, stage)
    sink = ShardSink(store.spec(), run_id, row_group_rows=wr.row_group_rows, compression=wr.compression)
    ds = ds.map_batches(sink, batch_size=wr.rows_per_shard, batch_format="pyarrow", num_cpus=SINK_CPUS)
    for records in ds.iter_batches(batch_size=None, batch_format="pyarrow", prefetch_batches=1):
        committer.add(records)
        if on_batch:
            on_batch()
    committer.flush()
    return StreamResult(
        sources=len(todo), clips=committer.clips_committed, seconds=committer.seconds_committed,
        retryable=committer.retryable, unfinished=committer.unfinished(),
        duplicates_dropped=committer.duplicates_dropped,
    )  # fmt: skip


def stream_stage_infos(plan: CurationPlan) -> dict[str, dict]:
    """Provenance of every streaming stage for the manifest: hash, backend, weights."""
    cfg = plan.config
    infos = {
        "probe": {"hash": cfg.section_hash("probe"), "backend": "pyav"},
        "shots": {"hash": cfg.section_hash("shots"), "backend": cfg.shots.backend},
        "clips": {"hash": cfg.cut_hash(), "backend": cfg.clips.video_backend},
    }
    for stage in plan.stream:
        infos[stage.name] = stage_manifest_info(stage)
    return infos
