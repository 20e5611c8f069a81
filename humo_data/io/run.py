"""The life of one run on a dataset, the same for ``curate`` and every dataset operation.

    with dataset_run(store, run_id, "humo-data dedup", lease_seconds=60, open_state=check) as run:
        ...                                   # records through run.state; notes in run.notes

On entry: the lease is taken (a second run on the output is refused, naming the holder), the
state is opened (``open_state`` creates or checks it and returns whether this run resumes an
unfinished one), files no commit record lists (a killed run's) are deleted, and the run is
recorded. On a normal exit: the run's end is recorded, the log is compacted into the manifest,
and files a killed task left behind meanwhile are deleted before the lease is released, so a
finished dataset holds committed files only. On an exception nothing more is written: the next
run resumes from the last commit.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from humo_data.io.dataset import Dataset, leftover_files
from humo_data.io.lease import Lease
from humo_data.io.manifest import DatasetState, utc_now
from humo_data.io.store import Store


@dataclass
class DatasetRun:
    ds: Dataset
    run_id: str
    notes: list[str] = field(default_factory=list)

    @property
    def state(self) -> DatasetState:
        return self.ds.state

    @property
    def store(self) -> Store:
        return self.ds.store


@contextmanager
def dataset_run(
    store: Store, run_id: str, input_desc: str, *, lease_seconds: float,
    open_state: Callable[[DatasetState, list[str]], bool],
) -> Iterator[DatasetRun]:  # fmt: skip
    with Lease(store, run_id, lease_seconds):
        state = DatasetState(store, run_id=run_id)
        run = DatasetRun(Dataset(store, state), run_id)
        resumed = open_state(state, run.notes)
        removed = leftover_files(run.ds)
        store.delete_many(removed)
        if removed:
            run.notes.append(f"removed {len(removed)} uncommitted file(s) of an earlier run")
        state.record([{"t": "run", "run": {"run_id": run_id, "started_at": utc_now(), "finished_at": None,
                                            "input": input_desc, "resumed": resumed}}])  # fmt: skip
        yield run
        state.record([{"t": "run_end", "run_id": run_id, "finished_at": utc_now()}])
        state.compact()
        store.delete_many(leftover_files(run.ds))
