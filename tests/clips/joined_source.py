"""A multi-shot source with audio long enough to split into several ranges, made from tests/data."""

from __future__ import annotations

from pathlib import Path

from humo_data.media.ffmpeg import run_ffmpeg, safe_path

SAMPLE = Path(__file__).resolve().parents[1] / "data"


def joined_multishot(out: Path, times: int = 3) -> Path:
    """``multishot_aba_9s.mp4`` (shots A, B, A) joined ``times`` times: 9 shots in 27 s where the
    last A of one copy runs on into the first A of the next (one shot across the join), keyframes
    every 2 s; 256x256 so that cutting it twice stays quick."""
    src = safe_path(SAMPLE / "multishot_aba_9s.mp4")
    graph = (
        "".join(f"[{i}:v][{i}:a]" for i in range(times))
        + f"concat=n={times}:v=1:a=1[j][a];[j]scale=256:256[v]"
    )
    run_ffmpeg([*(a for _ in range(times) for a in ("-i", src)), "-filter_complex", graph, "-map", "[v]",
                "-map", "[a]", "-c:v", "libx264", "-preset", "ultrafast", "-g", "50", "-c:a", "aac", "-y",
                safe_path(out)])  # fmt: skip
    return out
