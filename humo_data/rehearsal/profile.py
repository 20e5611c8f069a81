"""The GPU profile with tiny random weights: every weights path of configs/gpu.yaml replaced by a
model written here in that backend's own layout, loaded by the same loaders real weights take.

    paths = write_tiny_weights(root)              # {config key: path}, ~30 s on one core
    cfg = rehearsal_config(paths)                 # configs/gpu.yaml + those paths + REHEARSAL_OVERRIDES

What differs from the real profile besides the weights is listed in ``REHEARSAL_OVERRIDES`` (and
printed by ``benchmarks/gpu_profile.py``): a local cluster, and measure-only thresholds for scores
that random weights make meaningless (a random aesthetic head would reject every clip).
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from pathlib import Path

from humo_data.config import CurateConfig, load_config
from humo_data.jobs.plan import CurationPlan

PROFILE = "gpu"

#: real layouts: MDX-Net Voc_FT (n_fft 6144 -> dim_f 3072, dim_t 256); segmentation-3.0 (589 frames / 10 s)
MDX_DIM_F, MDX_DIM_T = 3072, 256
SEGMENTATION_FRAMES = 589


def _clip(root: Path) -> str:
    from humo_data.rehearsal.tiny_torch import tiny_open_clip

    return str(tiny_open_clip(root / "open_clip"))


def _head(root: Path) -> str:
    from humo_data.rehearsal.tiny_torch import TINY_CLIP, tiny_aesthetic_head

    path = root / "laion" / "aesthetic-head.pth"
    path.parent.mkdir(parents=True, exist_ok=True)
    tiny_aesthetic_head(path, TINY_CLIP["embed_dim"])
    return str(path)


def _insightface(root: Path) -> str:
    from humo_data.rehearsal.tiny_onnx import write_tiny_pack

    write_tiny_pack(
        root / "insightface" / "models" / "buffalo_l", one_face=True
    )  # model_dir/models/<model_name>/
    return str(root / "insightface")


def _whisper(root: Path) -> str:
    from humo_data.rehearsal.tiny_torch import tiny_whisper

    return str(tiny_whisper(root / "faster-whisper"))


def _mdx(root: Path) -> str:
    from humo_data.rehearsal.tiny_onnx import mdx_onnx

    (root / "mdx").mkdir(parents=True, exist_ok=True)
    return str(mdx_onnx(root / "mdx" / "mdx-vocals.onnx", MDX_DIM_F, MDX_DIM_T))


def _segmentation(root: Path) -> str:
    from humo_data.rehearsal.tiny_onnx import segmentation_onnx

    (root / "pyannote").mkdir(parents=True, exist_ok=True)
    return str(segmentation_onnx(root / "pyannote" / "segmentation.onnx", frames=SEGMENTATION_FRAMES))


def _syncnet(root: Path) -> str:
    from humo_data.rehearsal.tiny_torch import tiny_syncnet

    return str(tiny_syncnet(root / "syncnet" / "syncnet_v2.model"))


def _vlm(root: Path) -> str:
    from humo_data.rehearsal.tiny_torch import tiny_qwen25_vl

    return str(tiny_qwen25_vl(root / "qwen2.5-vl"))


#: every weights key of configs/gpu.yaml -> the writer of a tiny model in that backend's layout
#: (keys sharing a writer share one model: the CLIP embedder of aesthetic and caption alignment)
WRITERS: dict[str, Callable[[Path], str]] = {
    "aesthetic.clip_weights": _clip,
    "aesthetic.head_weights": _head,
    "caption_alignment.clip_weights": _clip,
    "faces.model_dir": _insightface,
    "audio.asr.model_dir": _whisper,
    "audio.separation.model_path": _mdx,
    "audio.diarization.model_path": _segmentation,
    "sync.weights": _syncnet,
    "captions.model_dir": _vlm,
}

#: what the rehearsal changes besides weights paths, and why
REHEARSAL_OVERRIDES: dict[str, str] = {
    "ray.address=null": "a local Ray cluster with declared GPUs instead of address=auto",
    "aesthetic.min_score=null": "a random aesthetic head's score means nothing: measure only",
    "caption_alignment.min_score=null": "a random CLIP's caption-frame score means nothing: measure only",
}


def write_tiny_weights(root: Path) -> dict[str, str]:
    """Write one tiny model per weights key of the GPU profile under ``root``; returns key -> path.
    Reuses what an earlier call wrote (a marker file per model)."""
    root = Path(root)
    done: dict[Callable[[Path], str], str] = {}
    paths = {}
    for key, writer in WRITERS.items():
        if writer not in done:
            marker = root / f".{writer.__name__.strip('_')}.path"
            if marker.exists() and Path(marker.read_text()).exists():
                done[writer] = marker.read_text()
            else:
                done[writer] = writer(root)
                marker.parent.mkdir(parents=True, exist_ok=True)
                marker.write_text(done[writer])
        paths[key] = done[writer]
    return paths


def weights_overrides(paths: dict[str, str]) -> list[str]:
    return [f"{key}={path}" for key, path in paths.items()]


def rehearsal_config(
    paths: dict[str, str], extra: list[str] | tuple[str, ...] = (), profile: str = PROFILE
) -> CurateConfig:
    """The GPU profile with the tiny weights and the rehearsal's overrides (then ``extra``)."""
    return load_config(profile, [*weights_overrides(paths), *REHEARSAL_OVERRIDES, *extra])


def configured_weights(plan: CurationPlan) -> dict[str, dict[str, str]]:
    """Stage -> {field: path} of the weights the config names (files shipped inside installed
    packages, such as Silero VAD, are not the profile's to provide and are left out)."""
    out = {}
    for stage in (*plan.stream, *plan.captions):
        named = {
            k: v for k, v in stage.weights().items() if v and "site-packages" not in Path(v).parts
        }  # fmt: skip
        if named:
            out[stage.name] = named
    return out


def untouched_weights(plan: CurationPlan, root: Path) -> list[str]:
    """Weights the rehearsal's config still takes from the real profile (a weights field that
    configs/gpu.yaml gained without a tiny writer here): ``stage.field=path`` each."""
    root = Path(root).resolve()
    return [
        f"{stage}.{field}={path}"
        for stage, fields in configured_weights(plan).items()
        for field, path in fields.items()
        if root not in Path(path).resolve().parents
    ]


def gpus_needed(plan: CurationPlan) -> dict[str, float]:
    """GPUs each phase holds at its actor pools' minimum sizes (what the job needs to start) and
    at their maximum sizes (what lets the pools scale out)."""

    def need(stages, size) -> float:
        return sum(size(s.resources) * s.resources.num_gpus for s in stages if s.actor)

    def lo(r):
        return r.min_actors or r.concurrency or 1

    def hi(r):
        return max(lo(r), r.max_actors or lo(r))

    return {
        "stream_min": need(plan.stream, lo),
        "stream_max": need(plan.stream, hi),
        "captions_min": need(plan.captions, lo),
        "captions_max": need(plan.captions, hi),
    }


def declared_gpus(plan: CurationPlan) -> int:
    """GPUs a rehearsal declares: the fewest whole GPUs every phase can start on."""
    g = gpus_needed(plan)
    return max(1, math.ceil(max(g["stream_min"], g["captions_min"])))


def real_weights_report(cfg: CurateConfig) -> list[dict[str, object]]:
    """The weights a real run of ``cfg`` loads, each with whether it exists on this machine."""
    plan = CurationPlan.build(cfg)
    return [
        {"stage": stage, "field": field, "path": path, "present": "://" in path or os.path.exists(path)}
        for stage, fields in configured_weights(plan).items()
        for field, path in fields.items()
    ]
