"""Train on shards made by the real curation pipeline (``humo-data curate`` of the bundled sample),
through the ``humo-data train`` command."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from humo_data.cli import app

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def curated(curated_sample) -> Path:
    return curated_sample


def test_train_command_on_curated_shards(curated, tmp_path):
    args = ["train", "--config", "tiny_cpu", "--set", f"data.sources=[{curated}]", "--set", f"output={tmp_path}/run",
            "--set", "schedule.max_steps=3", "--set", "logging.every_steps=3", "--set", "stage=2",
            "--set", "data.batch_size=1"]  # fmt: skip
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 0, res.output
    summary = json.loads(res.output.strip().splitlines()[-1])
    assert summary["steps"] == 3 and Path(summary["checkpoint"]).name == "step-00000003"
    m = summary["metrics"]
    assert m["loss"] == m["loss"] and m["samples_per_s"] > 0
    # The offline pipeline captions every clip (template captioner) and gives a one-shot source a
    # same-clip reference at best: the trainer reads both from the curated columns
    assert m.get("data/note/no_caption", 0) == 0 and m.get("data/note/no_reference", 0) == 0


def test_stage1_filter_on_rows_without_references_says_why(curated, tmp_path):
    from humo_data.train.config import load_train_config
    from humo_data.train.data.stream import NoUsableRows, TripletStream

    cfg = load_train_config("tiny_cpu", [f"data.sources=[{curated}]", "data.row_filter=stage1"])
    with pytest.raises(NoUsableRows, match="not_stage1"):
        next(iter(TripletStream(cfg.data, seed=0)))
