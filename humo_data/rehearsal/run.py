"""Run the GPU profile as one curation job on a local Ray cluster that declares GPUs.

    result = rehearse("videos/", "out/", Path("tiny-weights/"))   # CPU: tiny random weights
    result = rehearse("videos/", "out/", None, cfg=load_config("gpu", [...]))  # a GPU machine: real ones

Ray is started here with ``num_gpus`` so the profile's fractional-GPU actor pools are scheduled
exactly as on a cluster (a pool that does not fit the declared GPUs fails at plan time, as it would
there); where torch sees no GPU the backends that ask for ``cuda`` run on the CPU and say so once
(humo_data/devices.py). The job itself is ``run_curate``, unchanged.
"""

from __future__ import annotations

import os
import re
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from humo_data.config import CurateConfig
from humo_data.jobs.curate import CurateSummary, run_curate
from humo_data.jobs.plan import CurationPlan
from humo_data.rehearsal.profile import declared_gpus, rehearsal_config, untouched_weights, write_tiny_weights


class RehearsalError(RuntimeError):
    """The rehearsal cannot stand for the profile (a weights path it has no tiny model for, a Ray
    cluster already running without the GPUs it needs)."""


@dataclass
class RehearsalResult:
    config: CurateConfig
    summary: CurateSummary
    num_gpus: int
    #: Ray Data actor classes this run started (``MapWorker(MapBatches(FaceStage))`` -> FaceStage): count
    actors: dict[str, int] = field(default_factory=dict)
    weights_seconds: float = 0.0


def start_ray(num_gpus: int, cfg: CurateConfig) -> None:
    """A local cluster that declares ``num_gpus`` GPUs (Ray hands them out by id, as on GPU nodes)."""
    import ray

    if ray.is_initialized():
        have = float(ray.cluster_resources().get("GPU", 0))
        if have < num_gpus:
            raise RehearsalError(f"a Ray cluster with {have:g} GPUs is already running; {num_gpus} needed")
        return
    kwargs: dict[str, Any] = {"num_gpus": num_gpus, "include_dashboard": False, "logging_level": "WARNING"}
    if cfg.ray.num_cpus:
        kwargs["num_cpus"] = cfg.ray.num_cpus
    if cfg.ray.object_store_memory:
        kwargs["object_store_memory"] = cfg.ray.object_store_memory
    os.environ.pop("RAY_ADDRESS", None)  # a local cluster, never a remote one
    ray.init(**kwargs)


def stage_actors() -> dict[str, int]:
    """Ray Data actors started on this cluster, by the stage class they ran (GCS actor table)."""
    from ray._private import state  # the GCS table; the state API needs the dashboard, off here

    found: Counter[str] = Counter()
    for info in state.actors().values():
        m = re.fullmatch(r"MapWorker\(MapBatches\((\w+)\)\)", info.get("ActorClassName") or "")
        if m:
            found[m.group(1)] += 1
    return dict(found)


def rehearse(
    input: str,
    output: str,
    weights_root: Path | None,
    extra: list[str] | tuple[str, ...] = (),
    cfg: CurateConfig | None = None,
    num_gpus: int | None = None,
    show_progress: bool = False,
) -> RehearsalResult:
    """Curate ``input`` into ``output`` with the GPU profile: tiny weights written under
    ``weights_root`` (plus ``extra`` overrides), or ``cfg`` as given (a real run on GPUs)."""
    import ray

    t0 = time.perf_counter()
    if cfg is None:
        if weights_root is None:
            raise RehearsalError("pass weights_root (tiny weights are written there) or a config")
        cfg = rehearsal_config(write_tiny_weights(weights_root), extra)
        left = untouched_weights(CurationPlan.build(cfg), weights_root)
        if left:
            raise RehearsalError(
                "the GPU profile names weights the rehearsal has no tiny model for: "
                f"{', '.join(left)} (add a writer to humo_data/rehearsal/profile.py WRITERS)"
            )
    weights_seconds = time.perf_counter() - t0
    plan = CurationPlan.build(cfg)
    gpus = num_gpus or declared_gpus(plan)
    started_here = not ray.is_initialized()
    start_ray(gpus, cfg)
    try:
        summary = run_curate(input, output, cfg, show_progress=show_progress)
        actors = stage_actors()
    finally:
        if started_here:
            ray.shutdown()
    return RehearsalResult(cfg, summary, gpus, actors, weights_seconds)
