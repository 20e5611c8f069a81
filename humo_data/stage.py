"""The Stage contract: a config section, its resources, a heavy ``setup()`` and a columnar ``__call__``.

A stage maps a pyarrow table to a table with the same rows in the same order, its own columns
filled. It never drops a row:

- a **reject** takes the clip out of the dataset: the stage returns a reject reason (and detail)
  for that row through ``rejects()`` / ``reject()``; the row keeps flowing so the writer records
  it in ``rejects/``, and its media (video, audio, sampled frames, features) is dropped right here
  so no MB-sized bytes travel on for a clip that is gone;
- a **subset gate** keeps the clip: the stage writes its own gate column (``audio_gate``,
  ``sync_gate``) and the row stays in ``triplets/``; only the finish phase derives the flags.

The contract is held, not only declared:

- ``name`` is unique in a plan and names the stage's config section, its side table, its
  manifest entry and its stats;
- ``transform`` sees the live rows with the declared ``inputs`` (+ ``optional_inputs``) only, and
  may write only its declared ``outputs`` (+ the reject columns): anything else fails at once,
  naming the stage and the column (and ``jobs/plan.py`` checks at plan time that every input is
  produced by an earlier stage or the source);
- every call appends the stage's wall and CPU seconds to the rows it worked on (``_stage_stats``),
  which the shard writer sums into the manifest (``stages.<name>.stats``).

Rows already rejected upstream, source rows and end-of-source markers (``_kind``) pass through
untouched, so ``transform`` only sees live clips. Media columns pass through as Arrow buffers;
only the columns a stage returns are rebuilt.

    class Exposure(Stage[ExposureConfig]):
        name = "exposure"
        inputs = ("_frames",)
        outputs = ("quality_exposure",)

        def transform(self, live: pa.Table) -> dict[str, list]:
            frames = [decode_frames(v) for v in live.column("_frames").to_pylist()]
            exposure = [mean_luma(f) for f in frames]
            reasons = [None if e >= 0.04 else "too_dark" for e in exposure]
            details = [r and f"too_dark {e:.2f} < 0.04" for r, e in zip(reasons, exposure)]
            return {"quality_exposure": exposure, **self.rejects(reasons, details)}

``RowStage`` is the helper for simple stages: ``process_row(row)`` sees only the declared
``inputs`` as Python values and returns the updates of that row (``self.reject(...)``).
``FanOutStage`` is for the few stages that turn one row into many (the cutter: a source into
clips); every row it emits carries the ``_unit`` id that completion is tracked by (see
``humo_data/schema.py``, working columns).
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any, ClassVar, Generic, TypeVar

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from humo_data.columns import scatter
from humo_data.config_base import Resources, StrictModel
from humo_data.schema import MEDIA_WORK_COLUMNS, STAGE_STATS, conform, rows_to_table, work_schema

C = TypeVar("C", bound=StrictModel)
Row = dict[str, Any]
Updates = Mapping[str, "pa.Array | pa.ChunkedArray | Sequence[Any] | np.ndarray"]

REJECT_REASON, REJECT_DETAIL, REJECT_STAGE = "_reject_reason", "_reject_detail", "_reject_stage"
#: what a stage may write besides its declared outputs
REJECT_COLUMNS = (REJECT_REASON, REJECT_DETAIL)


class ContractError(RuntimeError):
    """A stage read or wrote a column it did not declare (a bug in the stage, never in the data)."""


def is_live(row: Row) -> bool:
    """A row that a stage should work on: a clip, not rejected."""
    return row.get(REJECT_REASON) is None and row.get("_kind") == "clip"


def live_mask(table: pa.Table) -> np.ndarray:
    """Boolean numpy mask of live clip rows (``_kind == 'clip'`` and no reject reason)."""
    if table.num_rows == 0:
        return np.zeros(0, bool)
    kind = table.column("_kind") if "_kind" in table.column_names else None
    clip = np.ones(table.num_rows, bool) if kind is None else pc.fill_null(pc.equal(kind, "clip"), False)
    clip = np.asarray(clip.to_numpy(zero_copy_only=False), bool) if not isinstance(clip, np.ndarray) else clip
    if REJECT_REASON in table.column_names:
        clip &= np.asarray(table.column(REJECT_REASON).is_null().to_numpy(zero_copy_only=False), bool)
    return clip


class Stage(Generic[C]):
    """A columnar stage. Subclasses set ``name``/``inputs``/``outputs`` and implement ``transform``."""

    #: unique in a plan: the stage's config section, side table, manifest entry and stats key
    name: ClassVar[str] = "stage"
    #: columns the stage reads, each produced by an earlier stage or the source (checked by the plan)
    inputs: ClassVar[tuple[str, ...]] = ()
    #: columns the stage reads when present (null when the stage producing them is off)
    optional_inputs: ClassVar[tuple[str, ...]] = ()
    #: columns the stage writes; each must exist in ``work_schema()``
    outputs: ClassVar[tuple[str, ...]] = ()
    #: working columns no later stage needs once this one ran (dropped to free the object store)
    consumes: ClassVar[tuple[str, ...]] = ()
    #: stages that must be in the plan for this one to run (it is left out otherwise, and says so)
    needs: ClassVar[tuple[str, ...]] = ()
    #: run as an actor pool (models load once per actor) instead of tasks
    actor: ClassVar[bool] = False

    def __init__(self, config: C):
        self.config = config
        self._ready = False
        self._setup_seconds = (0.0, 0.0)

    @classmethod
    def is_enabled(cls, config: C) -> bool:
        """Whether the config asks for this stage (its section's ``enabled``)."""
        return bool(getattr(config, "enabled", True))

    @classmethod
    def reads(cls) -> tuple[str, ...]:
        return tuple(dict.fromkeys((*cls.inputs, *cls.optional_inputs)))

    @property
    def resources(self) -> Resources:
        return getattr(self.config, "resources", Resources())

    def with_resources(self, resources: Resources) -> Stage[C]:
        """The same stage with other resources (a local cluster scales actor CPU shares to fit)."""
        return type(self)(self.config.model_copy(update={"resources": resources}))

    def setup(self) -> None:
        """Load models / open handles. Runs once per worker, lazily before the first batch."""

    def preflight(self) -> object:
        """Check, on the driver before anything is written, that what ``setup`` will need is there
        (a package, a model file); raise with what to do when it is not."""
        return None

    def output_hash(self) -> str:
        """Hash of the settings that change this stage's columns (a changed one reruns the stage
        over committed rows): its config section's output settings."""
        return self.config.output_hash()

    def provenance(self) -> dict[str, Any]:
        """What produced this stage's fields, for the manifest: the backend name and settings worth
        knowing (weights go through ``weights()``)."""
        backend = getattr(self.config, "backend", None)
        return {"backend": backend} if backend else {}

    def weights(self) -> dict[str, str | None]:
        """The local weights this stage loads, named explicitly (field -> path; the manifest records
        each one's size and sha256). Stages without models load none."""
        return {}

    def transform(self, live: pa.Table) -> pa.Table | Updates:
        """The stage's columns for ``live`` (clip rows not rejected, declared inputs only), one
        value per row, in order. May include reject columns (see ``rejects``)."""
        raise NotImplementedError

    # --- helpers for subclasses -----------------------------------------------------------------
    @staticmethod
    def rejects(
        reasons: Sequence[str | None], details: Sequence[str | None] | None = None
    ) -> dict[str, list]:
        """Reject columns for ``transform``'s result: a reason per row (None = keep), and a detail
        that says what was measured (e.g. ``too_dark 0.03 < 0.06``)."""
        return {REJECT_REASON: list(reasons), REJECT_DETAIL: list(details or [None] * len(reasons))}

    @staticmethod
    def reject(reason: str, detail: str | None = None, **updates: Any) -> Row:
        """One row's reject (row-wise stages), with any column updates of that row."""
        return {REJECT_REASON: reason, REJECT_DETAIL: detail, **updates}

    # --- Ray Data entry point -------------------------------------------------------------------
    def _ensure_ready(self) -> None:
        if not self._ready:
            t0, c0 = time.perf_counter(), time.process_time()
            self.setup()
            self._ready = True
            # model loading is part of what the stage costs: charged to its first batch
            self._setup_seconds = (time.perf_counter() - t0, time.process_time() - c0)

    def __call__(self, batch: pa.Table) -> pa.Table:
        """``map_batches(batch_format="pyarrow")`` entry: same rows, same order, columns filled."""
        t0, c0 = time.perf_counter(), time.process_time()
        self._ensure_ready()
        batch = conform(batch)
        mask = live_mask(batch)
        if mask.any():
            live = batch if mask.all() else batch.filter(pa.array(mask))
            updates = self.transform(live.select(list(self.reads())))
            check_outputs(self, updates)
            batch = apply_updates(batch, mask, updates, stage=self.name)
            setup_wall, setup_cpu = self._setup_seconds
            self._setup_seconds = (0.0, 0.0)
            batch = add_stage_stats(batch, mask, self.name, time.perf_counter() - t0 + setup_wall,
                                    time.process_time() - c0 + setup_cpu)  # fmt: skip
        return drop_columns(batch, self.consumes)


def check_outputs(stage: Stage, updates: pa.Table | Updates) -> None:
    """Refuse a write outside the stage's declared outputs (and the reject columns)."""
    names = updates.column_names if isinstance(updates, pa.Table) else list(updates)
    allowed = {*stage.outputs, *REJECT_COLUMNS}
    undeclared = [n for n in names if n not in allowed]
    if undeclared:
        raise ContractError(
            f"stage {stage.name!r} wrote {', '.join(map(repr, undeclared))}, not among its declared outputs "
            f"{stage.outputs}: declare the column in {type(stage).__name__}.outputs (and the schema)"
        )


def add_stage_stats(table: pa.Table, mask: np.ndarray, stage: str, wall: float, cpu: float) -> pa.Table:
    """Append ``stage``'s share of ``wall``/``cpu`` seconds to each row in ``mask`` (its live rows)."""
    n = int(mask.sum())
    if not n:
        return table
    entry = {"stage": stage, "seconds": wall / n, "cpu_seconds": cpu / n}
    i = table.schema.get_field_index(STAGE_STATS)
    current = table.column(i).to_pylist()
    for r in np.flatnonzero(mask):
        current[r] = [*(current[r] or []), entry]
    return table.set_column(i, STAGE_STATS, pa.array(current, table.schema.field(i).type))


#: columns any fan-out stage may set on the rows it emits (the row protocol, see schema.py)
FANOUT_PROTOCOL = ("_kind", "_unit", "_unit_parts", REJECT_STAGE, *REJECT_COLUMNS, STAGE_STATS)


def check_fanout_row(stage: Stage, given: frozenset[str], out: Row) -> None:
    """Refuse an emitted row that sets a column which is neither set on the input row, a declared
    output, nor the row protocol."""
    undeclared = [
        k for k, v in out.items()
        if v is not None and k not in given and k not in stage.outputs and k not in FANOUT_PROTOCOL
    ]  # fmt: skip
    if undeclared:
        raise ContractError(
            f"stage {stage.name!r} wrote {', '.join(map(repr, undeclared))}, not among its declared outputs "
            f"{stage.outputs}: declare the column in {type(stage).__name__}.outputs (and the schema)"
        )


class RowStage(Stage[C]):
    """A stage written row by row: ``process_row`` gets the declared inputs of one live row as
    Python values and returns that row's updates (``self.reject(...)`` for a reject)."""

    def process_row(self, row: Row) -> Row:
        raise NotImplementedError

    def transform(self, live: pa.Table) -> Updates:
        rows = live.to_pylist() if live.num_columns else [{} for _ in range(live.num_rows)]
        results = [self.process_row(r) for r in rows]
        names = list(dict.fromkeys([*self.outputs, *(k for r in results for k in r)]))
        return {n: [r.get(n) for r in results] for n in names}


class FanOutStage(Stage[C]):
    """A stage that maps each input row to any number of rows (``process``). Every emitted row
    must carry ``_unit`` (the id completion is tracked by) and ``_kind``; the stage emits a
    ``done`` marker per source listing the units it produced (``_expected_units``).

    Its cost per input row (a source) rides on the row that stands for that source downstream:
    the ``done`` marker when the stage emits one, else the passed-on source row; rows it creates
    (clips) start with no stats of their own."""

    #: rows per yielded table: stages whose rows carry MBs of media hand each on as soon as it exists
    emit_rows: ClassVar[int | None] = None
    #: fan-out stages see source rows (``_kind == "source"``), not clips
    input_kind: ClassVar[str] = "source"
    #: CPU seconds of tasks the stage started for the current source (a long source's time ranges,
    #: ``clips/ranges.py``): counted with the source's own, then reset
    tasks_cpu_seconds: float = 0.0

    def process(self, rows: list[Row]) -> Iterable[Row]:
        raise NotImplementedError

    def transform(self, live: pa.Table) -> Updates:  # pragma: no cover - fan-out has no 1:1 transform
        raise TypeError(f"{type(self).__name__} fans out; call it, not transform()")

    def run_rows(self, rows: list[Row]) -> Iterator[Row]:
        """Apply the stage to its input rows, one at a time (so its cost is known per source);
        pass every other row through in place."""
        self._ensure_ready()

        def mine(r: Row) -> bool:
            return r.get("_kind") == self.input_kind and r.get(REJECT_REASON) is None

        yield from (r for r in rows if not mine(r))
        for row in (r for r in rows if mine(r)):
            yield from self._timed(row)

    def _timed(self, row: Row) -> Iterator[Row]:
        inherited = list(row.get(STAGE_STATS) or [])
        given = frozenset(k for k, v in row.items() if v is not None)  # a stage may mutate ``row``
        setup_wall, setup_cpu = self._setup_seconds
        self._setup_seconds = (0.0, 0.0)
        t0, c0 = time.perf_counter(), time.process_time()
        outputs = iter(self.process([row]))  # a list-returning stage does its work right here
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
        while True:
            t0, c0 = time.perf_counter(), time.process_time()
            try:
                out = next(outputs)
            except StopIteration:
                return
            finally:
                wall, cpu = wall + time.perf_counter() - t0, cpu + time.process_time() - c0
            check_fanout_row(self, given, out)
            stands_for_source = out.get("_kind") in ("done", self.input_kind, "retry")
            if stands_for_source:
                cpu, self.tasks_cpu_seconds = cpu + self.tasks_cpu_seconds, 0.0
                entry = {"stage": self.name, "seconds": wall + setup_wall, "cpu_seconds": cpu + setup_cpu}
                out[STAGE_STATS] = [*inherited, entry]
            else:
                out[STAGE_STATS] = None
            yield out

    def __call__(self, batch: pa.Table) -> Iterator[pa.Table]:  # type: ignore[override]
        out: list[Row] = []
        for row in self.run_rows(batch.to_pylist()):
            out.append(row)
            if self.emit_rows and len(out) >= self.emit_rows:
                yield rows_to_table(out)
                out = []
        if out:
            yield rows_to_table(out)


# --- columnar plumbing --------------------------------------------------------------------------


def _as_array(values: Any, type_: pa.DataType) -> pa.Array:
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    if isinstance(values, pa.Array):
        return values if values.type == type_ else values.cast(type_)
    if isinstance(values, np.ndarray) and values.ndim == 1 and values.dtype != object:
        return pa.array(values).cast(type_)
    return pa.array(list(values), type=type_)


def apply_updates(table: pa.Table, mask: np.ndarray, updates: pa.Table | Updates, stage: str) -> pa.Table:
    """Write a stage's column ``updates`` (values for the rows where ``mask`` is true) into
    ``table``; set ``_reject_stage`` where a reject reason appeared and null those rows' media."""
    schema = work_schema()
    if isinstance(updates, pa.Table):
        updates = {n: updates.column(n) for n in updates.column_names}
    n_live = int(mask.sum())
    everyone = n_live == table.num_rows
    for name, values in updates.items():
        if name not in schema.names:
            raise KeyError(f"stage {stage!r} wrote {name!r}, which is not in the working schema (schemas/)")
        new = _as_array(values, schema.field(name).type)
        if len(new) != n_live:
            raise ValueError(f"stage {stage!r} returned {len(new)} values of {name!r} for {n_live} rows")
        if name == REJECT_REASON and new.null_count == len(new):
            continue
        col = new if everyone else scatter(table.column(name), mask, new)
        table = table.set_column(table.schema.get_field_index(name), name, col)
    if REJECT_REASON in updates:
        rejected_now = np.zeros(table.num_rows, bool)
        reasons = _as_array(updates[REJECT_REASON], pa.string())
        rejected_now[np.flatnonzero(mask)] = np.asarray(
            reasons.is_valid().to_numpy(zero_copy_only=False), bool
        )
        if rejected_now.any():
            table = _mark_rejected(table, rejected_now, stage)
    return table


def _mark_rejected(table: pa.Table, rows: np.ndarray, stage: str) -> pa.Table:
    """Stamp ``_reject_stage`` on ``rows`` and drop their media (a rejected clip carries no bytes on)."""
    keep = pa.array(~rows)
    i = table.schema.get_field_index(REJECT_STAGE)
    stage_col = pc.if_else(pa.array(rows), pa.scalar(stage), table.column(REJECT_STAGE))
    table = table.set_column(i, REJECT_STAGE, stage_col)
    for name in MEDIA_WORK_COLUMNS:
        if name in table.column_names:
            col = table.column(name)
            table = table.set_column(
                table.schema.get_field_index(name), name, pc.if_else(keep, col, pa.nulls(len(col), col.type))
            )
    return table


def drop_columns(table: pa.Table, names: Iterable[str]) -> pa.Table:
    """Null out working columns nobody needs any more (the column stays: block schemas match)."""
    for name in names:
        if name in table.column_names:
            col = table.column(name)
            if col.null_count != len(col):
                i = table.schema.get_field_index(name)
                table = table.set_column(i, name, pa.nulls(len(col), col.type))
    return table
