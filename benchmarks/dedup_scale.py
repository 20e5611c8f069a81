"""Dedup pass time and memory at 10k and 100k synthetic signatures (not a test).

Each size runs in a fresh process on a synthetic dataset: triplet shards (placeholder media) plus
their features/signatures shards, as ``run_signatures`` leaves them, so the measured pass is
everything after decoding: block loading, the faiss key index, nearest-key search and
verification, leader selection, side tables, the finish phase's shard rewrite and the signature
re-stamp (``run_dedup`` with every signature fresh). Decoding is linear per clip and measured
separately on real clips (``decode_seconds_per_clip_second``).

Synthetic signatures: per source a scene (pHash pattern), per clip a smoothed random motion
series (1 + 3x3 channels, 5 bins/s, 2-10 s); 10% of the clips get a copy in another source
(shifted by a fraction of a bin and up to 1.5 s, trimmed, with noise and a few flipped hash bits),
so precision and recall of the planted pairs are reported too. Driver RSS is sampled every 0.1 s;
the Ray workers' memory is not the driver's and is reported as the object store's use.

    python benchmarks/dedup_scale.py --sizes 10000 100000 --cpus 2

Writes benchmarks/results/dedup.json; "linear" holds when the time per clip grows by at most 2x
between the two sizes (10x more clips; a pair matrix would show ~10x), "bounded driver memory"
when the driver's peak RSS grows by less than 2x.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import platform
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import psutil
import pyarrow as pa
from scipy.ndimage import gaussian_filter1d

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from humo_data.dataset_ops.config import DedupConfig, load_ops_config  # noqa: E402
from humo_data.dataset_ops.dedup import SIG_TABLE, signature_schema  # noqa: E402
from humo_data.io.lease import Lease  # noqa: E402
from humo_data.io.manifest import DatasetState  # noqa: E402
from humo_data.io.shards import write_table  # noqa: E402
from humo_data.io.store import Store  # noqa: E402
from humo_data.schema import triplet_schema  # noqa: E402

RESULTS = REPO / "benchmarks" / "results" / "dedup.json"
STEP = 0.2
ROWS_PER_SHARD = 1000
DUP_SHARE = 0.10
BLOCK = 5000  # clips per search task (the default 20k would leave one task at 10k clips)


def _motion(rng: np.random.Generator, bins: int, fine: int = 5) -> np.ndarray:
    """A smoothed random motion series [bins, 10] sampled from a finer one (for sub-bin shifts)."""
    n = bins * fine + 40
    # every grid cell moves on its own (mouth, head, hands, background) plus a shared part; the
    # whole-frame channel is their mean, as in a real signature
    shared = gaussian_filter1d(rng.gamma(2.0, 0.01, n), 3.0)
    own = gaussian_filter1d(rng.gamma(1.5, 0.02, (n, 9)), 3.0, axis=0)
    cells = shared[:, None] * rng.uniform(0.3, 1.5, 9)[None, :] + own
    return np.concatenate([cells.mean(1, keepdims=True), cells], 1)


def synthesize(
    n: int, seed: int = 0
) -> tuple[list[dict[str, Any]], list[dict[str, Any]], set[tuple[str, str]]]:
    """(triplet rows, signature rows, planted duplicate pairs)."""
    rng = np.random.default_rng(seed)
    triplets, sigs, fine_of = [], [], {}
    planted: set[tuple[str, str]] = set()
    n_dup = int(n * DUP_SHARE)
    sources = max(1, (n - n_dup) // 5)
    scenes = rng.integers(0, 2**63, sources, dtype=np.int64)
    for i in range(n - n_dup):
        s = i % sources
        bins = int(rng.integers(10, 51))
        fine = _motion(rng, bins)
        fine_of[i] = fine
        motion = fine[20 : 20 + bins * 5 : 5]
        flips = rng.integers(0, 63, (bins, 3))
        ph = np.full(bins, scenes[s], np.int64) ^ np.bitwise_or.reduce(np.left_shift(1, flips), axis=1)
        cid = f"c{i:08d}"
        sigs.append(_sig_row(cid, f"src{s:07d}", motion, ph, rng))
        triplets.append(_triplet(cid, f"src{s:07d}", bins * STEP))
    for k in range(n_dup):
        orig = int(rng.integers(0, n - n_dup))
        fine = fine_of[orig]
        shift_fine = int(rng.integers(-7, 8))  # up to 1.4 s, in fifths of a bin
        src_bins = len(sigs[orig]["motion"])
        bins = max(12, src_bins - int(rng.integers(0, 5)))
        start = 20 + shift_fine
        idx = np.clip(np.arange(start, start + bins * 5, 5), 0, len(fine) - 1)
        motion = fine[idx] * rng.uniform(0.8, 1.2) + rng.normal(0, 0.002, (bins, 10))
        base = np.asarray(sigs[orig]["phash"], np.int64)
        ph = base[np.clip(np.arange(bins) + shift_fine // 5, 0, len(base) - 1)] ^ (
            1 << rng.integers(0, 63, bins)
        )
        cid = f"d{k:08d}"
        src = f"dup{k:07d}"
        sigs.append(_sig_row(cid, src, motion, ph, rng))
        triplets.append(_triplet(cid, src, bins * STEP))
        planted.add(tuple(sorted((f"c{orig:08d}", cid))))
    return triplets, sigs, planted


def _sig_row(cid: str, src: str, motion: np.ndarray, ph: np.ndarray, rng) -> dict[str, Any]:
    v = rng.normal(0, 1, 64).astype(np.float32)
    return {"clip_id": cid, "source_id": src, "backend": "phash", "step": STEP, "duration": len(motion) * STEP,
            "content_box": [0, 0, 96, 96], "content_fraction": 1.0, "motion": np.asarray(motion, np.float32).tolist(),
            "phash": ph.tolist(), "vector": (v / np.linalg.norm(v)).tolist()}  # fmt: skip


def _triplet(cid: str, src: str, seconds: float) -> dict[str, Any]:
    row = {name: None for name in triplet_schema().names}
    row.update(clip_id=cid, source_id=src, source_uri=f"s3://b/{src}.mp4", shot_index=0, clip_index=0, start_time=0.0,
               end_time=seconds, fps=25.0, num_frames=int(seconds * 25), width=480, height=480, video=b"\0",
               video_codec="h264", has_audio=False, shot_backend="synthetic", stage1=False, stage2=False,
               source_width=640, source_height=480)  # fmt: skip
    return row


def write_dataset(out: Path, triplets: list[dict], sigs: list[dict], cfg: DedupConfig) -> None:
    store = Store.open(str(out))
    run = "rbenchdedup0"
    with Lease(store, run):
        state = DatasetState(store, run_id=run)
        state.create({}, "bench")
        for start in range(0, len(triplets), ROWS_PER_SHARD):
            key = f"{run}-{start // ROWS_PER_SHARD:06d}"
            t = pa.Table.from_pylist(triplets[start : start + ROWS_PER_SHARD], schema=triplet_schema())
            info = write_table(
                store, f"triplets/part-{key}.parquet", t, row_group_rows=256, compression="zstd"
            )
            seconds = float(sum(r["end_time"] for r in triplets[start : start + ROWS_PER_SHARD]))
            state.record([{"t": "shard", "table": "triplets", "key": key, **info, "seconds": seconds,
                           "counts": {"triplets": t.num_rows, "video_seconds": seconds}}])  # fmt: skip
            s = pa.Table.from_pylist(sigs[start : start + ROWS_PER_SHARD], schema=signature_schema())
            sinfo = write_table(
                store, f"{SIG_TABLE}/part-{key}-bench.parquet", s, row_group_rows=512, compression="zstd"
            )
            state.record([{"t": "shard", "table": SIG_TABLE, "key": key, **sinfo,
                           "hash": f"{cfg.signature_hash()}-{info['sha256'][:16]}"}])  # fmt: skip
        state.record([{"t": "phase", "name": "stream", "status": "complete"}])
        state.manifest["status"] = "complete"
        state.compact()


class RssSampler:
    def __init__(self, every: float = 0.1):
        self.proc, self.every, self.peak = psutil.Process(), every, 0
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self.proc.memory_info().rss)
            time.sleep(self.every)

    def __enter__(self) -> RssSampler:
        self._t.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._t.join()
        self.peak = max(self.peak, self.proc.memory_info().rss)


def build_dataset(n: int, out: Path, cfg: DedupConfig) -> tuple[set[tuple[str, str]], float, float]:
    """Synthesise and write the dataset (in a child process); the planted pairs and the timings."""
    t0 = time.perf_counter()
    triplets, sigs, planted = synthesize(n)
    gen_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    write_dataset(out, triplets, sigs, cfg)
    return planted, gen_s, time.perf_counter() - t0


def run_size(n: int, cpus: int) -> dict[str, Any]:
    """One size, in this process (called in a fresh subprocess per size)."""
    import ray

    from humo_data.dataset_ops.dedup import run_dedup
    from humo_data.io.dataset import open_dataset

    ops = load_ops_config(
        None, None, [f"ray.num_cpus={cpus}", "in_process_max_shards=0", f"dedup.block_clips={BLOCK}"]
    )
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "out"
        # synthesised in a child process: freed lists would stay in this process's heap and
        # hide (or inflate) the pass's own driver memory
        ctx = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(1, mp_context=ctx) as pool:
            planted, gen_s, write_s = pool.submit(build_dataset, n, out, ops.dedup).result()
        ray.init(num_cpus=cpus, object_store_memory=2 << 30, include_dashboard=False, logging_level="ERROR")
        rss_before = psutil.Process().memory_info().rss
        with RssSampler() as rss:
            t0 = time.perf_counter()
            summary = run_dedup(str(out), ops)
            wall = time.perf_counter() - t0
        ds = open_dataset(str(out))
        rejects = ds.read("rejects", ["clip_id", "detail"]).to_pylist()
        found = {tuple(sorted((r["clip_id"], r["detail"].split()[2]))) for r in rejects}
        store_used = ray.cluster_resources().get("object_store_memory", 0) - ray.available_resources().get(
            "object_store_memory", 0
        )
        ray.shutdown()
    tp = len(found & planted)
    return {
        "clips": n, "cpus": cpus, "wall_seconds": round(wall, 2), "ms_per_clip": round(1000 * wall / n, 3),
        "driver_rss_mb_before": round(rss_before / 2**20, 1), "driver_peak_rss_mb": round(rss.peak / 2**20, 1),
        "driver_rss_growth_mb": round((rss.peak - rss_before) / 2**20, 1),
        "object_store_in_use_after_mb": round(store_used / 2**20, 1), "rejected": summary["rejected"],
        "pairs_verified_as_duplicates": summary["pairs"], "planted_pairs": len(planted),
        "recall_of_planted": round(tp / max(1, len(planted)), 4),
        "precision_vs_planted": round(tp / max(1, len(found)), 4),
        "synthesis_seconds": round(gen_s, 1), "write_seconds": round(write_s, 1),
    }  # fmt: skip


def decode_cost() -> dict[str, Any]:
    """Signature decode cost per second of stored clip, on a real clip of the shared media."""
    from humo_data.dataset_ops.signatures import compute_signature
    from humo_data.media.ffmpeg import run_ffmpeg, safe_path

    media = REPO.parent / "shared" / "media" / "sadtalker_WDA_AlexandriaOcasioCortez_000.mp4"
    if not media.exists():
        return {"skipped": f"{media} missing"}
    with tempfile.TemporaryDirectory() as tmp:
        clip = Path(tmp) / "clip.mp4"  # what the cutter stores: 480p H.264, 25 fps
        run_ffmpeg(["-y", "-v", "error", "-i", safe_path(media), "-vf", "scale=480:480", "-r", "25", "-c:v", "libx264",
                    "-crf", "18", "-an", safe_path(clip)])  # fmt: skip
        data = clip.read_bytes()
        cfg = DedupConfig()
        compute_signature(data, cfg)
        t0 = time.process_time()
        for _ in range(5):
            row = compute_signature(data, cfg)
        cpu = (time.process_time() - t0) / 5
    return {"clip_seconds": round(row["duration"], 2), "cpu_seconds_per_clip": round(cpu, 3),
            "decode_seconds_per_clip_second": round(cpu / row["duration"], 4)}  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    ap.add_argument("--cpus", type=int, default=2)
    ap.add_argument("--one", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.one:
        print(json.dumps(run_size(args.one, args.cpus)))
        return
    runs = []
    for n in args.sizes:
        proc = subprocess.run([sys.executable, __file__, "--one", str(n), "--cpus", str(args.cpus)],
                              capture_output=True, text=True, check=False)  # fmt: skip
        if proc.returncode != 0:
            raise SystemExit(proc.stderr[-3000:])
        runs.append(json.loads(proc.stdout.strip().splitlines()[-1]))
        print(json.dumps(runs[-1]), flush=True)
    small, large = runs[0], runs[-1]
    result = {
        "benchmark": "dedup_scale", "machine": {"cpus": os.cpu_count(), "platform": platform.platform(),
                                                "load_average": os.getloadavg()},
        "config": DedupConfig().model_dump(mode="json", exclude={"resources"}), "runs": runs,
        "time_per_clip_ratio": round(large["ms_per_clip"] / small["ms_per_clip"], 2),
        "driver_peak_rss_ratio": round(large["driver_peak_rss_mb"] / small["driver_peak_rss_mb"], 2),
        "linear": large["ms_per_clip"] <= 2 * small["ms_per_clip"],
        "bounded_driver_memory": large["driver_peak_rss_mb"] < 2 * small["driver_peak_rss_mb"],
        "decode": decode_cost(),
    }  # fmt: skip
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps({k: result[k] for k in ("time_per_clip_ratio", "driver_peak_rss_ratio", "linear",
                                             "bounded_driver_memory", "decode")}, indent=2))  # fmt: skip


if __name__ == "__main__":
    main()
