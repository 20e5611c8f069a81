"""The one adapter between stages and Ray Data: resources, compute strategy, batch format.

Ray's knobs for actor sizing moved between releases (``compute=`` -> ``concurrency=`` -> back to
``compute=ActorPoolStrategy``); Ray is pinned in pyproject and only this module touches them.
"""

from __future__ import annotations

import contextlib
import os
from typing import Any

import ray
from ray.data import ActorPoolStrategy, Dataset, TaskPoolStrategy

from humo_data.config_base import Resources
from humo_data.ray_config import RayConfig
from humo_data.stage import Stage


class ClusterUnavailable(RuntimeError):
    """ray.address names a cluster that cannot be reached."""


def init_ray(cfg: RayConfig) -> str | None:
    """Connect to ``cfg.address`` (or ``RAY_ADDRESS``) or start a local cluster of this run's own,
    sized by the config, even when another Ray cluster runs on this machine (Ray's default would
    join that one); returns one line saying which, or None when Ray was already up."""
    if ray.is_initialized():
        return None
    kwargs: dict[str, Any] = {"ignore_reinit_error": True, "include_dashboard": False, "log_to_driver": True,
                              "logging_level": "WARNING"}  # fmt: skip
    # Inside `ray job submit` (or with RAY_ADDRESS exported) ray.init joins that cluster, which
    # refuses the local-cluster sizing below: connect as to an explicit address.
    address = cfg.address or os.environ.get("RAY_ADDRESS")
    if address:
        try:
            ray.init(address=address, **kwargs)
        except ConnectionError as err:
            where = "ray.address" if cfg.address else "RAY_ADDRESS"
            raise ClusterUnavailable(
                f"no Ray cluster at {where}={address!r} ({err}). Start one (`ray start --head`), "
                "submit with `ray job submit`, or run locally with --set ray.address=null."
            ) from None
        return f"ray: joined the cluster at {address} ({_cpus()} CPUs)"
    if cfg.num_cpus:
        kwargs["num_cpus"] = cfg.num_cpus
    if cfg.object_store_memory:
        kwargs["object_store_memory"] = cfg.object_store_memory
    running = _running_cluster()
    ray.init(address="local", **kwargs)
    other = f"; the Ray cluster already running here ({running}) is not used (--address auto joins it)"
    return f"ray: started a local cluster for this run ({_cpus()} CPUs){other if running else ''}"


def _cpus() -> str:
    return f"{ray.cluster_resources().get('CPU', 0):g}"


def _running_cluster() -> str | None:
    """The address of the cluster ``ray start`` last started on this machine, if its file is there."""
    from ray._common.utils import get_ray_address_file

    with contextlib.suppress(OSError), open(get_ray_address_file(None)) as f:
        return f.read().strip() or None
    return None


def reserve_per_operator(stages: list[Stage]) -> bool:
    """Ray Data's per-operator reservations: on only when model-stage actors are in the chain
    (see configure_data_context)."""
    return any(stage.actor for stage in stages)


def configure_data_context(reserve_per_operator: bool) -> None:
    """Ray Data settings of the curate stream (later phases in the same process keep them).

    ``reserve_per_operator``: Ray Data's per-operator reservations. They keep an operator from
    being starved, but reserve at least one task's resources for every operator of the chain and
    leave each about cluster/N beyond that, so on a small node a chain of CPU tasks (probe+cut,
    quality, the sink) runs one source at a time while other CPUs wait (front half on 2 cores:
    20.2 -> 17.0 s quiet, 155-162 -> 84-88 s on a loaded machine; same clips). With model stages in
    the chain they stay on: there they keep clips from piling up in front of the actors (off: peak
    RSS 3.6 vs 3.2 GiB and no faster on 2 cores)."""
    ctx = ray.data.DataContext.get_current()
    ctx.enable_progress_bars = False
    ctx.print_on_execution_start = False
    ctx.op_resource_reservation_enabled = reserve_per_operator


def actor_pool(res: Resources, default: int | None) -> ActorPoolStrategy:
    """Fixed pool (``concurrency``) or autoscaling between ``min_actors`` and ``max_actors``."""
    if res.min_actors or res.max_actors:
        lo = res.min_actors or 1
        return ActorPoolStrategy(min_size=lo, max_size=max(lo, res.max_actors or lo))
    return ActorPoolStrategy(size=res.concurrency or default or 1)


def map_stage(ds: Dataset, stage: Stage, *, concurrency: int | None = None, **extra: Any) -> Dataset:
    """Apply ``stage`` to ``ds``. CPU stages run as tasks; model stages (``stage.actor``) as an actor
    pool that loads its model once in ``setup()``. Resources come from the stage's config;
    ``concurrency`` is the fallback size (the job passes ``ray.max_sources_in_flight`` to the
    source stages only)."""
    res = stage.resources
    kwargs: dict[str, Any] = {
        "batch_format": "pyarrow",
        "batch_size": res.batch_size,
        "num_cpus": res.num_cpus,
        "zero_copy_batch": True,
        **extra,
    }
    if res.num_gpus:
        kwargs["num_gpus"] = res.num_gpus
    if stage.actor:
        return ds.map_batches(
            type(stage),
            fn_constructor_kwargs={"config": stage.config},
            compute=actor_pool(res, concurrency),
            **kwargs,
        )
    size = res.concurrency or concurrency
    if size:
        kwargs["compute"] = TaskPoolStrategy(size=size)
    return ds.map_batches(stage, **kwargs)


class ResourcePlanError(RuntimeError):
    """The stages' resource requests cannot run on this cluster (it would wait forever)."""


def _min_actors(res: Resources) -> int:
    return res.min_actors or res.concurrency or 1


def fit_stages(stages: list[Stage], task_cpus: float, local: bool) -> tuple[list[Stage], list[str]]:
    """Make sure the pipeline can run on the cluster it is on: actor pools hold their CPUs and GPUs
    for the whole job, so pools that need more than the cluster has (with room for one source task)
    would wait forever. On a local cluster the actors' CPU shares are scaled down to fit (noted);
    on a remote cluster the job refuses with the numbers, before anything starts."""
    import ray

    total = ray.cluster_resources()
    cpus, gpus = float(total.get("CPU", 0)), float(total.get("GPU", 0))
    actors = [s for s in stages if s.actor]
    need_gpus = sum(_min_actors(s.resources) * s.resources.num_gpus for s in actors)
    if need_gpus > gpus:
        wanted = ", ".join(
            f"{s.name}: {s.resources.num_gpus:g} x {_min_actors(s.resources)}"
            for s in actors
            if s.resources.num_gpus
        )
        raise ResourcePlanError(
            f"model stages need {need_gpus:g} GPU(s) ({wanted}) but the cluster has {gpus:g}. Use a GPU "
            "cluster, or run those stages on CPU (set <section>.resources.num_gpus=0 and a CPU device/backend)."
        )
    need_cpus = sum(_min_actors(s.resources) * s.resources.num_cpus for s in actors)
    budget = cpus - task_cpus
    if need_cpus <= budget:
        return stages, []
    if not local:
        wanted = ", ".join(f"{s.name}: {s.resources.num_cpus:g} x {_min_actors(s.resources)}" for s in actors)
        raise ResourcePlanError(
            f"model stage actors reserve {need_cpus:g} CPUs ({wanted}) and a source task needs {task_cpus:g}, "
            f"but the cluster has {cpus:g}: the job would wait forever. Lower <section>.resources.num_cpus "
            "or min_actors, or add nodes."
        )
    scale = max(budget, cpus * 0.5) / need_cpus
    fitted = []
    for s in stages:
        if s.actor and s.resources.num_cpus:
            res = s.resources.model_copy(update={"num_cpus": round(s.resources.num_cpus * scale, 3)})
            s = s.with_resources(res)
        fitted.append(s)
    return fitted, [
        f"local cluster has {cpus:g} CPUs: model-stage actors share them (CPU reservations x{scale:.2f})"
    ]
