"""The rehearsal's report: per-stage throughput from the manifest, the checks, and what a real run
of the profile needs (its weights, with whether each is on this machine, and GPUs).

Throughput comes from the manifest's per-stage stats (``stages.<name>.stats``, summed over every
run and worker): ``clips_per_second`` is clips over the stage's worker-seconds (one actor's rate),
``gpu_seconds_per_video_second`` charges the stage's GPU share (``resources.num_gpus``) for those
seconds, per second of clip it saw (mean clip length of the committed triplets). On a CPU
rehearsal with tiny models these numbers show scheduling and plumbing, never model speed.
"""

from __future__ import annotations

import platform
from typing import Any

from humo_data.config import CurateConfig, load_config
from humo_data.io.dataset import open_dataset
from humo_data.jobs.plan import CurationPlan
from humo_data.rehearsal.profile import PROFILE, REHEARSAL_OVERRIDES, gpus_needed, real_weights_report


def stage_throughput(manifest: dict[str, Any], plan: CurationPlan) -> dict[str, dict[str, Any]]:
    counts = manifest.get("counts", {})
    clips = counts.get("triplets", 0)
    mean_clip_seconds = counts.get("video_seconds", 0.0) / clips if clips else 0.0
    gpu_share = {s.name: s.resources.num_gpus for s in (*plan.stream, *plan.captions)}
    runs_as = {i.name: i.runs_as for i in plan.describe()}
    out = {}
    for name, entry in manifest.get("stages", {}).items():
        stats = entry.get("stats") or {}
        seconds, rows = stats.get("seconds", 0.0), stats.get("rows_in", 0)
        if not rows:
            continue
        share = gpu_share.get(name, 0.0)
        video = rows * mean_clip_seconds
        out[name] = {
            "backend": entry.get("backend"),
            "runs_as": runs_as.get(name),
            "rows_in": rows,
            "rows_out": stats.get("rows_out", 0),
            "seconds": round(seconds, 3),
            "cpu_seconds": round(stats.get("cpu_seconds", 0.0), 3),
            "clips_per_second": round(rows / seconds, 3) if seconds else None,
            "num_gpus": share,
            "gpu_seconds_per_video_second": round(seconds * share / video, 4) if share and video else None,
        }
    return out


def real_run_needs(profile: str = PROFILE) -> dict[str, Any]:
    """What ``humo-data curate --config <profile>`` needs on a cluster: weights and GPUs."""
    cfg = load_config(profile)
    plan = CurationPlan.build(cfg)
    return {"profile": profile, "weights": real_weights_report(cfg), "gpus": gpus_needed(plan)}


def build_report(output: str, cfg: CurateConfig, mode: str, checks: dict[str, list[str]],
                 extra: dict[str, Any] | None = None) -> dict[str, Any]:  # fmt: skip
    manifest = open_dataset(output).manifest
    plan = CurationPlan.build(cfg)
    counts = manifest.get("counts", {})
    return {
        "mode": mode,
        "machine": {"python": platform.python_version(), "platform": platform.platform()},
        "overrides": REHEARSAL_OVERRIDES if mode == "cpu-rehearsal" else {},
        "counts": {k: counts.get(k) for k in ("triplets", "rejects", "video_seconds", "subsets")},
        "stages": stage_throughput(manifest, plan),
        "phases": (manifest.get("runs") or [{}])[-1].get("stats", {}).get("phases", {}),
        "checks": {k: (v or "ok") for k, v in checks.items()},
        **(extra or {}),
    }


def torch_sees_gpu() -> bool:
    from humo_data.devices import torch_sees_gpu as sees

    return sees()


def rehearse_and_report(
    input: str,
    output: str,
    weights_root: str | None,
    extra: list[str] | tuple[str, ...] = (),
    real_cfg: CurateConfig | None = None,
    num_gpus: int | None = None,
) -> dict[str, Any]:
    """Run the profile (``real_cfg`` on real devices, else the CPU rehearsal with tiny weights under
    ``weights_root``), check the result and return the report."""
    from pathlib import Path

    from humo_data.rehearsal.checks import check_rehearsal
    from humo_data.rehearsal.run import rehearse

    mode = "gpu" if real_cfg is not None else "cpu-rehearsal"
    result = rehearse(input, output, Path(weights_root) if weights_root else None, extra,
                      cfg=real_cfg, num_gpus=num_gpus)  # fmt: skip
    checks = check_rehearsal(output, result.config, result.actors)
    return build_report(output, result.config, mode, checks, {
        "declared_gpus": result.num_gpus,
        "actors": result.actors,
        "wall_seconds": round(result.summary.wall_seconds, 2),
        "weights_seconds": round(result.weights_seconds, 2),
        "ok": result.summary.ok,
    })  # fmt: skip
