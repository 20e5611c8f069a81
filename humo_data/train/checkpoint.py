"""Atomic, resumable training checkpoints.

    checkpoints/
      step-00000500/
        model.safetensors     trainable modules' weights (transformer + mask predictor; frozen
                              encoders are rebuilt from their own paths, never copied per step)
        ema.safetensors       the same keys with EMA values (what a release would ship)
        optimizer.pt          AdamW state (torch.save; loads with weights_only=True)
        rng.pt                torch / CUDA / numpy / python RNG states of rank 0
        humo_config.json      the model's HuMoConfig (``generate --checkpoint`` reads it)
        trainer_state.json    step, LR scheduler, data-loader cursors of every rank/worker,
                              running counts, resolved config
      latest                  name of the newest complete checkpoint

A checkpoint is written to ``.step-N.tmp/`` and renamed into place; ``latest`` is replaced
atomically after that, so a crash mid-save leaves the previous checkpoint intact and current.
"""

from __future__ import annotations

import json
import os
import random
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load_file, save_file
from torch import nn

from humo_data.io.atomic import fsync_dir

ENCODER_PREFIXES = ("vae.", "text_encoder.", "audio_encoder.")
LATEST = "latest"


def checkpoint_name(step: int) -> str:
    return f"step-{step:08d}"


def model_state(model: nn.Module) -> dict[str, torch.Tensor]:
    """State of everything but the frozen encoders, as contiguous CPU tensors (safetensors-ready)."""
    out: dict[str, torch.Tensor] = {}
    seen: dict[int, str] = {}
    for k, v in model.state_dict().items():
        if k.startswith(ENCODER_PREFIXES):
            continue
        t = v.detach()
        if t.data_ptr() in seen and t.numel():  # tied tensors: safetensors refuses shared storage
            t = t.clone()
        seen[t.data_ptr()] = k
        out[k] = t.contiguous().cpu()
    return out


def rng_state() -> dict[str, Any]:
    state: dict[str, Any] = {
        "torch": torch.get_rng_state(),
        "numpy": np.random.get_state(),
        "python": random.getstate(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    np.random.set_state(state["numpy"])
    random.setstate(state["python"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def save_checkpoint(
    directory: Path,
    step: int,
    *,
    model: dict[str, torch.Tensor],
    ema: dict[str, torch.Tensor] | None,
    optimizer: dict[str, Any],
    trainer_state: dict[str, Any],
    keep_last: int,
    extra_files: dict[str, str] | None = None,
) -> Path:
    """Write checkpoint ``step`` atomically; prune all but the newest ``keep_last``."""
    directory.mkdir(parents=True, exist_ok=True)
    final = directory / checkpoint_name(step)
    tmp = directory / f".{checkpoint_name(step)}.tmp"
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir()
    meta = {"format": "humo-data-train", "step": str(step)}
    save_file(model, tmp / "model.safetensors", metadata=meta)
    if ema is not None:
        save_file(ema, tmp / "ema.safetensors", metadata=meta)
    torch.save(optimizer, tmp / "optimizer.pt")
    torch.save(rng_state(), tmp / "rng.pt")
    (tmp / "trainer_state.json").write_text(
        json.dumps({"step": step, **trainer_state}, indent=1, default=str)
    )
    for name, text in (extra_files or {}).items():
        (tmp / name).write_text(text)
    for f in tmp.iterdir():
        with open(f, "rb") as fh:
            os.fsync(fh.fileno())
    if final.exists():  # a rerun of the same step replaces it
        shutil.rmtree(final)
    os.replace(tmp, final)
    latest_tmp = directory / f".{LATEST}.tmp"
    latest_tmp.write_text(final.name)
    os.replace(latest_tmp, directory / LATEST)
    fsync_dir(directory)
    for old in sorted(p for p in directory.glob("step-*") if p.is_dir())[:-keep_last]:
        shutil.rmtree(old, ignore_errors=True)
    return final


@dataclass
class Checkpoint:
    path: Path
    step: int
    model: dict[str, torch.Tensor]
    ema: dict[str, torch.Tensor] | None
    optimizer: dict[str, Any]
    rng: dict[str, Any]
    trainer_state: dict[str, Any]


def find_checkpoint(resume: str | None, directory: Path) -> Path | None:
    """'auto' -> the ``latest`` checkpoint in ``directory`` if any; a path -> that checkpoint."""
    if resume is None:
        return None
    if resume != "auto":
        p = Path(resume)
        if (p / LATEST).exists():
            p = p / (p / LATEST).read_text().strip()
        if not (p / "trainer_state.json").exists():
            raise FileNotFoundError(f"not a checkpoint (no trainer_state.json): {p}")
        return p
    pointer = directory / LATEST
    if not pointer.exists():
        return None
    return directory / pointer.read_text().strip()


def load_checkpoint(path: Path) -> Checkpoint:
    state = json.loads((path / "trainer_state.json").read_text())
    ema = load_file(path / "ema.safetensors") if (path / "ema.safetensors").exists() else None
    return Checkpoint(
        path=path,
        step=int(state["step"]),
        model=load_file(path / "model.safetensors"),
        ema=ema,
        optimizer=torch.load(path / "optimizer.pt", weights_only=True),
        rng=torch.load(path / "rng.pt", weights_only=False),  # numpy/python RNG tuples; our own file
        trainer_state=state,
    )


def load_model_state(model: nn.Module, state: dict[str, torch.Tensor]) -> None:
    """Strict on the saved (non-encoder) keys: a checkpoint that does not fit fails loudly."""
    own = {k for k in model.state_dict() if not k.startswith(ENCODER_PREFIXES)}
    missing, unexpected = own - set(state), set(state) - own
    if missing or unexpected:
        raise KeyError(
            f"checkpoint does not fit the model: {len(missing)} missing (e.g. {sorted(missing)[:3]}), "
            f"{len(unexpected)} unexpected (e.g. {sorted(unexpected)[:3]})"
        )
    model.load_state_dict(state, strict=False)
