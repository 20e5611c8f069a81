"""The GPU profile (configs/gpu.yaml) as one job, with per-stage throughput from the manifest.

With a GPU (torch sees one): the profile runs on real devices with the real weights its paths name
(override them with --set), and writes benchmarks/results/gpu_profile.json: per stage clips/s and
GPU seconds per video-second (the stage's worker-seconds x its GPU share / seconds of clip it saw).

Without a GPU: the CPU rehearsal. Tiny random weights in each backend's layout, a local Ray that
declares the GPUs the plan needs, backends that ask for cuda on the CPU; writes
benchmarks/results/gpu_profile_cpu_rehearsal.json (its stage seconds show scheduling and plumbing,
never model speed) and prints what a real run needs: every weights path and the GPUs.

    python benchmarks/gpu_profile.py                                   # tests/data, auto mode
    python benchmarks/gpu_profile.py --input /data/sample --set faces.model_dir=/weights/insightface
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from humo_data.config import load_config  # noqa: E402
from humo_data.rehearsal.report import real_run_needs, rehearse_and_report, torch_sees_gpu  # noqa: E402

RESULTS = REPO / "benchmarks" / "results"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--input", default=str(REPO / "tests" / "data"), help="videos to curate")
    ap.add_argument("--set", dest="overrides", action="append", default=[], help="config override")
    ap.add_argument("--tiny", action="store_true", help="the CPU rehearsal even where a GPU is present")
    ap.add_argument("--gpus", type=int, default=None, help="GPUs the local Ray declares")
    ap.add_argument("--keep", type=Path, default=None, help="keep the output dataset here")
    args = ap.parse_args()

    needs = real_run_needs("gpu")
    real = torch_sees_gpu() and not args.tiny
    work = Path(tempfile.mkdtemp(prefix="gpu_profile_"))
    output = str(args.keep or work / "out")
    try:
        if real:
            missing = [w for w in needs["weights"] if not w["present"]]
            if missing:
                sys.exit("weights missing (set them with --set):\n" + "\n".join(
                    f"  {w['stage']}.{w['field']} = {w['path']}" for w in missing))  # fmt: skip
            cfg = load_config("gpu", ["ray.address=null", "writer.report=false", *args.overrides])
            report = rehearse_and_report(args.input, output, None, real_cfg=cfg, num_gpus=args.gpus)
            path = RESULTS / "gpu_profile.json"
        else:
            extra = ["writer.report=false", *args.overrides]
            report = rehearse_and_report(args.input, output, str(work / "weights"), extra, num_gpus=args.gpus)
            path = RESULTS / "gpu_profile_cpu_rehearsal.json"
    finally:
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)
    report["input"] = Path(args.input).name
    report["real_run_needs"] = needs
    if not real:
        report["note"] = (
            "CPU rehearsal with tiny random weights: stage seconds show scheduling, model loading and "
            "plumbing on this machine, not model speed. No GPU was available; run this script on a GPU "
            "machine with the real weights for the throughput of the profile."
        )
    RESULTS.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=2, default=str) + "\n")
    print(json.dumps({k: report[k] for k in ("mode", "checks", "declared_gpus", "wall_seconds")}, indent=2))
    for name, s in report["stages"].items():
        print(
            f"  {name:18s} {s['runs_as'] or '':40s} {s['seconds']:8.2f} s  {s['clips_per_second'] or 0:7.3f} clips/s"
        )
    if not real:
        print("\na real run of configs/gpu.yaml needs:")
        for w in needs["weights"]:
            print(
                f"  {w['stage']}.{w['field']}: {w['path']} ({'present' if w['present'] else 'missing here'})"
            )
        g = needs["gpus"]
        print(f"  GPUs: {max(g['stream_min'], g['captions_min']):g} to start (stream {g['stream_min']:g}, "
              f"captions {g['captions_min']:g}); {max(g['stream_max'], g['captions_max']):g} for every pool "
              "at max_actors")  # fmt: skip
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
