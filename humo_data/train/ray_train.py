"""Multi-GPU training on Ray Train: ``TorchTrainer`` runs ``loop.train`` in every worker.

The loop is the same function as the single-process run; this module only supplies what differs
per worker: rank / world size / device from the Ray Train context, the DDP (or FSDP for
humo-17b) wrapper of the loss module, an all-gather for the loader cursors saved in
checkpoints, and ``ray.train.report`` for metrics. Rank 0 writes checkpoints to
``checkpoint.dir`` (a path every worker can read for resume: shared disk or a mounted bucket).

    humo-data train --config stage2 --ray --set ray.num_workers=8
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from humo_data.train.config import TrainConfig


def _absolute(cfg: TrainConfig) -> TrainConfig:
    """Workers do not share the driver's cwd: make local paths absolute before shipping the config."""

    def fix(p: str | None) -> str | None:
        return p if p is None or "://" in p else str(Path(p).resolve())

    data = cfg.data.model_copy(
        update={"sources": [fix(s) for s in cfg.data.sources], "features": fix(cfg.data.features)}
    )
    ckpt = cfg.checkpoint.model_copy(update={"dir": fix(str(cfg.checkpoint_dir()))})
    return cfg.model_copy(update={"output": fix(cfg.output), "data": data, "checkpoint": ckpt})


class FSDPState:
    """Full (unsharded) model/optimizer state of an FSDP2 model, via torch.distributed.checkpoint."""

    def gather(self, model, opt):
        from torch.distributed.checkpoint.state_dict import (
            StateDictOptions,
            get_model_state_dict,
            get_optimizer_state_dict,
        )

        from humo_data.train.checkpoint import ENCODER_PREFIXES

        opts = StateDictOptions(full_state_dict=True, cpu_offload=True)
        msd = get_model_state_dict(model, options=opts)
        msd = {k: v.contiguous() for k, v in msd.items() if not k.startswith(ENCODER_PREFIXES)}
        return msd, get_optimizer_state_dict(model, opt, options=opts)

    def load(self, model, opt, model_sd, opt_sd) -> None:
        from torch.distributed.checkpoint.state_dict import (
            StateDictOptions,
            set_model_state_dict,
            set_optimizer_state_dict,
        )

        opts = StateDictOptions(full_state_dict=True, strict=False)
        set_model_state_dict(model, model_sd, options=opts)
        set_optimizer_state_dict(model, opt, opt_sd, options=opts)


def _fsdp(module, bf16: bool):
    """FSDP2: shard every DiT block, then the root.

    bf16 (autocast on GPU): bf16 parameters for compute, float32 gradient reduction, and block
    inputs passed through uncast (``cast_forward_inputs=False``), so the float32 residual stream
    and timestep modulation cross block boundaries unchanged, as in the release. Otherwise
    parameters and compute stay float32.
    """
    import torch
    from torch.distributed.fsdp import MixedPrecisionPolicy, fully_shard

    mp = (
        MixedPrecisionPolicy(
            param_dtype=torch.bfloat16, reduce_dtype=torch.float32, cast_forward_inputs=False
        )
        if bf16
        else MixedPrecisionPolicy()
    )
    transformer = module.model.transformer
    for block in transformer.blocks:
        fully_shard(block, mp_policy=mp)
    fully_shard(transformer, mp_policy=mp)
    fully_shard(module.model.mask_predictor, mp_policy=mp)
    return module


def uses_fsdp(cfg: TrainConfig) -> bool:
    return cfg.ray.strategy == "fsdp" or (cfg.ray.strategy == "auto" and cfg.model.preset == "humo-17b")


def worker_hooks(cfg: TrainConfig, device, world: int) -> dict[str, Any]:
    """``loop.train`` keyword arguments for one worker of an initialised process group (Ray Train
    or any other launcher): the DDP/FSDP wrapper, an all-gather of Python objects (loader cursors)
    and, for FSDP, the full-state gather/scatter used by checkpoint save and resume."""
    import torch.distributed as dist
    from torch.nn.parallel import DistributedDataParallel

    from humo_data.train.loop import uses_bf16

    fsdp = uses_fsdp(cfg)

    def wrap(module):
        if fsdp:
            return _fsdp(module, bf16=uses_bf16(cfg, device) and device.type == "cuda")
        ids = [device.index] if device.type == "cuda" else None
        # find_unused_parameters: stage-2 rows without audio leave the audio modules out of a step.
        return DistributedDataParallel(module, device_ids=ids, find_unused_parameters=True)

    def gather(obj):
        out: list[Any] = [None] * world
        dist.all_gather_object(out, obj)
        return out

    return {"wrap": wrap, "gather": gather, "sharded": FSDPState() if fsdp else None}


def train_worker(config: dict[str, Any]) -> None:
    """The per-worker entry point (also usable with any torchrun-style launcher under Ray)."""
    import ray.train
    import ray.train.torch
    import torch

    from humo_data.train.loop import train

    cfg = TrainConfig.model_validate(config["cfg"])
    ctx = ray.train.get_context()
    rank, world = ctx.get_world_rank(), ctx.get_world_size()
    device = ray.train.torch.get_device()
    if device.type == "cpu":
        torch.set_num_threads(max(1, int(config.get("cpu_threads", 1))))
    train(
        cfg,
        rank=rank,
        world_size=world,
        device=device,
        report=lambda metrics: ray.train.report(metrics),
        **worker_hooks(cfg, device, world),
    )


def run_ray_train(cfg: TrainConfig, *, cpu_threads: int = 1) -> dict[str, Any]:
    """Run ``cfg`` on ``cfg.ray.num_workers`` Ray Train workers; returns the last reported metrics."""
    import ray
    from ray.train import RunConfig, ScalingConfig
    from ray.train.torch import TorchConfig, TorchTrainer

    cfg = _absolute(cfg)
    if not ray.is_initialized():
        ray.init(address=cfg.ray.address, include_dashboard=False, log_to_driver=True)
    storage = cfg.ray.storage_path or str(Path(cfg.output) / "ray")
    trainer = TorchTrainer(
        train_worker,
        train_loop_config={"cfg": cfg.model_dump(mode="json"), "cpu_threads": cpu_threads},
        scaling_config=ScalingConfig(
            num_workers=cfg.ray.num_workers,
            use_gpu=cfg.ray.use_gpu,
            resources_per_worker={"CPU": cpu_threads} if not cfg.ray.use_gpu else None,
        ),
        torch_config=TorchConfig(backend="nccl" if cfg.ray.use_gpu else "gloo"),
        run_config=RunConfig(name=f"humo-train-{cfg.config_hash()}", storage_path=storage),
    )
    result = trainer.fit()
    return {"metrics": result.metrics, "checkpoint_dir": str(cfg.checkpoint_dir())}
