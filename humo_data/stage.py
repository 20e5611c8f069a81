"""The Stage contract: a config, its resources, a heavy ``setup()`` and a batch ``__call__``.

A stage object is cheap to build on the driver (it holds its config only); ``setup()`` runs once
in the worker (actor) that uses it, where models load. ``process(rows)`` maps a list of working
rows (dicts in the ``schema.work_schema()`` layout) to a list of rows, possibly more (cutting) or
fewer. Rows already rejected upstream, and end-of-source markers, pass through untouched, so a
stage only sees live rows. A stage rejects a row with ``self.reject(row, reason, detail)``: the
row keeps flowing and the writer routes it to ``rejects/``.

    class Sharpness(Stage[QualityConfig]):
        name = "quality"
        def process(self, rows):
            return [self.score(r) for r in rows]
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any, ClassVar, Generic, TypeVar

import pyarrow as pa

from humo_data.config import Resources, StrictModel
from humo_data.schema import work_schema

C = TypeVar("C", bound=StrictModel)
Row = dict[str, Any]


def is_live(row: Row) -> bool:
    """A row that a stage should work on: not rejected, not an end-of-source marker."""
    return row.get("_reject_reason") is None and row.get("_kind") != "done"


class Stage(Generic[C]):
    name: ClassVar[str] = "stage"

    def __init__(self, config: C):
        self.config = config
        self._ready = False

    @property
    def resources(self) -> Resources:
        return getattr(self.config, "resources", Resources())

    def setup(self) -> None:
        """Load models / open handles. Runs once per worker, lazily before the first batch."""

    def process(self, rows: list[Row]) -> Iterable[Row]:
        raise NotImplementedError

    def reject(self, row: Row, reason: str, detail: str | None = None) -> Row:
        row["_reject_stage"] = self.name
        row["_reject_reason"] = reason
        row["_reject_detail"] = detail
        return row

    def run_rows(self, rows: list[Row]) -> Iterator[Row]:
        """Apply the stage to live rows; pass the rest through in place."""
        if not self._ready:
            self.setup()
            self._ready = True
        live = [r for r in rows if is_live(r)]
        yield from (r for r in rows if not is_live(r))
        if live:
            yield from self.process(live)

    #: rows per yielded table; stages that fan out large rows (the cutter) stream one at a time
    emit_rows: ClassVar[int | None] = None

    def __call__(self, batch: pa.Table) -> Iterator[pa.Table]:
        """Ray Data entry point (``batch_format="pyarrow"``); yields tables so large outputs stream."""
        out: list[Row] = []
        for row in self.run_rows(batch.to_pylist()):
            out.append(row)
            if self.emit_rows and len(out) >= self.emit_rows:
                yield rows_to_table(out)
                out = []
        if out:
            yield rows_to_table(out)


def rows_to_table(rows: list[Row]) -> pa.Table:
    schema = work_schema()
    return pa.Table.from_pylist([{k: r.get(k) for k in schema.names} for r in rows], schema=schema)
