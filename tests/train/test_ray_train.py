"""Ray Train TorchTrainer on CPU: 2 workers, gloo, tiny preset; the same loop as single-process."""

from __future__ import annotations

import json

import pytest

from humo_data.train.config import load_train_config

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def ray_local():
    ray = pytest.importorskip("ray")
    if ray.is_initialized():  # an earlier in-process curate run may have left its cluster up
        ray.shutdown()
    ray.init(num_cpus=2, include_dashboard=False, object_store_memory=200 * 2**20)
    yield ray
    ray.shutdown()


@pytest.mark.parametrize("strategy", ["ddp", "fsdp"])
def test_two_workers_train_and_checkpoint_every_ranks_cursor(ray_local, triplet_dir, tmp_path, strategy):
    from humo_data.train.ray_train import run_ray_train

    out = tmp_path / "run"
    cfg = load_train_config(
        "tiny_cpu",
        [f"data.sources=[{triplet_dir}]", f"output={out}", "schedule.max_steps=3", "logging.every_steps=1",
         "checkpoint.every_steps=3", "ray.num_workers=2", "ray.use_gpu=false", f"ray.strategy={strategy}",
         "model.trainable=all", "data.batch_size=1"],
    )  # fmt: skip
    run_ray_train(cfg)
    lines = [json.loads(x) for x in (out / "logs" / "metrics.jsonl").read_text().splitlines()]
    assert [x["step"] for x in lines] == [1, 2, 3]
    # samples/s counts both ranks' samples: batch 1 x 2 workers per step.
    assert all(x["samples_per_s"] > 0 for x in lines)
    state = json.loads((out / "checkpoints" / "step-00000003" / "trainer_state.json").read_text())
    assert set(state["data"]["cursors"]) == {"0", "1"}  # both ranks' loader positions are saved
    assert (out / "checkpoints" / "step-00000003" / "model.safetensors").stat().st_size > 0
