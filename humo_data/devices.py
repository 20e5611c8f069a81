"""Where a model backend runs: the torch device a config asks for, or the CPU when no GPU is there.

Every torch-family backend (open_clip, SyncNet, the transformers VLM, faster-whisper) picks its
device here, so a profile written for GPU workers (``device: cuda``) also runs where torch sees no
GPU (a CPU rehearsal of configs/gpu.yaml, a laptop, a cluster node whose driver is broken) instead
of failing in setup. The fallback is never silent: one warning per backend and process says what
was asked for, what Ray assigned and where the backend runs instead.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import dataclass

log = logging.getLogger(__name__)
_warned: set[str] = set()


def torch_sees_gpu() -> bool:
    try:
        import torch
    except ImportError:  # pragma: no cover - the models extra is not installed
        return False
    return bool(torch.cuda.is_available())


def resolve_device(
    requested: str, backend: str, has_gpu: Callable[[], bool] = torch_sees_gpu, library: str = "torch"
) -> str:
    """``requested`` ('auto', 'cpu', 'cuda', 'cuda:1', ...) -> the device ``backend`` runs on.

    'auto' means CUDA when present; a CUDA request without a visible GPU falls back to 'cpu' with
    one warning. ``has_gpu`` is the check of the library that runs the model (torch by default;
    CTranslate2 has its own)."""
    wants_cuda = requested == "auto" or requested.startswith("cuda")
    if not wants_cuda:
        return requested
    if has_gpu():
        return "cuda" if requested == "auto" else requested
    if requested != "auto" or _ray_assigned_gpus():
        _warn_once(backend, requested, library)
    return "cpu"


@dataclass(frozen=True)
class HardwareChoice:
    """What a worker uses for one job of the cut stage (``libx264``/``h264_nvenc``, ``cpu``/``nvdec``)
    and why."""

    name: str
    reason: str


def choose_hardware(
    setting: str, choice: str, *, software: tuple[str, str], hardware: tuple[str, str],
    preflight: Callable[[], str | None], fallback: str, logger: logging.Logger,
) -> HardwareChoice:  # fmt: skip
    """A ``software|auto|hardware`` setting (``clips.encoder``, ``clips.decoder``) resolved on this
    worker. ``software``/``hardware``: (setting value, name recorded per clip). ``hardware`` fails
    when ``preflight`` gives a reason (asked for explicitly, a silent CPU path would hide a broken GPU
    worker); ``auto`` falls back to ``software`` with one log line (``fallback`` says what it does
    instead), the reason carrying the hint when Ray hid the GPU. Callers cache it per process."""
    soft_value, soft_name = software
    hard_value, hard_name = hardware
    if choice == soft_value:
        return HardwareChoice(soft_name, f"{setting}={soft_value}")
    why_not = preflight()
    if why_not is None:
        return HardwareChoice(hard_name, "preflight passed")
    why_not += no_gpu_hint("clips.resources.num_gpus")
    if choice == hard_value:
        raise RuntimeError(f"{setting}={hard_value} but {why_not}; use {setting}=auto or {soft_value}")
    logger.warning("%s=auto: %s on this worker, %s", setting, fallback, why_not)
    return HardwareChoice(soft_name, f"auto: {why_not}")


def no_gpu_hint(share: str) -> str:
    """A hint for a GPU check that failed where Ray hid every GPU: Ray sets CUDA_VISIBLE_DEVICES=""
    for a task that asked for none, so the stage needs a GPU share (``share``, a config key)."""
    if os.environ.get("CUDA_VISIBLE_DEVICES") == "":
        return f" (no GPU visible to this worker: give the stage a GPU share, {share} > 0)"
    return ""


def _ray_assigned_gpus() -> list[str]:
    """GPU ids Ray gave this worker (empty outside Ray or for a CPU-only task)."""
    try:
        import ray

        return [str(g) for g in ray.get_gpu_ids()] if ray.is_initialized() else []
    except Exception:  # noqa: BLE001 - outside a Ray worker there is nothing to report
        return []


def _warn_once(backend: str, requested: str, library: str) -> None:
    if backend in _warned:
        return
    _warned.add(backend)
    gpus = _ray_assigned_gpus()
    assigned = f"Ray assigned GPU {','.join(gpus)}, " if gpus else ""
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    env = f" (CUDA_VISIBLE_DEVICES={visible})" if visible is not None else ""
    log.warning(
        "%s: device %r asked for, %sbut %s sees no GPU%s: running on cpu",
        backend, requested, assigned, library, env,
    )  # fmt: skip
