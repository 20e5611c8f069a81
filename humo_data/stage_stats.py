"""Per-stage numbers of a job: rows in and out, rejects by reason, wall and CPU seconds.

Stages append their cost to the rows they worked on (``_stage_stats``, see ``stage.py``); the
shard writer sums a batch's rows with ``collect`` and sends the sum to the driver with its shard
records; the manifest keeps the totals per stage (``stages.<name>.stats``, every run) and per run
(``runs[i].stats``, with the phases' wall seconds). Seconds are summed over workers, so a stage's
share of the job is its seconds over the sum of every stage's.

    {"rows_in": 12, "rows_out": 9, "rejected": 3, "rejects_by_reason": {"too_dark": 3},
     "seconds": 4.2, "cpu_seconds": 3.9}
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import pyarrow as pa

from humo_data.schema import STAGE_STATS

#: reject stages that stand for another stage's work (the probe rejects byte-identical copies as
#: ``sources/duplicate_content``)
REJECT_STAGE_OF = {"sources": "probe"}
#: the fan-out stage whose rows out are the clips it emits, not its rows in minus rejects
CUT_STAGE = "clips"


def empty() -> dict[str, Any]:
    return {"rows_in": 0, "rows_out": 0, "rejected": 0, "rejects_by_reason": {}, "seconds": 0.0,
            "cpu_seconds": 0.0}  # fmt: skip


def add(
    total: dict[str, dict[str, Any]], delta: Mapping[str, Mapping[str, Any]]
) -> dict[str, dict[str, Any]]:
    """Sum per-stage ``delta`` into ``total`` (in place) and return it."""
    for stage, d in delta.items():
        t = total.setdefault(stage, empty())
        for k, v in d.items():
            if isinstance(v, Mapping):
                into = t.setdefault(k, {})
                for kk, vv in v.items():
                    into[kk] = into.get(kk, 0) + vv
            else:
                t[k] = t.get(k, 0) + v
    return total


def collect(batch: pa.Table, stream: bool = True) -> dict[str, dict[str, Any]]:
    """The stats of a batch of working rows that reached the shard writer (``stream``: of the
    streaming pass, where clip rows are the cutter's output; False for reruns over committed rows)."""
    if STAGE_STATS not in batch.column_names:
        return {}
    cols = batch.select([STAGE_STATS, "_kind", "_reject_stage", "_reject_reason"]).to_pydict()
    out: dict[str, dict[str, Any]] = {}
    for entries, kind, rstage, reason in zip(
        cols[STAGE_STATS], cols["_kind"], cols["_reject_stage"], cols["_reject_reason"], strict=True
    ):
        for e in entries or []:
            s = out.setdefault(e["stage"], empty())
            s["rows_in"] += 1
            s["seconds"] += e["seconds"] or 0.0
            s["cpu_seconds"] += e["cpu_seconds"] or 0.0
        if reason is not None and rstage:
            s = out.setdefault(REJECT_STAGE_OF.get(rstage, rstage), empty())
            s["rejected"] += 1
            s["rejects_by_reason"][reason] = s["rejects_by_reason"].get(reason, 0) + 1
        if stream and kind == "clip" and rstage != CUT_STAGE:
            out.setdefault(CUT_STAGE, empty())["rows_out"] += 1
        if kind == "retry":
            s = out.setdefault(REJECT_STAGE_OF.get(rstage, rstage or "probe"), empty())
            s["retried"] = s.get("retried", 0) + 1
    for name, s in out.items():
        if name != CUT_STAGE:
            s["rows_out"] = s["rows_in"] - s["rejected"] - s.get("retried", 0)
    return out


def ordered(
    stats: Mapping[str, Mapping[str, Any]], order: Iterable[str]
) -> list[tuple[str, Mapping[str, Any]]]:
    """``stats`` as (name, numbers) in pipeline ``order``, unknown names last."""
    order = list(order)
    rank = {n: i for i, n in enumerate(order)}
    return sorted(stats.items(), key=lambda kv: (rank.get(kv[0], len(order)), kv[0]))
