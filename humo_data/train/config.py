"""Pydantic config of a training run: model preset, data, optimiser, schedule, stage, task mix,
EMA, precision, checkpointing, logging and Ray. YAML profiles live in configs/train/.

    cfg = load_train_config("stage1", overrides=["optim.lr=5e-5", "data.sources=[out/]"])

Every model forbids unknown keys (a typo fails at start-up with the dotted key named). The
resolved config is saved beside the checkpoints (``trainer_state.json``) so a run explains itself.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field, model_validator

from humo_data.config_base import (
    StrictModel,
    apply_override,
    build_model,
    configs_dir,
    load_yaml,
    resolve_profile,
)


class ModelConfig(StrictModel):
    preset: str = Field("tiny", description="HuMoConfig preset: tiny, humo-1.7b, humo-17b.")
    weights_dir: str | None = Field(
        None,
        description="Local directory of released HuMo / Wan2.1 weights to fine-tune from (None = random init).",
    )
    gradient_checkpointing: bool = Field(
        False, description="Recompute block activations in backward (saves memory)."
    )
    trainable: Literal["stage", "all"] = Field(
        "stage",
        description="stage = model.set_trainable(stage) (paper); all = the whole DiT + mask predictor "
        "(pretraining a base from scratch, sanity checks). Encoders stay frozen either way.",
    )


class DataConfig(StrictModel):
    sources: list[str] = Field(
        default_factory=list,
        description="Dataset dirs (curate output or triplets/ dir), shard globs / URIs (fsspec), or HuMoSet folders.",
    )
    format: Literal["auto", "triplets", "humoset"] = Field(
        "auto", description="How to read each source; auto = HuMoSet when video_caption.parquet is present."
    )
    frames: int = Field(
        97, ge=1, description="Frames per sample at `fps` (must be 4k+1: Wan VAE temporal stride)."
    )
    fps: float = Field(25.0, gt=0, description="Sample frame rate; clips at other rates are resampled.")
    height: int = Field(480, ge=16, description="Bucket height (multiple of 16).")
    width: int = Field(832, ge=16, description="Bucket width (multiple of 16).")
    buckets: list[tuple[int, int]] = Field(
        default_factory=list,
        description="Optional aspect buckets [[H, W], ...]: each clip goes to the one nearest its aspect ratio "
        "and batches hold one bucket. Empty = every clip to height x width.",
    )
    short_clips: Literal["skip", "error"] = Field(
        "skip", description="A clip with fewer than `frames` frames is skipped (counted) or raises."
    )
    clip_start: Literal["random", "start"] = Field(
        "random",
        description="Where the frame window starts in a longer clip (random is seeded per epoch+clip).",
    )
    video_reader: Literal["pyav", "decord"] = Field(
        "pyav",
        description="Decoder of the clip windows: pyav, or decord (the `decord` extra). Both give the same "
        "frames (tests/train/test_video_readers.py); PyAV is the default because decord used more CPU "
        "per clip on shard clips (benchmarks/train_decode.py) and fails at some small widths.",
    )
    max_references: int = Field(1, ge=0, description="Reference images per sample (extra ones are dropped).")
    text_dropout: float = Field(
        0.1, ge=0, le=1, description="Probability that a caption is replaced by '' (null text)."
    )
    row_filter: Literal["none", "stage1", "stage2"] = Field(
        "none", description="Keep only rows whose stage1 / stage2 flag is set."
    )
    audio_sample_rate: int = Field(16000, description="Audio rate fed to the model (Whisper: 16 kHz).")
    batch_size: int = Field(1, ge=1, description="Samples per micro-batch per rank.")
    num_workers: int = Field(0, ge=0, description="DataLoader worker processes per rank (0 = in-process).")
    shuffle: bool = Field(True, description="Shuffle row-group order and rows within a row group (seeded).")
    on_error: Literal["raise", "skip"] = Field(
        "raise",
        description="A corrupt clip / unreadable reference raises (naming shard+row) or is skipped and counted.",
    )
    features: str | None = Field(
        None, description="Directory of cached features (written by `humo-data features`) joined by clip_id."
    )

    @model_validator(mode="after")
    def _check(self) -> DataConfig:
        if (self.frames - 1) % 4:
            raise ValueError(f"data.frames must be 4k+1 (Wan VAE temporal stride), got {self.frames}")
        for h, w in [(self.height, self.width), *self.buckets]:
            if h % 16 or w % 16:
                raise ValueError(f"bucket {h}x{w} must be multiples of 16")
        return self

    def all_buckets(self) -> list[tuple[int, int]]:
        return [tuple(b) for b in self.buckets] or [(self.height, self.width)]

    def bucket_for(self, src_h: int, src_w: int) -> tuple[int, int]:
        """The bucket whose aspect ratio is nearest the source's (in log space: 2:1 and 1:2 are equally far)."""
        import math

        aspect = math.log(src_w / src_h)
        return min(self.all_buckets(), key=lambda b: abs(math.log(b[1] / b[0]) - aspect))


class OptimConfig(StrictModel):
    lr: float = Field(1e-5, gt=0, description="AdamW peak learning rate.")
    betas: tuple[float, float] = Field((0.9, 0.999), description="AdamW betas.")
    weight_decay: float = Field(0.01, ge=0, description="AdamW decoupled weight decay.")
    eps: float = Field(1e-8, gt=0, description="AdamW epsilon.")
    grad_clip: float | None = Field(1.0, description="Max global grad norm (None = no clipping).")
    grad_accum: int = Field(1, ge=1, description="Micro-batches accumulated per optimiser step.")


class ScheduleConfig(StrictModel):
    max_steps: int = Field(1000, ge=1, description="Optimiser steps of the run.")
    warmup_steps: int = Field(0, ge=0, description="Linear warm-up from 0 to lr over this many steps.")
    decay: Literal["constant", "cosine", "linear"] = Field("constant", description="Shape after warm-up.")
    min_lr_ratio: float = Field(
        0.0, ge=0, le=1, description="Floor of cosine/linear decay as a fraction of lr."
    )


class TaskMixConfig(StrictModel):
    """Stage 2 mixes subject-only and subject+audio tasks (paper: 80/20 ramping to 50/50)."""

    audio_start: float = Field(0.2, ge=0, le=1, description="P(use_audio) at step 0 (rows with audio only).")
    audio_end: float = Field(0.5, ge=0, le=1, description="P(use_audio) after the ramp.")
    ramp_steps: int = Field(1000, ge=0, description="Steps of the linear ramp from audio_start to audio_end.")

    def audio_prob(self, step: int) -> float:
        if self.ramp_steps == 0:
            return self.audio_end
        frac = min(max(step / self.ramp_steps, 0.0), 1.0)
        return self.audio_start + frac * (self.audio_end - self.audio_start)


class EMAConfig(StrictModel):
    enabled: bool = Field(
        True, description="Keep an EMA of trainable weights (the HuMo 1.7B release is one)."
    )
    decay: float = Field(0.9999, gt=0, lt=1, description="EMA decay per update.")
    start_step: int = Field(0, ge=0, description="EMA copies the weights until this step, then averages.")
    every: int = Field(1, ge=1, description="Update the EMA every N optimiser steps.")


class CheckpointConfig(StrictModel):
    dir: str | None = Field(None, description="Checkpoint directory (None = <output>/checkpoints).")
    every_steps: int = Field(500, ge=1, description="Save every N optimiser steps (and at the end).")
    keep_last: int = Field(3, ge=1, description="Checkpoints kept; older ones are deleted.")
    resume: str | None = Field(
        "auto",
        description="'auto' = latest checkpoint in dir if any, a checkpoint path, or None (fresh start).",
    )


class LoggingConfig(StrictModel):
    every_steps: int = Field(
        10,
        ge=1,
        description="Log metrics (and print a progress line, in lines mode) every N optimiser steps.",
    )
    progress: Literal["auto", "bar", "lines", "off"] = Field(
        "auto",
        description="Console progress on rank 0: bar = a live bar (step, loss, steps/s, ETA); lines = one "
        "plain line every `every_steps` steps (for logs); auto = bar when stdout is a terminal, else "
        "lines; off = none.",
    )
    tensorboard: bool = Field(True, description="Write TensorBoard events under <output>/logs.")
    jsonl: bool = Field(
        True, description="Append one JSON line per logged step to <output>/logs/metrics.jsonl."
    )


class RayTrainConfig(StrictModel):
    num_workers: int = Field(1, ge=1, description="Training workers (one per GPU).")
    use_gpu: bool = Field(True, description="One GPU per worker; False runs gloo on CPU (tests).")
    strategy: Literal["auto", "ddp", "fsdp"] = Field(
        "auto", description="auto = FSDP (fully_shard per block) for humo-17b, DDP otherwise."
    )
    address: str | None = Field(None, description="Ray cluster address (None = local).")
    storage_path: str | None = Field(None, description="Ray Train storage (None = <output>/ray).")


class TrainConfig(StrictModel):
    """One training run. ``stage`` picks the trainable set (model.set_trainable)."""

    stage: Literal[1, 2] = Field(
        1, description="1: self-attention only, no audio. 2: + audio modules, mask predictor."
    )
    seed: int = Field(0, description="Seeds data order, dropout, timesteps/noise and the task mix.")
    output: str = Field("out/train", description="Run directory: checkpoints/, logs/, config.")
    precision: Literal["auto", "bf16", "fp32"] = Field(
        "auto", description="auto = bf16 autocast on CUDA, fp32 on CPU. Weights stay fp32 (master)."
    )
    device: str = Field("auto", description="auto = cuda when available, else cpu.")
    debug_fixed_draws: bool = Field(
        False,
        description="Reuse the same timestep/noise/task draws at every step (per micro-batch slot): a check "
        "that the loop can memorise a batch. Never for real training.",
    )
    model: ModelConfig = ModelConfig()
    data: DataConfig = DataConfig()
    optim: OptimConfig = OptimConfig()
    schedule: ScheduleConfig = ScheduleConfig()
    task_mix: TaskMixConfig = TaskMixConfig()
    ema: EMAConfig = EMAConfig()
    checkpoint: CheckpointConfig = CheckpointConfig()
    logging: LoggingConfig = LoggingConfig()
    ray: RayTrainConfig = RayTrainConfig()

    def checkpoint_dir(self) -> Path:
        return Path(self.checkpoint.dir) if self.checkpoint.dir else Path(self.output) / "checkpoints"


def train_configs_dir() -> Path:
    return configs_dir() / "train"


def resolve_train_profile(name_or_path: str | Path) -> Path:
    return resolve_profile(name_or_path, train_configs_dir(), kind="training profile")


def load_train_config(
    profile: str | Path = "tiny_cpu", overrides: list[str] | None = None, data: dict[str, Any] | None = None
) -> TrainConfig:
    """A profile name in configs/train/ or a YAML path, then ``a.b=value`` overrides."""
    path = resolve_train_profile(profile)
    raw = load_yaml(path)
    for section, values in (data or {}).items():
        raw[section] = {**raw.get(section, {}), **values} if isinstance(values, dict) else values
    for assignment in overrides or []:
        apply_override(raw, assignment)
    return build_model(TrainConfig, raw, origin=str(path))
