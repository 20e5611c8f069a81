"""FSDP2 save -> resume on the CPU gloo path: two processes run ``loop.train`` with the same hooks
Ray Train workers get (``ray_train.worker_hooks``); a run stopped at step 2 and resumed to step 4
repeats the uninterrupted 4-step run (losses, weights, EMA, optimizer state, loader cursors)."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import torch
from safetensors.torch import load_file

WORLD = 2
STEPS = 4


def _config(triplet_dir: str, out: Path, steps: int):
    from humo_data.train.config import load_train_config

    return load_train_config(
        "tiny_cpu",
        [f"data.sources=[{triplet_dir}]", f"output={out}", f"schedule.max_steps={steps}", "stage=2",
         "model.trainable=all", "ray.strategy=fsdp", "data.batch_size=1", "checkpoint.every_steps=2",
         "checkpoint.keep_last=3", "logging.every_steps=1", "logging.tensorboard=false", "ema.decay=0.9",
         "task_mix.audio_start=0.5", "task_mix.audio_end=0.5"],
    )  # fmt: skip


def _worker(rank: int, tmp: str, triplet_dir: str) -> None:
    """One gloo rank: the straight run, then the interrupted run and its resume."""
    import torch.distributed as dist

    from humo_data.train.loop import train
    from humo_data.train.ray_train import worker_hooks

    torch.set_num_threads(1)
    dist.init_process_group(  # a deadlock fails the ranks in 5 minutes instead of hanging the suite
        "gloo", init_method=f"file://{tmp}/pg", rank=rank, world_size=WORLD, timeout=timedelta(minutes=5)
    )
    device = torch.device("cpu")
    try:
        for name, steps in (("straight", STEPS), ("resumed", 2), ("resumed", STEPS)):
            cfg = _config(triplet_dir, Path(tmp) / name, steps)
            result = train(
                cfg, rank=rank, world_size=WORLD, device=device, **worker_hooks(cfg, device, WORLD)
            )
            if rank == 0:
                with open(Path(tmp) / f"{name}-losses.jsonl", "a") as fh:
                    fh.write(json.dumps(result.losses) + "\n")
    finally:
        dist.destroy_process_group()


def test_fsdp_checkpoint_resumes_the_uninterrupted_run(triplet_dir, tmp_path):
    torch.multiprocessing.spawn(_worker, args=(str(tmp_path), str(triplet_dir)), nprocs=WORLD, join=True)
    straight = [json.loads(x) for x in (tmp_path / "straight-losses.jsonl").read_text().splitlines()]
    parts = [json.loads(x) for x in (tmp_path / "resumed-losses.jsonl").read_text().splitlines()]
    assert [len(p) for p in parts] == [2, 2]  # the second call resumed at step 2, not from scratch
    torch.testing.assert_close(
        torch.tensor(parts[0] + parts[1]), torch.tensor(straight[0]), rtol=1e-5, atol=1e-6
    )
    a = tmp_path / "straight" / "checkpoints" / "step-00000004"
    b = tmp_path / "resumed" / "checkpoints" / "step-00000004"
    for name in ("model.safetensors", "ema.safetensors"):
        wa, wb = load_file(a / name), load_file(b / name)
        assert wa.keys() == wb.keys() and any(k.startswith("transformer.blocks.") for k in wa)
        for k in wa:
            torch.testing.assert_close(wa[k], wb[k], rtol=1e-5, atol=1e-6, msg=f"{name}: {k}")
    ema, weights = load_file(a / "ema.safetensors"), load_file(a / "model.safetensors")
    assert any(not torch.equal(ema[k], weights[k]) for k in weights)  # the EMA is not a copy
    oa = torch.load(a / "optimizer.pt", weights_only=True)["state"]
    ob = torch.load(b / "optimizer.pt", weights_only=True)["state"]
    assert oa.keys() == ob.keys() and oa
    for k in oa:
        torch.testing.assert_close(oa[k]["exp_avg_sq"], ob[k]["exp_avg_sq"], rtol=1e-5, atol=1e-9)
    sa = json.loads((a / "trainer_state.json").read_text())
    sb = json.loads((b / "trainer_state.json").read_text())
    assert sa["data"]["cursors"] == sb["data"]["cursors"] and set(sa["data"]["cursors"]) == {"0", "1"}
