"""HuMo DiT cost per training sample and, where a device runs it, step time and MFU (not a test).

For each preset: DiT parameters, tokens per sample and model FLOPs per sample (forward + backward
= 3 x forward matmul FLOPs, ``HuMo.flops_per_sample``). With ``--measure``, times full training
steps (``training_loss`` + backward + AdamW on the stage's parameters) on random cached features
(no encoders), bf16 autocast on CUDA, and reports samples/s, tokens/s and MFU against ``--peak-tflops``.

    python benchmarks/model_flops.py --out benchmarks/results/model_flops.json
    python benchmarks/model_flops.py --measure humo-1.7b --frames 97 --height 480 --width 832 \
        --peak-tflops 989 --checkpointing --out benchmarks/results/model_flops_h100.json
    python benchmarks/model_flops.py --measure tiny --frames 33 --height 128 --width 128   # CPU
"""

from __future__ import annotations

import json
import platform
import sys
import time
from pathlib import Path

import torch
import typer

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from humo_data.train.batch import TrainBatch  # noqa: E402
from humo_data.train.model import HuMoConfig, build_humo  # noqa: E402
from humo_data.train.model.transformer import HuMoTransformer  # noqa: E402

SIZES = {"tiny": (33, 128, 128), "humo-1.7b": (97, 480, 832), "humo-17b": (97, 720, 1280)}


def static_costs() -> dict:
    out = {}
    for name, (f, h, w) in SIZES.items():
        cfg = HuMoConfig.preset(name)
        with torch.device("meta"):
            dit = HuMoTransformer(cfg)
        params = sum(p.numel() for p in dit.parameters())
        model = build_humo(cfg, with_encoders=False) if name == "tiny" else None
        probe = model or _Costing(cfg)
        out[name] = {
            "frames": f,
            "height": h,
            "width": w,
            "dit_parameters": params,
            "tokens_per_sample": probe.num_tokens(f, h, w),
            "train_flops_per_sample": probe.flops_per_sample(f, h, w),
        }
    return out


class _Costing:
    """num_tokens / flops_per_sample without building a large model."""

    def __init__(self, cfg: HuMoConfig) -> None:
        from humo_data.train.model.humo import HuMo

        self.config = cfg
        self.latent_grid = HuMo.latent_grid.__get__(self)
        self.num_tokens = HuMo.num_tokens.__get__(self)
        self.flops_per_sample = HuMo.flops_per_sample.__get__(self)


def random_batch(cfg: HuMoConfig, b: int, frames: int, h: int, w: int, device) -> TrainBatch:
    f = 1 + (frames - 1) // 4
    return TrainBatch(
        video=None,
        references=torch.zeros(b, 1, 1, 1, 3, dtype=torch.uint8),
        reference_valid=torch.ones(b, 1, dtype=torch.bool),
        audio=torch.zeros(b, 1),
        has_audio=torch.ones(b, dtype=torch.bool),
        captions=[""] * b,
        face_boxes=torch.tensor([[0.3, 0.2, 0.7, 0.6]] * b),
        clip_ids=[str(i) for i in range(b)],
        video_latents=torch.randn(b, 16, f, h // 8, w // 8, device=device),
        text_embeddings=torch.randn(b, 120, cfg.text_dim, device=device),
        audio_features=torch.randn(b, frames, cfg.audio_bands, cfg.audio_channels, device=device),
        extras={"reference_latents": torch.randn(b, 16, 1, h // 8, w // 8, device=device)},
    )


def measure(
    preset: str,
    frames: int,
    height: int,
    width: int,
    batch: int,
    steps: int,
    stage: int,
    checkpointing: bool,
    peak_tflops: float | None,
) -> dict:
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    cfg = HuMoConfig.preset(preset, gradient_checkpointing=checkpointing)
    model = build_humo(cfg, device=device, with_encoders=False)
    model.set_trainable(stage)
    model.train()
    opt = torch.optim.AdamW(
        [p for p in model.parameters() if p.requires_grad], lr=1e-5, fused=device.type == "cuda"
    )
    data = random_batch(cfg, batch, frames, height, width, device)
    use_audio = torch.ones(batch, dtype=torch.bool, device=device)
    amp = (
        torch.autocast("cuda", dtype=torch.bfloat16)
        if device.type == "cuda"
        else torch.autocast("cpu", enabled=False)
    )

    def step():
        with amp:
            loss = model.training_loss(data, use_audio=use_audio)["loss"]
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)

    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    step()  # warm-up (allocator, kernels)
    sync()
    t0 = time.perf_counter()
    for _ in range(steps):
        step()
    sync()
    dt = (time.perf_counter() - t0) / steps
    flops = model.flops_per_sample(frames, height, width) * batch
    res = {
        "preset": preset,
        "device": torch.cuda.get_device_name() if device.type == "cuda" else platform.processor() or "cpu",
        "frames": frames, "height": height, "width": width, "batch": batch, "stage": stage,
        "gradient_checkpointing": checkpointing, "dtype": "bf16 autocast" if device.type == "cuda" else "fp32",
        "step_s": dt, "samples_per_s": batch / dt,
        "tokens_per_s": batch * model.num_tokens(frames, height, width) / dt,
        "achieved_tflops": flops / dt / 1e12,
    }  # fmt: skip
    if device.type == "cuda":
        res["peak_memory_gib"] = torch.cuda.max_memory_allocated() / 2**30
    if peak_tflops:
        res["peak_tflops"] = peak_tflops
        res["mfu"] = res["achieved_tflops"] / peak_tflops
    return res


def main(
    measure_preset: str = typer.Option(
        None, "--measure", help="Preset to time (tiny on CPU; real presets need a GPU)."
    ),
    frames: int = typer.Option(97, help="Frames (4k+1)."),
    height: int = typer.Option(480),
    width: int = typer.Option(832),
    batch: int = typer.Option(1),
    steps: int = typer.Option(5, help="Timed steps after one warm-up."),
    stage: int = typer.Option(2, help="Trainable set (FLOPs count full backward either way)."),
    checkpointing: bool = typer.Option(False, help="Gradient checkpointing."),
    peak_tflops: float = typer.Option(None, help="Dense bf16 peak of the GPU (H100 SXM: 989)."),
    out: Path = typer.Option(None, help="Write the JSON here."),
) -> None:
    result = {"static": static_costs(), "torch": torch.__version__}
    if measure_preset:
        result["measured"] = measure(
            measure_preset, frames, height, width, batch, steps, stage, checkpointing, peak_tflops
        )
    text = json.dumps(result, indent=1)
    print(text)
    if out:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text + "\n")


if __name__ == "__main__":
    typer.run(main)
