"""The Stage contract: a config, its resources, a heavy ``setup()`` and a columnar ``__call__``.

A stage maps a pyarrow table to a table with the same rows in the same order, its own columns
filled. It never drops a row:

- a **reject** takes the clip out of the dataset: the stage sets ``_reject_reason`` (and
  ``_reject_detail``) for that row; the row keeps flowing so the writer records it in
  ``rejects/``, and its media (video, audio, sampled frames, features) is dropped right here so
  no MB-sized bytes travel on for a clip that is gone;
- a **subset gate** keeps the clip: the stage writes a reason column (``stage2_reason``) and the
  row stays in ``triplets/`` for the subsets it still serves.

Rows already rejected upstream, source rows and end-of-source markers (``_kind``) pass through
untouched, so ``transform`` only sees live clips. Media columns pass through as Arrow buffers;
only the columns a stage returns are rebuilt.

    class Exposure(Stage[QualityConfig]):
        name = "quality"
        outputs = ("quality_exposure",)

        def transform(self, live: pa.Table) -> dict[str, list]:
            frames = [decode_frames(v) for v in live.column("_frames").to_pylist()]
            exposure = [mean_luma(f) for f in frames]
            reasons = [None if e >= 0.04 else f"too_dark {e:.2f} < 0.04" for e in exposure]
            return {"quality_exposure": exposure, **self.rejects([r and "too_dark" for r in reasons], reasons)}

``RowStage`` is the helper for simple stages: ``process_row(row)`` sees only the declared
``inputs`` as Python values and returns the updates of that row. ``FanOutStage`` is for the few
stages that turn one row into many (the cutter: a source into clips); every row it emits carries
the ``_unit`` id that completion is tracked by (see ``humo_data/schema.py``, working columns).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any, ClassVar, Generic, TypeVar

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from humo_data.config_base import Resources, StrictModel
from humo_data.schema import MEDIA_WORK_COLUMNS, work_schema

C = TypeVar("C", bound=StrictModel)
Row = dict[str, Any]
Updates = Mapping[str, "pa.Array | pa.ChunkedArray | Sequence[Any] | np.ndarray"]

REJECT_REASON, REJECT_DETAIL, REJECT_STAGE = "_reject_reason", "_reject_detail", "_reject_stage"


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
    """A columnar stage. Subclasses set ``name``/``outputs`` and implement ``transform``."""

    name: ClassVar[str] = "stage"
    #: columns the stage reads (triplet or working columns); RowStage converts only these to Python
    inputs: ClassVar[tuple[str, ...]] = ()
    #: columns the stage writes; each must exist in ``work_schema()``
    outputs: ClassVar[tuple[str, ...]] = ()
    #: working columns no later stage needs once this one ran (dropped to free the object store)
    consumes: ClassVar[tuple[str, ...]] = ()
    #: run as an actor pool (models load once per actor) instead of tasks
    actor: ClassVar[bool] = False

    def __init__(self, config: C):
        self.config = config
        self._ready = False

    @property
    def resources(self) -> Resources:
        return getattr(self.config, "resources", Resources())

    def setup(self) -> None:
        """Load models / open handles. Runs once per worker, lazily before the first batch."""

    def output_hash(self) -> str:
        """Hash of the settings that change this stage's columns (a changed one reruns the stage
        over committed rows). Stages configured by a shared section override it with their part."""
        return self.config.output_hash()

    def provenance(self) -> dict[str, Any]:
        """What produced this stage's fields, for the manifest: backend name, weights path + sha256."""
        backend = getattr(self.config, "backend", None)
        return {"backend": backend} if backend else {}

    def transform(self, live: pa.Table) -> pa.Table | Updates:
        """The stage's columns for ``live`` (clip rows not rejected), one value per row, in order.
        May include ``_reject_reason`` / ``_reject_detail`` (see ``rejects``)."""
        raise NotImplementedError

    # --- helpers for subclasses -----------------------------------------------------------------
    @staticmethod
    def rejects(
        reasons: Sequence[str | None], details: Sequence[str | None] | None = None
    ) -> dict[str, list]:
        """Reject columns for ``transform``'s result: a reason per row (None = keep)."""
        return {REJECT_REASON: list(reasons), REJECT_DETAIL: list(details or [None] * len(reasons))}

    # --- Ray Data entry point -------------------------------------------------------------------
    def _ensure_ready(self) -> None:
        if not self._ready:
            self.setup()
            self._ready = True

    def __call__(self, batch: pa.Table) -> pa.Table:
        """``map_batches(batch_format="pyarrow")`` entry: same rows, same order, columns filled."""
        self._ensure_ready()
        batch = conform(batch)
        mask = live_mask(batch)
        if mask.any():
            live = batch if mask.all() else batch.filter(pa.array(mask))
            updates = self.transform(live)
            batch = apply_updates(batch, mask, updates, stage=self.name)
        return drop_columns(batch, self.consumes)


class RowStage(Stage[C]):
    """A stage written row by row: ``process_row`` gets the ``inputs`` of one live row as Python
    values and returns that row's updates (``self.reject(...)`` for a reject)."""

    def process_row(self, row: Row) -> Row:
        raise NotImplementedError

    def reject(self, reason: str, detail: str | None = None, **updates: Any) -> Row:
        return {REJECT_REASON: reason, REJECT_DETAIL: detail, **updates}

    def transform(self, live: pa.Table) -> Updates:
        cols = [c for c in self.inputs if c in live.column_names]
        rows = live.select(cols).to_pylist() if cols else [{} for _ in range(live.num_rows)]
        results = [self.process_row(r) for r in rows]
        names = list(dict.fromkeys([*self.outputs, *(k for r in results for k in r)]))
        return {n: [r.get(n) for r in results] for n in names}


class FanOutStage(Stage[C]):
    """A stage that maps each input row to any number of rows (``process``). Every emitted row
    must carry ``_unit`` (the id completion is tracked by) and ``_kind``; the stage emits a
    ``done`` marker per source listing the units it produced (``_expected_units``)."""

    #: rows per yielded table: stages whose rows carry MBs of media hand each on as soon as it exists
    emit_rows: ClassVar[int | None] = None
    #: fan-out stages see source rows (``_kind == "source"``), not clips
    input_kind: ClassVar[str] = "source"

    def process(self, rows: list[Row]) -> Iterable[Row]:
        raise NotImplementedError

    def transform(self, live: pa.Table) -> Updates:  # pragma: no cover - fan-out has no 1:1 transform
        raise TypeError(f"{type(self).__name__} fans out; call it, not transform()")

    def run_rows(self, rows: list[Row]) -> Iterator[Row]:
        """Apply the stage to its input rows; pass every other row through in place."""
        self._ensure_ready()
        mine = [r for r in rows if r.get("_kind") == self.input_kind and r.get(REJECT_REASON) is None]
        yield from (
            r for r in rows if not (r.get("_kind") == self.input_kind and r.get(REJECT_REASON) is None)
        )
        if mine:
            yield from self.process(mine)

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


def rows_to_table(rows: list[Row]) -> pa.Table:
    """Working rows (dicts) as a table in the full working schema (missing keys -> null)."""
    schema = work_schema()
    return pa.Table.from_pylist([{k: r.get(k) for k in schema.names} for r in rows], schema=schema)


def conform(table: pa.Table) -> pa.Table:
    """``table`` with every working-schema column present (absent ones null), in schema order.
    Lets stages rely on a column existing, and keeps block schemas identical across the stream."""
    schema = work_schema()
    if table.schema.names == schema.names:
        return table
    cols, n = [], table.num_rows
    for f in schema:
        if f.name in table.column_names:
            col = table.column(f.name)
            cols.append(col if col.type == f.type else col.cast(f.type))
        else:
            cols.append(pa.nulls(n, f.type))
    extra = [c for c in table.column_names if c not in schema.names]
    return pa.Table.from_arrays(cols + [table.column(c) for c in extra], names=schema.names + extra)


def _as_array(values: Any, type_: pa.DataType) -> pa.Array:
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    if isinstance(values, pa.Array):
        return values if values.type == type_ else values.cast(type_)
    if isinstance(values, np.ndarray) and values.ndim == 1 and values.dtype != object:
        return pa.array(values).cast(type_)
    return pa.array(list(values), type=type_)


def _scatter(base: pa.ChunkedArray | pa.Array, mask: np.ndarray, new: pa.Array) -> pa.Array:
    """``base`` with the positions where ``mask`` is true replaced, in order, by ``new``."""
    if isinstance(base, pa.ChunkedArray):
        base = base.combine_chunks()
    index = np.arange(len(base), dtype=np.int64)
    index[mask] = len(base) + np.arange(int(mask.sum()), dtype=np.int64)
    return pa.concat_arrays([base, new]).take(pa.array(index))


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
        col = new if everyone else _scatter(table.column(name), mask, new)
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
