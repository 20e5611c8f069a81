"""End-to-end training throughput of the bundled trainer (not a test).

Measures, on triplet shards (default: ``humo-data curate`` of tests/data/speaker_4s.mp4, i.e.
shards made by the real pipeline):
  - loader: samples/s of the streaming loader alone (PyAV window decode, resize/crop, reference
    fitting, 16 kHz audio cut) at the configured bucket;
  - train: the full loop (loader + frozen encoders + DiT forward/backward + AdamW + EMA), after
    warm-up steps: samples/s, tokens/s, step time; on CUDA also MFU = model FLOPs per sample x
    samples/s / peak FLOP/s (``--peak-tflops``, e.g. 989 for H100 SXM dense bf16).

    python benchmarks/train_throughput.py                                   # tiny preset, CPU
    python benchmarks/train_throughput.py --preset humo-1.7b --device cuda --frames 97 --height 480 \
        --width 832 --weights-dir weights/ --peak-tflops 989 --out benchmarks/results/train_h100.json
"""

from __future__ import annotations

import itertools
import json
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import typer

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def curated_sample(work: Path) -> Path:
    out = work / "curated"
    cmd = [sys.executable, "-m", "humo_data.cli", "curate", "--input", str(REPO / "tests/data/speaker_4s.mp4"),
           "--output", str(out), "--no-progress"]  # fmt: skip
    subprocess.run(cmd, check=True, cwd=REPO, capture_output=True)
    return out


def main(
    data: str = typer.Option(None, help="Triplet dataset dir / shards (default: curate the bundled sample)."),
    preset: str = typer.Option("tiny", help="Model preset."),
    device: str = typer.Option("cpu", help="cpu or cuda."),
    frames: int = typer.Option(33, help="Frames per sample (4k+1)."),
    height: int = typer.Option(128, help="Bucket height."),
    width: int = typer.Option(128, help="Bucket width."),
    batch_size: int = typer.Option(1, help="Samples per step."),
    steps: int = typer.Option(10, help="Timed optimiser steps."),
    warmup: int = typer.Option(2, help="Untimed steps first."),
    stage: int = typer.Option(2, help="Training stage (2 exercises the audio path)."),
    weights_dir: str = typer.Option(None, help="Released weights (needed for real-size presets)."),
    checkpointing: bool = typer.Option(False, help="Gradient checkpointing."),
    peak_tflops: float = typer.Option(None, help="Device peak dense TFLOP/s for MFU (CUDA)."),
    threads: int = typer.Option(2, help="torch CPU threads."),
    out: Path = typer.Option(REPO / "benchmarks/results/train_throughput_cpu_tiny.json", help="JSON output."),
) -> None:
    import torch

    from humo_data.train.config import load_train_config
    from humo_data.train.data.stream import TripletStream
    from humo_data.train.loop import build_model, train

    torch.set_num_threads(threads)
    work = Path(tempfile.mkdtemp(prefix="humo-bench-"))
    source = data or str(curated_sample(work))
    overrides = [
        f"data.sources=[{source}]", f"data.frames={frames}", f"data.height={height}", f"data.width={width}",
        f"data.batch_size={batch_size}", "data.text_dropout=0.1", f"model.preset={preset}", f"device={device}",
        f"stage={stage}", f"output={work / 'run'}", "checkpoint.resume=null", "checkpoint.every_steps=100000",
        f"schedule.max_steps={warmup + steps}", f"logging.every_steps={warmup + steps}",
        f"model.gradient_checkpointing={str(checkpointing).lower()}", "precision=auto", "logging.tensorboard=false",
    ]  # fmt: skip
    if weights_dir:
        overrides.append(f"model.weights_dir={weights_dir}")
    cfg = load_train_config("tiny_cpu", overrides)

    # Loader alone.
    n_load = 2 * (warmup + steps)
    t0 = time.perf_counter()
    for _ in itertools.islice(iter(TripletStream(cfg.data, seed=0)), n_load):
        pass
    loader_sps = n_load * batch_size / (time.perf_counter() - t0)

    # Full loop: time only the steps after warm-up (the logged window covers all steps, so run twice).
    model = build_model(cfg, torch.device(device))
    warm_cfg = cfg.model_copy(update={"schedule": cfg.schedule.model_copy(update={"max_steps": warmup})})
    train(warm_cfg, model=model)
    t0 = time.perf_counter()
    res = train(
        cfg.model_copy(update={"checkpoint": cfg.checkpoint.model_copy(update={"resume": None})}), model=model
    )
    wall = time.perf_counter() - t0
    sps = res.metrics["samples_per_s"]
    tokens = model.num_tokens(frames, height, width, max(1, cfg.data.max_references))
    flops = model.flops_per_sample(frames, height, width, max(1, cfg.data.max_references))
    result = {
        "machine": {"platform": platform.platform(), "python": platform.python_version(), "torch": torch.__version__,
                    "device": torch.cuda.get_device_name() if device == "cuda" else f"cpu x{threads} threads"},
        "data": source if data else "humo-data curate tests/data/speaker_4s.mp4 (real pipeline shards)",
        "preset": preset, "stage": stage, "frames": frames, "height": height, "width": width,
        "batch_size": batch_size, "timed_steps": warmup + steps, "warmup_steps_run_before": warmup,
        "loader_samples_per_s": loader_sps,
        "train_samples_per_s": sps, "train_tokens_per_s": res.metrics["tokens_per_s"],
        "step_time_s": batch_size / sps, "wall_s": wall, "tokens_per_sample": tokens,
        "model_flops_per_sample": flops, "achieved_tflops": flops * sps / 1e12,
        "final_loss": res.metrics["loss"],
    }  # fmt: skip
    if peak_tflops:
        result["mfu"] = flops * sps / (peak_tflops * 1e12)
        result["peak_tflops"] = peak_tflops
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    typer.run(main)
