"""Clip decode for training: decord vs PyAV on shard clips made by the pipeline (not a test).

Each reader decodes the trainer's window (97 frames at 25 fps) of every clip long enough for it,
from the in-memory MP4 bytes of the triplet shards, resized/cropped to the trainer's bucket:
  - ``aspect`` buckets 480x832 / 832x480 / 480x480 (each clip to the nearest: no rescale, crop only),
  - ``default`` bucket 480x832 for every clip (the trainer's default config: square and portrait
    clips are rescaled to cover it).
Measured per reader: clips/s (wall) and CPU seconds per clip (user+sys of every thread and worker
process), in one process and through a torch DataLoader with worker processes; then the trainer's
own loader (``make_loader``: decode + audio cut + references) samples/s with each reader. Wall is
the best of ``--repeats``, CPU the median (the machine may be shared: CPU seconds are the steadier
number).

Shards (default): ``humo-data curate`` (default profile) of tests/data and the talking-head videos
of ../shared/media into a temp folder: 480x480 clips and LatentSync's 480x854 portrait clips.

    python benchmarks/train_decode.py                      # curate, then measure
    python benchmarks/train_decode.py --data out/sample    # an existing dataset
"""

from __future__ import annotations

import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import typer

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

SHARED_TALKING = [
    "sadtalker_WDA_AlexandriaOcasioCortez_000.mp4",
    "latentsync_demo1_video.mp4",
    "latentsync_demo3_video.mp4",
    "liveportrait_d10.mp4",
]
ASPECT_BUCKETS = [(480, 832), (832, 480), (480, 480)]


def curate(work: Path) -> Path:
    inputs = work / "in"
    inputs.mkdir()
    media = [*sorted((REPO / "tests/data").glob("*.mp4"))]
    media += [p for name in SHARED_TALKING if (p := REPO.parent / "shared/media" / name).exists()]
    for p in media:
        (inputs / p.name).symlink_to(p)
    out = work / "curated"
    cmd = [sys.executable, "-m", "humo_data.cli", "curate", "--input", str(inputs), "--output", str(out),
           "--no-progress"]  # fmt: skip
    subprocess.run(cmd, check=True, cwd=REPO, capture_output=True)
    return out


def cpu_seconds() -> float:
    """User+sys CPU of this process (all threads) and of its reaped children (DataLoader workers)."""
    s, c = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return s.ru_utime + s.ru_stime + c.ru_utime + c.ru_stime


class Clips:
    """(bytes, bucket) of every clip with a full window; a map-style dataset that decodes one."""

    def __init__(
        self, items: list[tuple[bytes, tuple[int, int]]], reader: str, frames: int, fps: float, threads: int
    ):
        self.items, self.reader, self.frames, self.fps, self.threads = items, reader, frames, fps, threads

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int):
        from humo_data.train.data.video import decode_window
        from humo_data.train.data.video_decord import decode_window_decord

        data, (h, w) = self.items[i]
        fn = decode_window_decord if self.reader == "decord" else decode_window
        clip = fn(data, frames=self.frames, fps=self.fps, height=h, width=w, start=0, threads=self.threads)
        return clip.frames.shape[0]  # frames stay in the worker: the decoder is measured, not IPC


def timed(run, n: int, repeats: int) -> dict:
    walls, cpus = [], []
    for _ in range(repeats):
        c0, t0 = cpu_seconds(), time.perf_counter()
        run()
        walls.append(time.perf_counter() - t0)
        cpus.append(cpu_seconds() - c0)
    best = min(walls)
    return {
        "clips": n,
        "clips_per_s": n / best,
        "cpu_s_per_clip": statistics.median(cpus) / n,
        "wall_s_runs": [round(w, 3) for w in walls],
        "cpu_s_runs": [round(c, 3) for c in cpus],
    }


def in_process(ds: Clips, repeats: int) -> dict:
    return timed(lambda: [ds[i] for i in range(len(ds))], len(ds), repeats)


def data_loader(ds: Clips, workers: int, passes: int, repeats: int) -> dict:
    from torch.utils.data import ConcatDataset, DataLoader

    many = ConcatDataset([ds] * passes)

    def run():
        # non-persistent workers: they exit (and are reaped, so their CPU counts) when the pass ends
        for _ in DataLoader(many, batch_size=None, num_workers=workers, prefetch_factor=2):
            pass

    res = timed(run, len(many), repeats)
    res["workers"] = workers
    return res


def trainer_loader(data: list[str], reader: str, workers: int, samples: int, repeats: int) -> dict:
    """The trainer's own stream (decode + audio + references) over the aspect buckets."""
    from torch.utils.data import DataLoader

    from humo_data.train.config import DataConfig
    from humo_data.train.data.stream import TripletStream, _identity

    cfg = DataConfig(sources=data, frames=97, buckets=ASPECT_BUCKETS, batch_size=1, num_workers=workers,
                     video_reader=reader, text_dropout=0.0, on_error="raise")  # fmt: skip

    def run():
        loader = DataLoader(TripletStream(cfg, seed=0), batch_size=None, num_workers=workers,
                            collate_fn=_identity, prefetch_factor=2 if workers else None)  # fmt: skip
        it = iter(loader)
        for _ in range(samples):
            next(it)
        del it  # shuts the workers down (joined: their CPU lands in RUSAGE_CHILDREN)

    res = timed(run, samples, repeats)
    res["workers"] = workers
    res["samples_per_s"] = res.pop("clips_per_s")
    res["cpu_s_per_sample"] = res.pop("cpu_s_per_clip")
    return res


def main(
    data: list[str] = typer.Option(
        None, help="Triplet dataset dir, repeatable (default: curate tests/data + ../shared/media)."
    ),
    frames: int = typer.Option(97, help="Window frames (4k+1)."),
    fps: float = typer.Option(25.0, help="Window frame rate."),
    repeats: int = typer.Option(3, help="Timed repeats of each measurement."),
    workers: int = typer.Option(2, help="DataLoader worker processes."),
    passes: int = typer.Option(3, help="Passes over the clips per DataLoader measurement."),
    loader_samples: int = typer.Option(12, help="Samples drawn from the trainer's loader per repeat."),
    threads: list[int] = typer.Option(
        [0, 1], help="Decoder threads per reader, repeatable (0 = FFmpeg's automatic count, the trainer's)."
    ),
    out: Path = typer.Option(REPO / "benchmarks/results/train_decode.json", help="JSON output."),
) -> None:
    import av
    import pyarrow.parquet as pq
    import torch

    from humo_data.train.config import DataConfig
    from humo_data.train.data.video_decord import decord_available

    if not decord_available():
        raise SystemExit("decord is not installed: pip install 'humo-data[decord]' (or .[dev])")
    import decord

    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as tmp:
        described = list(data) if data else "humo-data curate of tests/data + ../shared/media talking heads"
        data = list(data) if data else [str(curate(Path(tmp)))]
        cols = ["clip_id", "video", "num_frames", "fps", "width", "height", "source_uri"]
        shards = sorted(p for d in data for p in Path(d, "triplets").glob("*.parquet"))
        rows = pq.read_table(shards, columns=cols).to_pylist()
        long = [r for r in rows if r["num_frames"] / r["fps"] * fps >= frames]
        aspect = DataConfig(frames=frames, buckets=ASPECT_BUCKETS)
        sets = {
            "aspect_buckets": [(r["video"], aspect.bucket_for(r["height"], r["width"])) for r in long],
            "default_bucket_480x832": [(r["video"], (480, 832)) for r in long],
        }
        result: dict = {
            "machine": {
                "platform": platform.platform(),
                "python": platform.python_version(),
                "cpus": os.cpu_count(),
                "loadavg_at_start": os.getloadavg(),
                "pyav": av.__version__,
                "decord": decord.__version__,
                "torch": torch.__version__,
            },
            "data": described,
            "clips": [
                {
                    "clip_id": r["clip_id"],
                    "size": f"{r['width']}x{r['height']}",
                    "frames": r["num_frames"],
                    "source": Path(r["source_uri"]).name,
                    "bytes": len(r["video"]),
                }
                for r in long
            ],  # fmt: skip
            "window": {"frames": frames, "fps": fps},
            "note": "clips_per_s from the best wall time of the repeats, cpu_s_per_clip the median CPU "
            "(user+sys, all threads and reaped workers); threads=0 is FFmpeg's automatic decoder thread "
            "count (what the trainer uses), threads=1 one decoder thread; the trainer_loader rows use "
            "threads=0. The machine was shared with other jobs: wall times are noisy, CPU seconds less so.",
            "results": {},
        }
        for name, items in sets.items():
            for reader, t in [(reader, t) for t in threads for reader in ("pyav", "decord")]:
                ds = Clips(items, reader, frames, fps, t)
                ds[0]  # warm-up: imports, first-call setup
                key = f"{name}/threads={t}/{reader}"
                result["results"][key] = {
                    "one_process": in_process(ds, repeats),
                    "data_loader": data_loader(ds, workers, passes, repeats),
                }
                print(key, json.dumps(result["results"][key]), flush=True)
        for reader in ("pyav", "decord"):
            key = f"trainer_loader/{reader}"
            result["results"][key] = trainer_loader(data, reader, workers, loader_samples, repeats)
            print(key, json.dumps(result["results"][key]), flush=True)
        r = result["results"]
        result["summary"] = {
            f"{name}/threads={t}": {
                mode: {
                    "decord_vs_pyav_clips_per_s": r[f"{name}/threads={t}/decord"][mode]["clips_per_s"]
                    / r[f"{name}/threads={t}/pyav"][mode]["clips_per_s"],
                    "decord_vs_pyav_cpu_per_clip": r[f"{name}/threads={t}/decord"][mode]["cpu_s_per_clip"]
                    / r[f"{name}/threads={t}/pyav"][mode]["cpu_s_per_clip"],
                }
                for mode in ("one_process", "data_loader")
            }
            for name in sets
            for t in threads
        }
        result["summary"]["trainer_loader"] = {
            "decord_vs_pyav_samples_per_s": r["trainer_loader/decord"]["samples_per_s"]
            / r["trainer_loader/pyav"]["samples_per_s"],
            "decord_vs_pyav_cpu_per_sample": r["trainer_loader/decord"]["cpu_s_per_sample"]
            / r["trainer_loader/pyav"]["cpu_s_per_sample"],
        }
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1))
    print(json.dumps(result["summary"], indent=1))


if __name__ == "__main__":
    typer.run(main)
