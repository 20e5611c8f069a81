"""Curation throughput and memory, written as JSON (not a test).

Measures on the same machine, same media:
  1. ``curate``: the Ray job (default profile, audio not required so every source is cut) —
     video-seconds curated per wall-second, with and without Ray start-up;
  2. ``decode_only``: ffmpeg decoding every source to null (the physical reference);
  3. ``multi_pass``: the shell-pipeline way — resample the whole file to 25 fps / 16 kHz mono,
     run PySceneDetect on the resampled file, cut each 2-10 s segment with its own ffmpeg call
     (same clip rules, same encoder settings, the same number of parallel workers);
  4. ``long_input``: peak RSS of the whole process tree (driver + Ray workers + raylet) while
     curating a generated 1080p input of ``--long-minutes`` minutes.

    python benchmarks/curate_throughput.py --media ../shared/media --long-minutes 10
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import av
import psutil
import typer

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from humo_data.clips.planner import frame_bounds  # noqa: E402
from humo_data.config import load_config  # noqa: E402
from humo_data.media.ffmpeg import ffmpeg_exe, run_ffmpeg, safe_path  # noqa: E402

VIDEO_EXT = (".mp4", ".mov", ".mkv")


def media_seconds(path: Path) -> float:
    with av.open(str(path)) as c:
        return float(c.duration / 1e6) if c.duration else 0.0


def has_audio(path: Path) -> bool:
    with av.open(str(path)) as c:
        return bool(c.streams.audio)


class TreeRss:
    """Samples the summed RSS of a process and all its descendants every ``interval`` seconds."""

    def __init__(self, pid: int, interval: float = 0.25):
        self.root, self.interval = psutil.Process(pid), interval
        self.peak_total = 0
        self.peak_single = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                procs = [self.root, *self.root.children(recursive=True)]
            except psutil.NoSuchProcess:
                return
            rss = []
            for p in procs:
                try:
                    rss.append(p.memory_info().rss)
                except psutil.Error:
                    continue
            self.peak_total = max(self.peak_total, sum(rss))
            self.peak_single = max(self.peak_single, max(rss, default=0))
            time.sleep(self.interval)

    def __enter__(self) -> TreeRss:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


def run_curate_subprocess(inputs: Path, out: Path, extra: list[str]) -> dict:
    cmd = [sys.executable, "-m", "humo_data.cli", "curate", "-i", str(inputs), "-o", str(out), "--no-progress",
           "--set", "writer.report=false", *extra]  # fmt: skip
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    with TreeRss(proc.pid) as rss:
        output, _ = proc.communicate()
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        raise RuntimeError(f"curate failed:\n{output[-3000:]}")
    manifest = json.loads((out / "_manifest.json").read_text())
    return {"wall_s": wall, "peak_rss_tree_bytes": rss.peak_total, "peak_rss_single_process_bytes": rss.peak_single,
            "clips": manifest["counts"]["triplets"], "clip_seconds": manifest["counts"]["video_seconds"],
            "rejects_by_reason": manifest["counts"]["rejects_by_reason"]}  # fmt: skip


def ray_startup_seconds() -> float:
    code = "import time,ray;t=time.perf_counter();ray.init(include_dashboard=False,num_cpus=2);print(time.perf_counter()-t)"
    return float(
        subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    )


def decode_only(files: list[Path], workers: int) -> float:
    def one(f: Path) -> None:
        run_ffmpeg(["-i", safe_path(f), "-f", "null", "-"])

    start = time.perf_counter()
    with ThreadPoolExecutor(workers) as pool:
        list(pool.map(one, files))
    return time.perf_counter() - start


def multi_pass(files: list[Path], work: Path, workers: int) -> dict:
    """The shell-pipeline baseline: three passes per file, one ffmpeg process per clip.

    Pass 1 ``ffmpeg -i src -r 25 -ar 16000 -ac 1 resampled.mp4`` (source resolution, as a
    normalisation step does), pass 2 PySceneDetect on the resampled file, pass 3 one
    ``ffmpeg -ss -t`` per 2-10 s segment (scaled to short side 480) plus one per FLAC track.
    Same clip rules and x264 settings as the job."""
    from scenedetect import ContentDetector, detect

    cfg = load_config("default")
    lo, hi = frame_bounds(cfg.clips.min_seconds, cfg.clips.max_seconds, 25, 4)
    counts = {"clips": 0, "clip_seconds": 0.0}
    lock = threading.Lock()

    def one(i: int, f: Path) -> None:
        audio = has_audio(f)
        resampled = work / f"{i}_25fps.mp4"
        args = ["-i", safe_path(f), "-r", "25", "-c:v", "libx264", "-preset", "veryfast", "-crf", "18",
                "-pix_fmt", "yuv420p"]  # fmt: skip
        args += ["-ar", "16000", "-ac", "1", "-c:a", "aac"] if audio else ["-an"]
        run_ffmpeg([*args, "-y", safe_path(resampled)])
        scenes = detect(str(resampled), ContentDetector())
        if not scenes:
            scenes = [(0.0, media_seconds(resampled))]
        for s, (start, end) in enumerate(scenes):
            t0 = start.seconds if hasattr(start, "seconds") else start
            t1 = end.seconds if hasattr(end, "seconds") else end
            t = t0
            while (t1 - t) * 25 >= lo:
                n = min(hi, int((t1 - t) * 25))
                n -= (n - 1) % 4
                out = work / f"{i}_{s}_{t:.2f}.mp4"
                cut = ["-ss", f"{t:.3f}", "-i", safe_path(resampled), "-frames:v", str(n), "-vf",
                       "scale='if(lt(iw,ih),min(480,iw),-2)':'if(lt(iw,ih),-2,min(480,ih))'", "-c:v", "libx264",
                       "-preset", "veryfast", "-crf", "18"]  # fmt: skip
                cut += ["-t", f"{n / 25:.3f}", "-c:a", "aac"] if audio else ["-an"]
                run_ffmpeg([*cut, "-y", safe_path(out)])
                if audio:
                    run_ffmpeg(["-ss", f"{t:.3f}", "-t", f"{n / 25:.3f}", "-i", safe_path(resampled), "-vn",
                                "-ac", "1", "-ar", "16000", "-c:a", "flac", "-y", safe_path(out.with_suffix(".flac"))])  # fmt: skip
                with lock:
                    counts["clips"] += 1
                    counts["clip_seconds"] += n / 25
                t += n / 25

    start = time.perf_counter()
    with ThreadPoolExecutor(workers) as pool:
        list(pool.map(lambda a: one(*a), enumerate(files)))
    return {"wall_s": time.perf_counter() - start, **counts}


def make_long_input(path: Path, minutes: float) -> None:
    seconds = int(minutes * 60)
    run_ffmpeg(["-f", "lavfi", "-i", f"testsrc2=s=1920x1080:r=25:d={seconds}", "-f", "lavfi", "-i",
                f"sine=f=300:sample_rate=44100:d={seconds}", "-c:v", "libx264", "-preset", "ultrafast",
                "-crf", "28", "-pix_fmt", "yuv420p", "-c:a", "aac", "-shortest", "-y", safe_path(path)])  # fmt: skip


def main(
    media: Path = typer.Option(REPO.parent / "shared" / "media", help="Folder of source videos."),
    long_minutes: float = typer.Option(10.0, help="Length of the generated 1080p input (0 = skip)."),
    workers: int = typer.Option(os.cpu_count() or 2, help="Parallel workers for the baselines and Ray."),
    output: Path = typer.Option(REPO / "benchmarks" / "results" / "curate_throughput.json"),
) -> None:
    files = sorted(p for p in media.iterdir() if p.suffix.lower() in VIDEO_EXT)
    total_seconds = sum(media_seconds(f) for f in files)
    result: dict = {
        "machine": {
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "python": platform.python_version(),
            "ffmpeg": ffmpeg_exe(),
        },  # fmt: skip
        "media": {"files": [f.name for f in files], "source_seconds": round(total_seconds, 2)},
        "workers": workers,
    }
    with tempfile.TemporaryDirectory(prefix="humo-bench-") as tmp:
        tmp = Path(tmp)
        inputs = tmp / "in"
        inputs.mkdir()
        for f in files:
            os.symlink(f.resolve(), inputs / f.name)
        startup = ray_startup_seconds()
        cur = run_curate_subprocess(inputs, tmp / "out", ["--set", "probe.require_audio=false",
                                                          "--set", f"ray.num_cpus={workers}"])  # fmt: skip
        cur["ray_startup_s"] = round(startup, 2)
        cur["source_seconds_per_s"] = total_seconds / cur["wall_s"]
        cur["source_seconds_per_s_excl_startup"] = total_seconds / (cur["wall_s"] - startup)
        result["curate"] = cur
        dec = decode_only(files, workers)
        result["decode_only"] = {"wall_s": dec, "source_seconds_per_s": total_seconds / dec}
        work = tmp / "multipass"
        work.mkdir()
        mp = multi_pass(files, work, workers)
        mp["source_seconds_per_s"] = total_seconds / mp["wall_s"]
        result["multi_pass"] = mp
        result["speedup_vs_multi_pass"] = mp["wall_s"] / cur["wall_s"]
        result["speedup_vs_multi_pass_excl_startup"] = mp["wall_s"] / (cur["wall_s"] - startup)
        result["fraction_of_decode_only_rate"] = dec / cur["wall_s"]
        if long_minutes > 0:
            long_dir = tmp / "long"
            long_dir.mkdir()
            long_file = long_dir / "long_1080p.mp4"
            t = time.perf_counter()
            make_long_input(long_file, long_minutes)
            gen = time.perf_counter() - t
            lc = run_curate_subprocess(long_dir, tmp / "long_out", ["--set", f"ray.num_cpus={workers}"])
            lc.update({"minutes": long_minutes, "resolution": "1920x1080", "generate_s": gen,
                       "source_seconds_per_s": long_minutes * 60 / lc["wall_s"],
                       "peak_rss_tree_gib": lc["peak_rss_tree_bytes"] / 2**30,
                       "goal_peak_rss_gib": 3.0})  # fmt: skip
            # the same comparison on one long source, where Ray's fixed start-up is amortised
            long_work = tmp / "long_multipass"
            long_work.mkdir()
            lmp = multi_pass([long_file], long_work, workers)
            lc["multi_pass_wall_s"] = lmp["wall_s"]
            lc["decode_only_wall_s"] = decode_only([long_file], workers)
            lc["speedup_vs_multi_pass"] = lmp["wall_s"] / lc["wall_s"]
            result["long_input"] = lc
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    typer.run(main)
