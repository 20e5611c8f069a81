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

Before any of that, ``check_output`` refuses an output that holds something other than a
humo-data dataset, so a run never writes a dataset beside someone's files.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from fsspec.core import url_to_fs

from humo_data.io.dataset import Dataset, leftover_files
from humo_data.io.lease import LEASE_NAME, Lease
from humo_data.io.manifest import LEDGER_DIR, LOG_DIR, MANIFEST_NAME, DatasetState, utc_now
from humo_data.io.store import Store, StoreError

#: names a run writes at the root before (or beside) ``_manifest.json``: an output holding only
#: these is a dataset whose first run stopped early, never someone else's folder
OWN_NAMES = frozenset({MANIFEST_NAME, LEASE_NAME, LOG_DIR, LEDGER_DIR, "_logs"})
ALLOW_FLAG = "--allow-nonempty-output"


class OutputNotEmpty(StoreError):
    """The output holds files that are not a humo-data dataset; the message names them."""


def check_output(uri: str, allow_nonempty: bool = False) -> None:
    """Refuse ``uri`` (a folder or an object-store prefix) when it holds anything but a humo-data
    dataset: no ``_manifest.json`` and other entries than a run's own. Hidden names (``.DS_Store``,
    ``.gitkeep``) do not count. Creates nothing."""
    is_url = "://" in uri and not uri.startswith(("file://", "local://"))
    path = uri if is_url else os.path.abspath(uri.split("://", 1)[-1])
    try:
        fs, root = url_to_fs(path)
    except (ImportError, ValueError) as err:
        raise StoreError(f"cannot use output {uri!r}: {err} (install the fsspec backend, e.g. s3fs)") from err
    if not fs.exists(root):
        return
    if not fs.isdir(root):
        raise OutputNotEmpty(f"output {uri!r} is a file; pass a folder (or a prefix) for the dataset")
    entries = {}
    for info in fs.ls(root, detail=True):
        name = str(info["name"]).rstrip("/").rsplit("/", 1)[-1]
        if name and not name.startswith("."):
            entries[name] = info.get("type") == "directory"
    if MANIFEST_NAME in entries or set(entries) <= OWN_NAMES or allow_nonempty:
        return
    shown = [n + ("/" if entries[n] else "") for n in sorted(entries)]
    more = f" and {len(shown) - 5} more" if len(shown) > 5 else ""
    raise OutputNotEmpty(
        f"output {uri!r} is not empty and holds no humo-data dataset ({MANIFEST_NAME}): it has "
        f"{', '.join(shown[:5])}{more}. Choose a new or empty --output, or pass {ALLOW_FLAG} to write the "
        "dataset beside these files."
    )


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
