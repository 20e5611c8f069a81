"""Helpers for runs of the curation job on object storage, under faults and on Ray clusters.

Every server or cluster a test starts is stopped by the test (or its fixture) that started it;
processes are ended by their ids, never by name (``ray stop`` would end every Ray on the machine).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import pyarrow.parquet as pq

from humo_data.config import load_config
from humo_data.io.dataset import open_dataset
from humo_data.media.ffmpeg import run_ffmpeg, safe_path
from tests.shared_media import MEDIA

REPO = Path(__file__).resolve().parents[2]
SAMPLE = REPO / "tests" / "data"
#: two short real talking clips from ../shared/media, used when it is present
SHARED_CLIPS = ("sadtalker_WDA_AlexandriaOcasioCortez_000.mp4", "liveportrait_d19.mp4")
OBJECT_STORE = 200 * 1024 * 1024
#: per-clip filters and later phases off, for tests whose subject is the front half (probe, cut,
#: shards, commits): their outcomes then depend on the fault under test only
CUT_ONLY = tuple(f"{s}.enabled=false" for s in ("quality", "faces", "identity", "audio", "sync", "captions"))


def config(*overrides: str):
    return load_config("default", ["writer.report=false", "ray.num_cpus=2", *overrides])


def sample_clips() -> list[Path]:
    """tests/data clips plus, when ../shared/media is there, two more real ones."""
    found = sorted(SAMPLE.glob("*.mp4"))
    return found + [MEDIA / n for n in SHARED_CLIPS if (MEDIA / n).exists()]


def free_ports(n: int) -> list[int]:
    socks = []
    for _ in range(n):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        socks.append(s)
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


@contextlib.contextmanager
def local_ray(runtime_env: dict[str, Any] | None = None, num_cpus: int = 2) -> Iterator[None]:
    """A local Ray cluster owned by the caller; env vars set before it starts reach its workers."""
    import ray

    ray.shutdown()
    ray.init(num_cpus=num_cpus, object_store_memory=OBJECT_STORE, include_dashboard=False,
             logging_level="WARNING", runtime_env=runtime_env)  # fmt: skip
    try:
        yield
    finally:
        ray.shutdown()


def curate_cmd(inp: str, out: str, *overrides: str, address: str | None = None) -> list[str]:
    cmd = [sys.executable, "-m", "humo_data.cli", "curate", "-i", inp, "-o", out, "--no-progress"]
    for o in ("writer.report=false", "ray.num_cpus=2", *overrides):
        cmd += ["--set", o]
    if address:
        cmd += ["--address", address]
    return cmd


def end_process_tree(pid: int, sig: int = signal.SIGTERM, timeout: float = 20.0) -> None:
    """Signal a process and every descendant (collected first, by pid), then kill what remains."""
    try:
        root = psutil.Process(pid)
    except psutil.NoSuchProcess:
        return
    procs = [*root.children(recursive=True), root]
    for p in procs:
        with contextlib.suppress(psutil.NoSuchProcess):
            p.send_signal(sig)
    _, alive = psutil.wait_procs(procs, timeout=timeout)
    for p in alive:
        with contextlib.suppress(psutil.NoSuchProcess):
            p.kill()
    psutil.wait_procs(alive, timeout=5)


def clip_ids(out: str) -> list[str]:
    """Clip ids of the committed triplet shards (manifest + commit log), duplicates kept."""
    ds = open_dataset(out)
    ids: list[str] = []
    for entry in ds.shards("triplets"):
        ids += pq.read_table(ds.store.open_read(entry["path"]), columns=["clip_id"])["clip_id"].to_pylist()
    return ids


def darken(src: Path, dst: Path, factor: float = 0.05) -> Path:
    """A copy of a real clip with every frame's luma scaled by ``factor`` (audio kept)."""
    run_ffmpeg(["-i", safe_path(src), "-vf", f"lutyuv=y=val*{factor}", "-c:v", "libx264", "-preset", "ultrafast",
                "-c:a", "copy", "-y", safe_path(dst)])  # fmt: skip
    return dst


def remux(src: Path, dst: Path, title: str) -> Path:
    """The same streams in a new container (other bytes, so another source id; same frames)."""
    run_ffmpeg(["-i", safe_path(src), "-map", "0", "-c", "copy", "-metadata", f"title={title}", "-y",
                safe_path(dst)])  # fmt: skip
    return dst


def copy(src: Path, dst: Path) -> Path:
    dst.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(src, dst)
    return dst


def repo_pythonpath() -> str:
    """PYTHONPATH for Ray workers and jobs that import ``tests.*`` (the repo root first)."""
    return os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH", "")) if p)
