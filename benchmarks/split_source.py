"""One long multi-shot source cut whole vs in time ranges (``clips/ranges.py``), as JSON (not a test).

The source: every video of ``--media`` (``../shared/media``: talking heads, a multi-shot test
video, a VFR film clip, fades) scaled to 1920x1080 at 25 fps with their audio (silence where they
have none), joined end to end ``--repeat-media`` times: ~6 minutes of 1080p whose shots change at
every join and inside the multi-shot files. Built once into ``--work`` with the repo's ffmpeg.

Each contender is ``humo-data curate`` (front half: per-clip stages and later phases off, a fresh
local Ray cluster of ``--cpus`` CPUs each time, start-up included) on that one source:

- ``whole``: ``clips.split_min_seconds=0`` (one task cuts the source);
- ``split``: ``clips.split_when=always`` (the default ``alone`` splits only on clusters of
  ``clips.split_min_cpus`` CPUs or more), the other split settings at their defaults;
- ``split_warmup_5s``: the same with ``clips.split_warmup_seconds=5`` (the first default).

Runs alternate, ``--repeat`` each; the fastest of each is compared (the machine is shared), all are
listed. CPU seconds are those of the whole process tree (driver, raylet, workers). The outputs of
the two are compared too (clip ids, times, rejects: ``tests/pipeline/golden.fingerprint``).

    python benchmarks/split_source.py --cpus 2
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import sys
from pathlib import Path

import av
import typer

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks.curate_throughput import best, media_seconds, run_curate_subprocess  # noqa: E402
from humo_data.media.ffmpeg import run_ffmpeg, safe_path  # noqa: E402


def build_source(media: Path, out: Path, repeat: int) -> Path:
    """``media``'s videos at 1080p25 with 44.1 kHz mono audio, joined ``repeat`` times."""
    files = sorted(p for p in media.glob("*.mp4"))
    if not files:
        raise typer.BadParameter(f"no .mp4 files in {media}")
    args, parts = [], []
    for n, f in enumerate(files * repeat):
        args += ["-i", safe_path(f)]
        with av.open(str(f)) as c:
            audio = bool(c.streams.audio)
        seconds = media_seconds(f)
        parts.append(
            f"[{n}:v]scale=1920:1080:force_original_aspect_ratio=decrease,pad=1920:1080:-1:-1,setsar=1,"
            f"fps=25,format=yuv420p[v{n}];"
            + (
                f"[{n}:a]aresample=44100,aformat=channel_layouts=mono,apad,atrim=0:{seconds:.3f}[a{n}];"
                if audio
                else f"anullsrc=r=44100:cl=mono,atrim=0:{seconds:.3f}[a{n}];"
            )
        )
    count = len(files) * repeat
    graph = (
        "".join(parts) + "".join(f"[v{n}][a{n}]" for n in range(count)) + f"concat=n={count}:v=1:a=1[v][a]"
    )
    run_ffmpeg([*args, "-filter_complex", graph, "-map", "[v]", "-map", "[a]", "-c:v", "libx264", "-preset",
                "ultrafast", "-crf", "23", "-g", "250", "-c:a", "aac", "-y", safe_path(out)])  # fmt: skip
    return out


def main(
    media: Path = typer.Option(REPO.parent / "shared" / "media", help="Folder of source videos."),
    work: Path = typer.Option(Path("/tmp/humo_split_bench"), help="Where the long source and outputs go."),
    repeat_media: int = typer.Option(3, help="Times the media folder is joined end to end."),
    repeat: int = typer.Option(2, help="Runs of each contender (fastest compared)."),
    cpus: int = typer.Option(2, help="CPUs of each run's local Ray cluster."),
    out_json: Path = typer.Option(REPO / "benchmarks" / "results" / "split_source.json"),
    warmup5: bool = typer.Option(True, help="Also run the split with 5 s of warmup (the first default)."),
) -> None:
    from tests.pipeline.golden import fingerprint

    work.mkdir(parents=True, exist_ok=True)
    inputs = work / "in"
    inputs.mkdir(exist_ok=True)
    source = inputs / "long_multishot_1080p.mp4"
    if not source.exists():
        build_source(media, source, repeat_media)
    contenders = {
        "whole": ["clips.split_min_seconds=0"],
        "split": ["clips.split_when=always"],  # (the default, alone, needs clips.split_min_cpus CPUs)
        **(
            {"split_warmup_5s": ["clips.split_when=always", "clips.split_warmup_seconds=5"]}
            if warmup5
            else {}
        ),
    }
    runs: dict[str, list[dict]] = {k: [] for k in contenders}
    prints: dict[str, dict] = {}
    for i in range(repeat):
        for name, extra in contenders.items():
            out = work / f"out_{name}"
            shutil.rmtree(out, ignore_errors=True)
            rec = run_curate_subprocess(inputs, out, [f"ray.num_cpus={cpus}", *extra])
            logs = "".join(p.read_text(errors="replace") for p in (out / "_logs").glob("*") if p.is_file())
            rec["ranges_redone"] = logs.count("redone from the source start")
            prints[name] = fingerprint(out)
            rec.pop("output")
            runs[name].append(rec)
            print(name, i, round(rec["wall_s"], 1), "s wall", rec["cpu_s"], "s CPU", flush=True)
    whole, split = best(runs["whole"]), best(runs["split"])
    others = {k: best(v) for k, v in runs.items() if k not in ("whole", "split")}
    seconds = media_seconds(source)
    with av.open(str(source)) as c:
        v = c.streams.video[0]
        size = f"{v.width}x{v.height}"
    from humo_data.config import load_config

    clips = load_config("default").clips
    result = {
        "what": "one long multi-shot source, humo-data curate front half, whole vs split into time ranges",
        "machine": {
            "cpus_ray": cpus,
            "cpu_count": os.cpu_count(),
            "platform": platform.platform(),
            "note": "shared with other agents: fastest run compared, all listed",
        },  # fmt: skip
        "source": {
            "seconds": round(seconds, 1),
            "size": size,
            "bytes": source.stat().st_size,
            "built_from": sorted(p.name for p in media.glob("*.mp4")),
            "joined_times": repeat_media,
        },  # fmt: skip
        "settings": {
            "split_min_seconds": clips.split_min_seconds,
            "split_range_seconds": clips.split_range_seconds,
            "split_warmup_seconds": clips.split_warmup_seconds,
        },  # fmt: skip
        "whole": whole,
        "split": split,
        "speedup_wall": round(whole["wall_s"] / split["wall_s"], 3),
        "cpu_ratio_split_over_whole": round(split["cpu_s"] / whole["cpu_s"], 3),
        "same_outputs": all(p == prints["whole"] for p in prints.values()),
        **{k: {**v, "speedup_wall": round(whole["wall_s"] / v["wall_s"], 3)} for k, v in others.items()},
        "runs": runs,
    }
    out_json.parent.mkdir(parents=True, exist_ok=True)
    out_json.write_text(json.dumps(result, indent=2, default=str) + "\n")
    print(json.dumps({k: result[k] for k in ("speedup_wall", "cpu_ratio_split_over_whole", "same_outputs")}))


if __name__ == "__main__":
    typer.run(main)
