"""Faces + identity cost, written as JSON (not a test): benchmarks/results/faces.json.

Measures on this machine:
  1. ``face_stage``: the face stage (default config: dlib backend, histogram context) on clips cut
     from the shared media (talking heads, small faces, faceless shots): sampled frames per second
     on one process and on ``--workers`` processes (the actor pool of a 2-core run), and the cost
     per video-second. CPU seconds (process time) are reported beside wall seconds: on a shared
     machine wall time measures the neighbours' load as much as this code;
  2. ``identity``: the identity pass on synthetic features (known people, ``--clips`` clips in
     sources of 20 clips, half in 3 shots, half in one): in memory and through Ray (start-up
     excluded), per 1,000 clips;
  3. ``labelled``: precision/recall of each backend's same-person decision on the labelled set
     (tests/faces/labelled_set.py); insightface only with ``--insightface-dir`` (real weights);
  4. ``budget``: faces + identity CPU cost per video-second against the front half's (from
     benchmarks/results/curate_throughput.json: wall seconds per source-second x its workers, an
     upper bound of its core-seconds); the goal is at most half.

    python benchmarks/faces_throughput.py --workers 2 --clips 5000
"""

from __future__ import annotations

import io
import json
import os
import platform
import random
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import pyarrow as pa
import typer

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from humo_data.faces.config import FacesConfig  # noqa: E402
from humo_data.faces.stage import FaceStage  # noqa: E402
from humo_data.identity.config import IdentityConfig  # noqa: E402
from humo_data.identity.job import identity_table, run_identity  # noqa: E402
from humo_data.stage import rows_to_table  # noqa: E402
from tests.faces.face_rows import clip_rows  # noqa: E402
from tests.identity.synthetic import features_rows, features_table  # noqa: E402

MEDIA = {
    "sadtalker_WDA_AlexandriaOcasioCortez_000.mp4": "talking_head",
    "liveportrait_d0.mp4": "talking_head",
    "liveportrait_d10.mp4": "talking_head",
    "liveportrait_d19.mp4": "talking_head",
    "latentsync_demo1_video.mp4": "small_face",
    "latentsync_demo3_video.mp4": "small_face",
    "pyscenedetect_goldeneye-vfr-drop3.mp4": "small_face",
    "pyscenedetect_testvideo.mp4": "faceless",
}
OUT = REPO / "benchmarks" / "results" / "faces.json"


def _ipc(table: pa.Table) -> bytes:
    sink = io.BytesIO()
    with pa.ipc.new_stream(sink, table.schema) as w:
        w.write_table(table)
    return sink.getvalue()


def _run_batches(blob: bytes, batch_size: int) -> tuple[float, float, float]:
    """(setup seconds, transform wall seconds, transform CPU seconds) of one worker over its rows."""
    table = pa.ipc.open_stream(blob).read_all()
    stage = FaceStage(FacesConfig())
    t0 = time.perf_counter()
    stage._ensure_ready()
    t1, c1 = time.perf_counter(), time.process_time()
    for start in range(0, table.num_rows, batch_size):
        stage(table.slice(start, batch_size))
    return t1 - t0, time.perf_counter() - t1, time.process_time() - c1


def face_stage(media: Path, workers: int) -> dict:
    rows, kind_of = [], {}
    for name, kind in MEDIA.items():
        if (media / name).exists():
            for r in clip_rows(media / name):
                rows.append(r)
                kind_of[r["clip_id"]] = kind
    table = rows_to_table(rows)
    frames = sum(len(r["_frames"]) for r in rows)
    video_s = sum(r["end_time"] - r["start_time"] for r in rows)
    batch = FacesConfig().resources.batch_size

    # one process, per kind of content
    stage = FaceStage(FacesConfig())
    t0 = time.perf_counter()
    stage._ensure_ready()
    setup_s = time.perf_counter() - t0
    per_kind: dict[str, dict] = {}
    out_rows = []
    for kind in sorted(set(kind_of.values())):
        idx = [i for i, r in enumerate(rows) if kind_of[r["clip_id"]] == kind]
        sub = table.take(pa.array(idx))
        t, c = time.perf_counter(), time.process_time()
        for start in range(0, sub.num_rows, batch):
            out_rows += stage(sub.slice(start, batch)).select(["_reject_reason"]).to_pylist()
        dt, dc = time.perf_counter() - t, time.process_time() - c
        n = sum(len(rows[i]["_frames"]) for i in idx)
        per_kind[kind] = {"clips": len(idx), "frames": n, "wall_s": dt, "cpu_s": dc,
                          "frames_per_cpu_s": n / dc, "cpu_ms_per_frame": 1000 * dc / n}  # fmt: skip
    one_s = sum(k["wall_s"] for k in per_kind.values())
    one_cpu = sum(k["cpu_s"] for k in per_kind.values())

    # `workers` processes side by side (the actor pool of a run on this many cores)
    order = list(range(table.num_rows))
    random.Random(0).shuffle(order)
    shares = [_ipc(table.take(pa.array(order[w::workers]))) for w in range(workers)]
    t = time.perf_counter()
    with ProcessPoolExecutor(workers) as pool:
        results = list(pool.map(_run_batches, shares, [batch] * workers))
    wall = time.perf_counter() - t
    par_transform = max(r[1] for r in results)
    reasons: dict[str, int] = {}
    for r in out_rows:
        key = r["_reject_reason"] or "kept"
        reasons[key] = reasons.get(key, 0) + 1
    return {
        "clips": len(rows),
        "frames": frames,
        "video_seconds": video_s,
        "outcomes": reasons,
        "setup_s": setup_s,
        "one_process": {
            "wall_s": one_s,
            "cpu_s": one_cpu,
            "frames_per_wall_s": frames / one_s,
            "frames_per_cpu_s": frames / one_cpu,
            "cpu_s_per_video_s": one_cpu / video_s,
            "by_content": per_kind,
        },
        f"{workers}_processes": {
            "wall_s_incl_setup": wall,
            "transform_wall_s": par_transform,
            "transform_cpu_s": sum(r[2] for r in results),
            "frames_per_wall_s": frames / par_transform,
            "video_seconds_per_wall_s": video_s / par_transform,
        },
    }


def identity(clips: int, ray_cpus: int) -> dict:
    rng = random.Random(0)
    people = [f"p{i}" for i in range(max(10, clips // 12))]
    sources = []
    for s in range(max(1, clips // 20)):
        cast = rng.sample(people, 3)
        shots = 3 if s % 2 == 0 else 1  # one-shot sources take their references from other sources
        people_of = [rng.sample(cast, rng.choice([1, 1, 1, 2])) for _ in range(20)]
        sources.append((f"src{s:05d}", [(k * shots // 20, 4.0 * k, people_of[k]) for k in range(20)]))
    table = features_table(features_rows(sources, seed=0))
    cfg = IdentityConfig()
    t, c = time.perf_counter(), time.process_time()
    out = identity_table(table, cfg)
    mem_s, mem_cpu = time.perf_counter() - t, time.process_time() - c
    kinds: dict[str, int] = {}
    for k in out.column("reference_kind").to_pylist():
        kinds[str(k)] = kinds.get(str(k), 0) + 1

    import ray

    ray.init(num_cpus=ray_cpus, include_dashboard=False, log_to_driver=False, logging_level="ERROR")
    try:
        ray.data.DataContext.get_current().enable_progress_bars = False
        ds = ray.data.from_arrow(table).repartition(max(1, table.num_rows // 500)).materialize()
        t = time.perf_counter()
        n = sum(b.num_rows for b in ray.get(run_identity(ds, cfg).to_arrow_refs()))
        ray_s = time.perf_counter() - t
    finally:
        ray.shutdown()
    assert n == table.num_rows
    return {
        "clips": table.num_rows,
        "sources": len(sources),
        "people": len(people),
        "in_memory_s": mem_s,
        "in_memory_s_per_1000_clips": mem_s * 1000 / table.num_rows,
        "in_memory_cpu_s_per_1000_clips": mem_cpu * 1000 / table.num_rows,
        f"ray_{ray_cpus}_cpus_s": ray_s,
        "ray_s_per_1000_clips": ray_s * 1000 / table.num_rows,
        "reference_kinds": kinds,
    }


def labelled(insightface_dir: str | None) -> dict:
    from humo_data.faces.backends import load_backend
    from tests.faces.labelled_set import labelled_embeddings, precision_recall

    configs = {"dlib": FacesConfig()}
    if insightface_dir:
        configs["insightface"] = FacesConfig(backend="insightface", model_dir=insightface_dir)
    out = {}
    for name, cfg in configs.items():
        backend = load_backend(cfg.model_copy(update={"min_face_area": 0.0, "min_face_px": 0}))
        backend.setup()
        embs = labelled_embeddings(backend)
        p, r, pos = precision_recall(embs, backend.match_distance)
        out[name] = {"precision": p, "recall": r, "same_person_pairs": pos, "faces": len(embs),
                     "threshold": backend.match_distance}  # fmt: skip
    if not insightface_dir:
        out["insightface"] = "not measured: needs real buffalo_l weights (--insightface-dir); none offline"
    return out


def main(
    media: Path = typer.Option(REPO.parent / "shared" / "media", help="Shared media folder."),
    workers: int = typer.Option(2, help="Face-stage processes side by side."),
    clips: int = typer.Option(5000, help="Synthetic clips for the identity pass."),
    insightface_dir: str = typer.Option(None, help="A buffalo_l folder: also measure insightface P/R."),
) -> None:
    faces = face_stage(media, workers)
    ident = identity(clips, workers)
    front = json.loads((REPO / "benchmarks" / "results" / "curate_throughput.json").read_text())
    front_core_s = front["workers"] / front["curate"]["source_seconds_per_s_excl_startup"]
    faces_core_s = faces["one_process"]["cpu_s_per_video_s"]
    clip_s = faces["video_seconds"] / faces["clips"]
    ident_core_s = ident["in_memory_cpu_s_per_1000_clips"] / 1000 / clip_s
    result = {
        "machine": {
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "python": platform.python_version(),
            "load_average_1m": os.getloadavg()[0],
        },  # fmt: skip
        "face_stage": faces,
        "identity": ident,
        "labelled": labelled(insightface_dir),
        "budget": {
            "front_half_core_s_per_video_s": front_core_s,
            "faces_cpu_s_per_video_s": faces_core_s,
            "identity_cpu_s_per_video_s": ident_core_s,
            "faces_plus_identity_over_front_half": (faces_core_s + ident_core_s) / front_core_s,
            "goal": "<= 0.5",
            "clip_seconds_assumed": clip_s,
        },
    }
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result["budget"], indent=2))


if __name__ == "__main__":
    typer.run(main)
