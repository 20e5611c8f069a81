"""Sync-stage input rows made by the pipeline itself, for tests and benchmarks/sync_recovery.py.

A shifted upload is made the way one looks in the wild: ffmpeg re-muxes the source with its
audio track delayed (padded) or advanced (cut) by k video frames, picture packets copied. The
file then goes through the same functions the curate job runs before the sync stage: probe and
cut (``cut_source``: 480p H.264 clips, FLAC, ``_audio_pcm`` with the sync margin) and the faces
stage (``face_track``). Nothing in a row is edited afterwards.

    path = shifted_source(media_file("latentsync_demo1_video.mp4"), tmp / "d1+4.mp4", 4)
    rows = pipeline_rows(path, max_seconds=3.88)     # live clip rows, in source order
"""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from humo_data.media.ffmpeg import run_ffmpeg, safe_path

FPS = 25.0
#: talking sources of ../shared/media (in sync as published); liveportrait_d10 lip-syncs to music
TALKING_SOURCES = (
    "sadtalker_WDA_AlexandriaOcasioCortez_000.mp4",
    "latentsync_demo1_video.mp4",
    "latentsync_demo3_video.mp4",
)


def shifted_source(src: str | Path, out: str | Path, frames: int, fps: float = FPS) -> Path:
    """``src`` with its audio delayed by ``frames`` video frames (negative: advanced), video
    packets copied, audio re-encoded as AAC (also for 0, so every copy takes the same path)."""
    seconds = abs(frames) / fps
    if frames > 0:
        audio_filter = f"adelay=delays={seconds * 1000:.3f}:all=1"
    elif frames < 0:
        audio_filter = f"atrim=start={seconds:.6f},asetpts=PTS-STARTPTS"
    else:
        audio_filter = "anull"
    out = Path(out)
    args = ["-i", safe_path(src), "-map", "0:v:0", "-map", "0:a:0", "-c:v", "copy", "-af", audio_filter,
            "-c:a", "aac", "-b:a", "192k", "-y", safe_path(out)]  # fmt: skip
    run_ffmpeg(args, timeout=300)
    return out


def curate_config(max_seconds: float = 10.0, overrides: tuple[str, ...] = ()):
    """The default profile as the job runs it, with the clip length set."""
    from humo_data.config import load_config

    return load_config(
        "default",
        [
            f"clips.max_seconds={max_seconds}",
            "sync.enabled=true",
            *overrides,
        ],
    )


def pipeline_table(
    path: str | Path, max_seconds: float = 10.0, overrides: tuple[str, ...] = (), faces: bool = True
) -> pa.Table:
    """The cutter's and faces stage's working table of ``path``: live clips as the sync stage gets
    them (``faces=False``: as a job with the faces stage off hands them on, no ``face_track``)."""
    from humo_data.faces.stage import FaceStage
    from humo_data.jobs.plan import cut_source

    cfg = curate_config(max_seconds, overrides)
    table = cut_source(str(path), cfg)
    live = table.filter(
        pc.and_(pc.equal(table.column("_kind"), "clip"), table.column("_reject_reason").is_null())
    )
    if not faces:
        return live
    faced = FaceStage(cfg.faces)(live)
    return faced.filter(faced.column("_reject_reason").is_null())


def pipeline_rows(
    path: str | Path, max_seconds: float = 10.0, overrides: tuple[str, ...] = (), faces: bool = True
) -> list[dict]:
    return pipeline_table(path, max_seconds, overrides, faces).to_pylist()
