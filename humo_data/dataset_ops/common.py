"""What every dataset-level operation shares: the lease, the readiness check, the run record, the
curate settings it must honour, and per-shard work on Ray (or in process).

    with dataset_op("out/", "dedup") as op:      # lease held, leftovers removed, status "running"
        ...                                       # records through op.ds.state
        op.done({"rejected": 3})                  # phase record, status "complete"
                                                  # (compaction at exit: io/run.py)

A killed operation leaves status "running" and its phase "incomplete": rerunning it (or any other
operation) resumes; ``humo-data validate`` reports the unfinished state meanwhile.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from humo_data.config import CurateConfig
from humo_data.dataset_ops.config import OpsRayConfig
from humo_data.io.dataset import Dataset, DatasetNotFound
from humo_data.io.manifest import MANIFEST_NAME, DatasetState, utc_now
from humo_data.io.run import dataset_run
from humo_data.io.store import Store
from humo_data.ray_config import RayConfig

#: phases the dataset operations record (their "incomplete" state lets another operation resume)
OP_PHASES = ("dedup", "split", "takedown")


class DatasetNotReady(RuntimeError):
    """The dataset is not finished (a curate run is incomplete); the message says what to do."""


def new_op_id() -> str:
    """Sortable run id of an operation; shard keys start with it, so it is alphanumeric."""
    return f"o{int(time.time()):x}{uuid.uuid4().hex[:6]}"


def curate_config(manifest: dict[str, Any]) -> CurateConfig:
    """The settings the dataset was curated with (flags, shard sizes); defaults for an imported
    dataset or a config this version no longer reads."""
    try:
        return CurateConfig.model_validate(manifest.get("config") or {})
    except Exception:  # noqa: BLE001 - importer options, or an older config: the defaults serve
        return CurateConfig()


def check_ready(manifest: dict[str, Any], strict: bool = False) -> None:
    """Refuse a dataset whose curate run has not finished (``strict``: or whose last operation has
    not finished either: an export must see a consistent dataset)."""
    phases = manifest.get("phases", {})
    resuming = [] if strict else [p for p in OP_PHASES if phases.get(p, {}).get("status") == "incomplete"]
    stream = phases.get("stream", {}).get("status")
    if stream not in (None, "complete") or (manifest.get("status") != "complete" and not resuming):
        raise DatasetNotReady(
            f"the dataset is not finished (status {manifest.get('status')!r}, stream {stream!r}): rerun "
            "the same `humo-data curate` command until it completes, then run this operation"
        )


@dataclass
class OpRun:
    ds: Dataset
    name: str
    run_id: str
    previous: dict[str, Any] = field(default_factory=dict)  # the phase record before this run
    notes: list[str] = field(default_factory=list)

    @property
    def state(self) -> DatasetState:
        return self.ds.state

    def done(self, info: dict[str, Any] | None = None) -> None:
        """Record the phase as complete (with ``info``) and the dataset as complete again."""
        self.state.record(
            [{"t": "phase", "name": self.name, "status": "complete", "at": utc_now(), **(info or {})}]
        )
        self.state.manifest["status"] = "complete"


@contextmanager
def dataset_op(
    output: str, name: str, *, lease_seconds: float = 60.0, mark_running: bool = True, strict: bool = False
) -> Iterator[OpRun]:
    """Open ``output`` for operation ``name``: lease, readiness, leftovers, run record (io/run.py)."""
    store = Store.open(str(output), create=False)
    if not store.exists(MANIFEST_NAME):
        raise DatasetNotFound(f"{output}: no {MANIFEST_NAME}; expected the output of `humo-data curate`")

    def ready(state: DatasetState, notes: list[str]) -> bool:
        check_ready(state.manifest, strict)
        return False

    with dataset_run(
        store, new_op_id(), f"humo-data {name}", lease_seconds=lease_seconds, open_state=ready
    ) as run:
        op = OpRun(run.ds, name, run.run_id, previous=dict(run.state.manifest["phases"].get(name, {})),
                   notes=run.notes)  # fmt: skip
        if mark_running:  # the last completed run's info stays (a resumed run still knows it)
            kept = {k: v for k, v in op.previous.items() if k not in ("status", "at")}
            run.state.record([{"t": "phase", "name": name, **kept, "status": "incomplete", "at": utc_now()}])
            run.state.manifest["status"] = "running"
            run.state.compact()  # readers (validate, inspect) see the operation in progress
        yield op


def ensure_ray(cfg: OpsRayConfig) -> None:
    from humo_data.ray_compute import init_ray

    init_ray(
        RayConfig(address=cfg.address, num_cpus=cfg.num_cpus, object_store_memory=cfg.object_store_memory)
    )


def maybe_ray(ds: Dataset, ops: Any) -> bool:
    """Start (or join) Ray unless the dataset is small enough to do the work here faster
    (``in_process_max_shards``); an already running Ray is always used. Returns whether Ray is up."""
    import ray

    if ray.is_initialized():
        return True
    if ops.ray.address is None and len(ds.shards("triplets")) <= ops.in_process_max_shards:
        return False
    ensure_ray(ops.ray)
    return True


def share(value: Any) -> Any:
    """``value`` put in the object store once when Ray is up (tasks then receive a reference, not a
    copy each), else ``value`` itself; ``resolve`` undoes it on either side."""
    import ray

    return ray.put(value) if ray.is_initialized() else value


def resolve(value: Any) -> Any:
    """An object-store reference's value on Ray, the value itself in process."""
    import ray

    return ray.get(value) if isinstance(value, ray.ObjectRef) else value


def run_tasks(fn: Callable[[dict[str, Any]], dict[str, Any]], tasks: list[dict[str, Any]], num_cpus: float = 1.0,
              on_result: Callable[[dict[str, Any]], None] | None = None) -> list[dict[str, Any]]:  # fmt: skip
    """``fn`` over ``tasks`` as Ray tasks when Ray is up (results in completion order, streamed to
    ``on_result``), else here in order."""
    import ray

    results: list[dict[str, Any]] = []
    if not ray.is_initialized() or len(tasks) <= 1:
        for t in tasks:
            r = fn(t)
            results.append(r)
            if on_result:
                on_result(r)
        return results
    remote = ray.remote(num_cpus=num_cpus)(fn)
    pending = [remote.remote(t) for t in tasks]
    while pending:
        ready, pending = ray.wait(pending, num_returns=1)
        r = ray.get(ready[0])
        results.append(r)
        if on_result:
            on_result(r)
    return results


def pending_side_tables(ds: Dataset) -> list[str]:
    return [t for t, entries in ds.manifest["tables"].items() if t.startswith("tables/") and entries]


def merge_pending(ds: Dataset) -> int:
    """Run the finish phase when side tables wait (a killed operation's, or an unfinished rerun)."""
    if not pending_side_tables(ds):
        return 0
    from humo_data.jobs.finish import run_finish

    return run_finish(ds, curate_config(ds.manifest))[0]
