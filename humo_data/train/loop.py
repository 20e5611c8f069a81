"""The training loop: one function for a single process (CPU or one GPU) and for every Ray Train
worker (DDP / FSDP wrap the loss module; see ray_train.py).

Per optimiser step: ``grad_accum`` micro-batches -> per-sample task draw (stage 2 mixes
subject-only and subject+audio) -> ``model.training_loss`` under bf16 autocast on CUDA -> a
non-finite loss raises with the step and clip_ids -> clip grad norm -> AdamW -> LR schedule -> EMA.
All randomness of a step (timesteps, noise, task draw) comes from generators seeded by
(seed, rank, step, micro-batch), and the loader resumes at its exact row, so a resumed run
repeats the uninterrupted run's loss curve.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch
from torch import nn

from humo_data.train.batch import TrainBatch
from humo_data.train.checkpoint import (
    ENCODER_PREFIXES,
    find_checkpoint,
    load_checkpoint,
    load_model_state,
    model_state,
    save_checkpoint,
    set_rng_state,
)
from humo_data.train.config import TrainConfig
from humo_data.train.ema import EMA
from humo_data.train.progress import StepProgress

log = logging.getLogger(__name__)


class NonFiniteLoss(FloatingPointError):
    """A NaN/inf loss or gradient: never trained through silently."""


class ShardedState(Protocol):
    """Full-state I/O of a sharded (FSDP) model; both methods run on every rank."""

    def gather(self, model: nn.Module, opt: torch.optim.Optimizer) -> tuple[dict, dict]: ...
    def load(self, model: nn.Module, opt: torch.optim.Optimizer, model_sd: dict, opt_sd: dict) -> None: ...


class LossModule(nn.Module):
    """``forward`` = ``model.training_loss``, so DDP/FSDP hooks (which run on forward) see the step."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, batch: TrainBatch, use_audio: torch.Tensor, generator: torch.Generator):
        return self.model.training_loss(batch, use_audio=use_audio, generator=generator)


@dataclass
class TrainResult:
    steps: int
    losses: list[float] = field(default_factory=list)  # per optimiser step (this run's steps only)
    last_checkpoint: Path | None = None
    trainable: dict[str, int] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)  # the last logged metrics


def step_seed(seed: int, rank: int, step: int, micro: int) -> int:
    return (seed * 1_000_003 + rank * 10_007 + step * 101 + micro) % (2**63 - 1)


def task_draw(
    cfg: TrainConfig, step: int, has_audio: torch.Tensor, generator: torch.Generator
) -> torch.Tensor:
    """use_audio per sample: stage 1 never; stage 2 with the ramped probability, only rows with audio."""
    if cfg.stage == 1:
        return torch.zeros_like(has_audio, dtype=torch.bool)
    p = cfg.task_mix.audio_prob(step)
    return (torch.rand(has_audio.shape[0], generator=generator) < p) & has_audio.bool()


def set_trainable(model: nn.Module, cfg: TrainConfig) -> dict[str, int]:
    """The stage's trainable set (model.set_trainable), or the whole DiT + mask predictor."""
    counts = model.set_trainable(cfg.stage)
    if cfg.model.trainable == "all":
        counts = {"trainable": 0, "frozen": 0}
        for name, p in model.named_parameters():
            on = not name.startswith(ENCODER_PREFIXES)
            p.requires_grad_(on)
            counts["trainable" if on else "frozen"] += p.numel()
    return counts


def lr_lambda(cfg: TrainConfig) -> Callable[[int], float]:
    s = cfg.schedule

    def f(step: int) -> float:
        if s.warmup_steps and step < s.warmup_steps:
            return (step + 1) / s.warmup_steps
        if s.decay == "constant":
            return 1.0
        span = max(1, s.max_steps - s.warmup_steps)
        frac = min(1.0, (step - s.warmup_steps) / span)
        shape = 0.5 * (1 + math.cos(math.pi * frac)) if s.decay == "cosine" else 1.0 - frac
        return s.min_lr_ratio + (1 - s.min_lr_ratio) * shape

    return f


def resolve_device(cfg: TrainConfig) -> torch.device:
    if cfg.device != "auto":
        return torch.device(cfg.device)
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def build_model(cfg: TrainConfig, device: torch.device) -> nn.Module:
    """The HuMo model of ``cfg.model`` (seeded: random tiny encoders are identical across runs)."""
    from humo_data.train.model import HuMoConfig, build_humo

    torch.manual_seed(cfg.seed)
    hcfg = HuMoConfig.preset(cfg.model.preset)
    if cfg.model.gradient_checkpointing:
        hcfg = hcfg.replace(gradient_checkpointing=True)
    return build_humo(hcfg, device=device, weights_dir=cfg.model.weights_dir)


class MetricsLog:
    """TensorBoard + JSONL on rank 0; a no-op elsewhere."""

    def __init__(self, cfg: TrainConfig, enabled: bool):
        self.enabled = enabled
        logs = Path(cfg.output) / "logs"
        self.jsonl = None
        self.tb = None
        if not enabled:
            return
        logs.mkdir(parents=True, exist_ok=True)
        if cfg.logging.jsonl:
            self.jsonl = open(logs / "metrics.jsonl", "a")  # noqa: SIM115 - lives for the run
        if cfg.logging.tensorboard:
            from torch.utils.tensorboard import SummaryWriter

            self.tb = SummaryWriter(str(logs / "tb"))

    def write(self, step: int, metrics: dict[str, float]) -> None:
        if not self.enabled:
            return
        if self.jsonl is not None:
            self.jsonl.write(json.dumps({"step": step, **metrics}) + "\n")
            self.jsonl.flush()
        if self.tb is not None:
            for k, v in metrics.items():
                self.tb.add_scalar(k, v, step)

    def close(self) -> None:
        if self.jsonl is not None:
            self.jsonl.close()
        if self.tb is not None:
            self.tb.close()


def uses_bf16(cfg: TrainConfig, device: torch.device) -> bool:
    """bf16 autocast for this run: precision bf16, or auto on CUDA."""
    return cfg.precision == "bf16" or (cfg.precision == "auto" and device.type == "cuda")


def _autocast(cfg: TrainConfig, device: torch.device):
    if uses_bf16(cfg, device):
        return torch.autocast(device_type=device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


def train(
    cfg: TrainConfig,
    *,
    rank: int = 0,
    world_size: int = 1,
    device: torch.device | None = None,
    wrap: Callable[[nn.Module], nn.Module] | None = None,
    gather: Callable[[Any], list[Any]] | None = None,
    report: Callable[[dict[str, float]], None] | None = None,
    model: nn.Module | None = None,
    sharded: ShardedState | None = None,
) -> TrainResult:
    """Train ``cfg.schedule.max_steps`` optimiser steps (resuming from a checkpoint if configured).

    wrap: DDP/FSDP wrapper of the LossModule (Ray workers); gather: all-gather of a Python
    object (to save every rank's loader cursors); report: per-log-step metrics sink (Ray);
    sharded: full-state gather/scatter for sharded (FSDP) models, called on every rank.
    """
    from humo_data.train.data.stream import LoaderState, make_loader

    device = device or resolve_device(cfg)
    random.seed(cfg.seed + rank)
    np.random.seed((cfg.seed + rank) % 2**32)
    model = model if model is not None else build_model(cfg, device)
    counts = set_trainable(model, cfg)
    if rank == 0:
        print(
            f"stage {cfg.stage}: trainable {counts['trainable']:,} / frozen {counts['frozen']:,} parameters "
            f"({cfg.model.preset})",
            flush=True,
        )
    # Wrap before the optimiser exists: FSDP swaps parameters for sharded ones in place.
    loss_fn = wrap(LossModule(model)) if wrap is not None else LossModule(model)
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(
        params, lr=cfg.optim.lr, betas=cfg.optim.betas, weight_decay=cfg.optim.weight_decay, eps=cfg.optim.eps
    )
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lr_lambda(cfg))
    ema = EMA(model, cfg.ema) if cfg.ema.enabled else None

    step, data_state = 0, LoaderState()
    ckpt_path = find_checkpoint(cfg.checkpoint.resume, cfg.checkpoint_dir())
    if ckpt_path is not None:
        ck = load_checkpoint(ckpt_path)
        if sharded is not None:
            sharded.load(model, opt, ck.model, ck.optimizer)
        else:
            load_model_state(model, ck.model)
            opt.load_state_dict(ck.optimizer)
        if ema is not None and ck.ema is not None:
            ema.load_state_dict(ck.ema)
        sched.load_state_dict(ck.trainer_state["scheduler"])
        set_rng_state(ck.rng)
        step = ck.step
        data_state = LoaderState.from_state(ck.trainer_state.get("data"))
        if rank != 0:  # running counts were summed over ranks at save time: keep them once
            data_state.counts.clear()
        if rank == 0:
            print(f"resumed from {ckpt_path} at step {step}", flush=True)

    loader = make_loader(cfg.data, seed=cfg.seed, rank=rank, world_size=world_size, state=data_state.cursors)
    # Keep only this rank's workers' cursors: the merge at save time must not let another rank's
    # stale copy (restored from the checkpoint) overwrite a cursor this rank has moved on.
    per_rank = max(1, cfg.data.num_workers)
    data_state.cursors = {k: v for k, v in data_state.cursors.items() if int(k) // per_rank == rank}
    batches = iter(loader)
    logger = MetricsLog(cfg, enabled=rank == 0)
    if rank == 0:
        Path(cfg.output).mkdir(parents=True, exist_ok=True)
        (Path(cfg.output) / "train_config.json").write_text(json.dumps(cfg.model_dump(mode="json"), indent=1))
    ref_slots = max(1, cfg.data.max_references)
    result = TrainResult(steps=step, trainable=counts)
    window: dict[str, list[float]] = {}
    t_window, samples_window, tokens_window = time.perf_counter(), 0, 0
    model.train()
    progress = StepProgress(
        "train", cfg.schedule.max_steps, start=step, every=cfg.logging.every_steps,
        mode=cfg.logging.progress if rank == 0 else "off",
    )  # fmt: skip
    try:
        progress.open()
        while step < cfg.schedule.max_steps:
            accum = cfg.optim.grad_accum
            step_loss = 0.0
            for micro in range(accum):
                batch = next(batches)
                data_state.observe(batch)
                draw_step = 0 if cfg.debug_fixed_draws else step
                gen = torch.Generator().manual_seed(step_seed(cfg.seed, rank, draw_step, micro))
                use_audio = task_draw(cfg, step, batch.has_audio, gen)
                batch = batch.to(device)
                sync = micro == accum - 1 or not hasattr(loss_fn, "no_sync")
                with contextlib.nullcontext() if sync else loss_fn.no_sync(), _autocast(cfg, device):
                    out = loss_fn(batch, use_audio, gen)
                loss = out["loss"]
                if not torch.isfinite(loss.detach()).all():
                    raise NonFiniteLoss(
                        f"non-finite loss {loss.item()} at step {step + 1} (micro-batch {micro}) "
                        f"on clip_ids {batch.clip_ids}; parts: { {k: float(v.detach()) for k, v in out.items()} }"
                    )
                (loss / accum).backward()
                step_loss += float(loss.detach()) / accum
                task = (
                    "audio" if bool(use_audio.all()) else "subject" if not bool(use_audio.any()) else "mixed"
                )
                for k in ("loss", "loss_flow", "loss_ref_slot", "loss_mask", "mask_fallback_frac"):
                    if k in out:
                        window.setdefault(k, []).append(float(out[k].detach()))
                window.setdefault(f"loss_{task}", []).append(float(loss.detach()))
                window.setdefault("audio_frac", []).append(float(use_audio.float().mean()))
                samples_window += batch.batch_size * world_size
                bh, bw = batch.references.shape[2:4]  # the batch's bucket
                tokens_window += (
                    batch.batch_size * world_size * model.num_tokens(cfg.data.frames, bh, bw, ref_slots)
                )
            if cfg.optim.grad_clip is not None:
                norm = torch.nn.utils.clip_grad_norm_(params, cfg.optim.grad_clip)
            else:
                norm = torch.linalg.vector_norm(
                    torch.stack([p.grad.norm() for p in params if p.grad is not None])
                )
            if not torch.isfinite(norm):
                raise NonFiniteLoss(
                    f"non-finite gradient norm at step {step + 1} on clip_ids {batch.clip_ids}"
                )
            if float(norm) == 0.0 and step == result.steps and rank == 0:
                log.warning(
                    "step %d: the trainable parameters got an all-zero gradient. A from-scratch model has a "
                    "zero-initialised output head (as released), so stage training needs pretrained weights "
                    "(model.weights_dir) or model.trainable=all.",
                    step + 1,
                )
            opt.step()
            sched.step()
            opt.zero_grad(set_to_none=True)
            step += 1
            if ema is not None:
                ema.update(model, step)
            result.losses.append(step_loss)
            window.setdefault("grad_norm", []).append(float(norm))
            progress.update(step, loss=step_loss)

            if step % cfg.logging.every_steps == 0 or step == cfg.schedule.max_steps:
                dt = time.perf_counter() - t_window
                metrics = {k: float(np.mean(v)) for k, v in window.items()}
                metrics.update(
                    lr=sched.get_last_lr()[0],
                    samples_per_s=samples_window / dt,
                    tokens_per_s=tokens_window / dt,
                    audio_prob=cfg.task_mix.audio_prob(step) if cfg.stage == 2 else 0.0,
                )
                metrics.update({f"data/{k}": float(v) for k, v in data_state.counts.items()})
                logger.write(step, metrics)
                if report is not None:
                    report(metrics)
                result.metrics = metrics
                window, t_window, samples_window, tokens_window = {}, time.perf_counter(), 0, 0

            if step % cfg.checkpoint.every_steps == 0 or step == cfg.schedule.max_steps:
                result.last_checkpoint = _save(
                    cfg, step, model, ema, opt, sched, data_state, gather, rank, sharded
                )
    finally:
        progress.close()
        logger.close()
    result.steps = step
    return result


def _save(cfg, step, model, ema, opt, sched, data_state, gather, rank, sharded) -> Path | None:
    """Rank 0 writes; every rank contributes its loader cursors (and shards, when sharded)."""
    states = gather(data_state.state_dict()) if gather is not None else [data_state.state_dict()]
    full = sharded.gather(model, opt) if sharded is not None else None
    ema_full = ema.full_shadow() if ema is not None and sharded is not None else None
    if rank != 0:
        return None
    merged: dict[str, Any] = {"cursors": {}, "counts": {}}
    for s in states:
        merged["cursors"].update(s["cursors"])
        for k, v in s["counts"].items():
            merged["counts"][k] = merged["counts"].get(k, 0) + v
    weights, optim_state = full if full is not None else (model_state(model), opt.state_dict())
    return save_checkpoint(
        cfg.checkpoint_dir(),
        step,
        model=weights,
        ema=ema.ema_state(weights, ema_full) if ema is not None else None,
        optimizer=optim_state,
        trainer_state={
            "scheduler": sched.state_dict(),
            "data": merged,
            "config": cfg.model_dump(mode="json"),
            "config_hash": cfg.config_hash(),
        },
        keep_last=cfg.checkpoint.keep_last,
        extra_files={"humo_config.json": model.config.to_json()} if hasattr(model, "config") else None,
    )
