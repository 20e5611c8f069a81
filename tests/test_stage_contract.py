"""The columnar Stage contract: same rows in the same order, own columns filled, rejects drop media,
passing rows untouched, declared columns only (read and written), per-row stage stats, and the
same result through Ray's task and actor paths."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from humo_data.config_base import Resources, StrictModel
from humo_data.stage import ContractError, RowStage, Stage, apply_updates, live_mask, rows_to_table


class ToyConfig(StrictModel):
    floor: float = 0.5
    resources: Resources = Resources(num_cpus=0.5, batch_size=3)


class Exposure(Stage[ToyConfig]):
    """Columnar: fills quality_exposure from num_frames; rejects below the floor."""

    name = "quality"
    inputs = ("num_frames",)
    outputs = ("quality_exposure",)

    def transform(self, live: pa.Table):
        value = np.asarray(live.column("num_frames").to_numpy(), float) / 100.0
        reasons = [None if v >= self.config.floor else "too_dark" for v in value]
        details = [
            None if r is None else f"too_dark {v:.2f} < {self.config.floor}"
            for r, v in zip(reasons, value, strict=True)
        ]
        return {"quality_exposure": value.astype(np.float32), **self.rejects(reasons, details)}


class ExposureActor(Exposure):
    actor = True


class Gate(RowStage[ToyConfig]):
    """Row-level subset gate: never rejects, writes its own gate column."""

    name = "audio"
    inputs = ("num_frames",)
    outputs = ("audio_gate",)

    def process_row(self, row):
        assert set(row) == {"num_frames"}  # a stage sees its declared inputs only
        return {"audio_gate": None if row["num_frames"] > 80 else "not_enough_speech"}


class WritesUndeclared(Exposure):
    def transform(self, live: pa.Table):
        return {**super().transform(live), "quality_contrast": [0.5] * live.num_rows}


class ReadsUndeclared(Exposure):
    def transform(self, live: pa.Table):
        live.column("video")  # not among its inputs
        return super().transform(live)


def _rows() -> list[dict]:
    rows = []
    for i, frames in enumerate([97, 33, 0, 61, 121]):
        rows.append({"_kind": "clip", "_unit": f"c{i}", "clip_id": f"c{i}", "source_uri": "s", "num_frames": frames,
                     "video": b"V" * (1000 + i), "audio": b"A" * 10, "_frames": [{"index": 0, "time": 0.0, "width": 2,
                     "height": 2, "image": b"jpg"}]})  # fmt: skip
    rows[2].update(_reject_reason="shot_too_short", _reject_stage="clips", video=None)  # rejected upstream
    rows.append({"_kind": "done", "source_uri": "s", "_expected_units": [f"c{i}" for i in range(5)]})
    return rows


def test_columnar_stage_keeps_rows_fills_columns_and_drops_rejected_media():
    table = rows_to_table(_rows())
    out = Exposure(ToyConfig())(table)
    assert out.num_rows == table.num_rows
    assert out.column("clip_id").to_pylist() == table.column("clip_id").to_pylist()  # same order
    got = out.to_pylist()
    assert got[0]["quality_exposure"] == pytest.approx(0.97) and got[0]["_reject_reason"] is None
    assert got[0]["video"] == b"V" * 1000  # media of a kept row passes through untouched
    # c1 (33 frames) is rejected here: reason, detail, stage stamped, media dropped, row kept
    assert (got[1]["_reject_reason"], got[1]["_reject_stage"]) == ("too_dark", "quality")
    assert got[1]["_reject_detail"] == "too_dark 0.33 < 0.5"
    assert got[1]["video"] is None and got[1]["audio"] is None and got[1]["_frames"] is None
    # c2 was rejected upstream: untouched, not re-scored
    assert got[2]["_reject_stage"] == "clips" and got[2]["quality_exposure"] is None
    # the done marker passes through
    assert got[5]["_kind"] == "done" and got[5]["_expected_units"] == [f"c{i}" for i in range(5)]


def test_row_stage_is_a_subset_gate_not_a_reject():
    out = Gate(ToyConfig())(rows_to_table(_rows())).to_pylist()
    assert [r["audio_gate"] for r in out[:5]] == [
        None,
        "not_enough_speech",
        None,
        "not_enough_speech",
        None,
    ]
    assert all(r["_reject_reason"] is None for i, r in enumerate(out[:5]) if i != 2)
    assert out[1]["video"] is not None  # a gate keeps the media


def test_undeclared_reads_and_writes_fail_naming_the_stage_and_column():
    table = rows_to_table(_rows())
    with pytest.raises(ContractError, match="stage 'quality' wrote 'quality_contrast'"):
        WritesUndeclared(ToyConfig())(table)
    with pytest.raises(KeyError, match="video"):
        ReadsUndeclared(ToyConfig())(table)


def test_each_call_records_its_cost_on_the_rows_it_worked_on():
    out = Gate(ToyConfig())(Exposure(ToyConfig())(rows_to_table(_rows()))).to_pylist()
    stages = [[e["stage"] for e in r["_stage_stats"] or []] for r in out]
    # c0, c3, c4 passed both; c1 was rejected by the first stage (its cost is counted, the gate's is
    # not); c2 was rejected upstream and the done marker is no clip: neither stage worked on them
    assert stages == [["quality", "audio"], ["quality"], [], ["quality", "audio"], ["quality", "audio"], []]
    assert all(e["seconds"] >= 0 and e["cpu_seconds"] >= 0 for r in out for e in r["_stage_stats"] or [])


def test_wrong_length_or_unknown_column_fails_loudly():
    table = rows_to_table(_rows())
    mask = live_mask(table)
    with pytest.raises(ValueError, match="returned 1 values"):
        apply_updates(table, mask, {"quality_exposure": [0.1]}, stage="bad")
    with pytest.raises(KeyError, match="not in the working schema"):
        apply_updates(table, mask, {"no_such_column": [1] * int(mask.sum())}, stage="bad")


def test_task_and_actor_paths_match_the_direct_call():
    """Through Ray Data: Exposure as tasks, the same class as an actor pool; same rows out."""
    import sys

    import ray
    from ray import cloudpickle

    from humo_data.ray_compute import map_stage

    cloudpickle.register_pickle_by_value(sys.modules[__name__])  # workers cannot import a test module
    expected = Exposure(ToyConfig())(rows_to_table(_rows())).sort_by("clip_id")
    ray.init(num_cpus=2, include_dashboard=False, logging_level="ERROR", ignore_reinit_error=True)
    try:
        ds = ray.data.from_arrow(rows_to_table(_rows()))
        as_tasks = map_stage(ds, Exposure(ToyConfig()), concurrency=2)
        as_actors = map_stage(ds, ExposureActor(ToyConfig()), concurrency=1)
        for result in (as_tasks, as_actors):
            got = pa.concat_tables([ray.get(r) for r in result.to_arrow_refs()]).sort_by("clip_id")
            for name in ("clip_id", "quality_exposure", "_reject_reason", "_reject_stage", "video"):
                assert got.column(name).to_pylist() == expected.column(name).to_pylist(), name
    finally:
        ray.shutdown()
