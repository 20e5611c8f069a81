"""What the face-size rules keep and what they cost, written as JSON (not a test):
benchmarks/results/face_size.json.

Working rows come from the real cutter (``cut_source``, audio not required) for every video in the
shared media, plus medium shots made here from the shared talking head (the head scaled and padded
into a larger grey frame, as in tests/faces/test_faces_size.py, and the issue's case: a 180 px face
in a 1280x720 frame). Each source's clips then run through the face stage twice, in this process:

  - ``default``: the pixel rules (faces.min_face_px in the stored clip, min_face_source_px in the
    source), no area rule;
  - ``strict``: the same plus the strict tier's area rule (configs/quality_strict.yaml, 4%).

Per source: clips kept / rejected by reason, the main face's median box side in stored-clip and
source pixels and its share of the frame (kept clips), one reject detail; per rule set: face-stage
CPU seconds per sampled frame (the dlib working scale follows the smallest face each set keeps, so
the pixel rules cost more detection work on large frames). Cutting is not timed. CPU seconds
(process time) are the measure: wall time on a shared machine measures the neighbours.

    python benchmarks/face_size.py --media ../shared/media
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import typer

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from humo_data.config import load_config  # noqa: E402
from humo_data.faces.stage import FaceStage  # noqa: E402
from humo_data.jobs.plan import cut_source  # noqa: E402
from humo_data.media.ffmpeg import run_ffmpeg, safe_path  # noqa: E402

OUT = REPO / "benchmarks" / "results" / "face_size.json"
TALKING = "sadtalker_WDA_AlexandriaOcasioCortez_000.mp4"
#: medium shots made from the talking head (~270 px face at 512x512): name -> video filter
MADE = {
    "medium_1080p_face_3pct": "scale=416:416,pad=1920:1080:(ow-iw)/2:(oh-ih)/2:color=gray",
    "medium_720p_face_180px": "scale=340:340,pad=1280:720:(ow-iw)/2:(oh-ih)/2:color=gray",
    "small_180p_face_40px": "scale=416:416,pad=1920:1080:(ow-iw)/2:(oh-ih)/2:color=gray,scale=320:180",
}


def _made(media: Path, tmp: Path) -> dict[str, Path]:
    out = {}
    for name, vf in MADE.items():
        path = tmp / f"{name}.mp4"
        run_ffmpeg(["-y", "-v", "error", "-t", "4", "-i", safe_path(media / TALKING), "-an", "-vf", vf,
                    "-c:v", "libx264", "-preset", "ultrafast", "-crf", "18", safe_path(path)])  # fmt: skip
        out[name] = path
    return out


def _face_numbers(row: dict) -> dict:
    boxes = (row.get("face_track") or {}).get("boxes") or []
    sides = [min(b[2] - b[0], b[3] - b[1]) for b in boxes]
    if not sides:
        return {}
    side = statistics.median(sides)
    src = min(row["source_width"], row["source_height"]) / min(row["width"], row["height"])
    return {
        "stored_px": side,
        "source_px": side * src,
        "frame_share": side * side / (row["width"] * row["height"]),
    }


def _run(tables: dict[str, pa.Table], profile: str) -> dict:
    cfg = load_config(profile, ["probe.require_audio=false"])
    stage = FaceStage(cfg.faces)
    stage._ensure_ready()
    per_source, cpu, frames = {}, 0.0, 0
    for name, table in tables.items():
        c = time.process_time()
        out = stage(table)
        cpu += time.process_time() - c
        rows = [r for r in out.to_pylist() if r["_kind"] == "clip"]
        frames += sum(len(r["_frames"] or []) for r in table.to_pylist() if r["_kind"] == "clip")
        outcomes = Counter(r["_reject_reason"] or "kept" for r in rows)
        kept = [_face_numbers(r) for r in rows if not r["_reject_reason"]]
        kept = [k for k in kept if k]
        detail = next((r["_reject_detail"] for r in rows if r["_reject_reason"] == "face_too_small"), None)
        per_source[name] = {
            "clips": len(rows),
            "outcomes": dict(outcomes),
            "kept_face_median": {k: statistics.median(x[k] for x in kept) for k in kept[0]} if kept else None,
            "too_small_example": detail,
        }
    return {
        "faces_config": {
            k: getattr(cfg.faces, k) for k in ("min_face_px", "min_face_source_px", "min_face_area")
        },
        "sampled_frames": frames,
        "cpu_s": cpu,
        "cpu_ms_per_frame": 1000 * cpu / max(frames, 1),
        "clips_kept": sum(s["outcomes"].get("kept", 0) for s in per_source.values()),
        "by_source": per_source,
    }


def main(media: Path = typer.Option(REPO.parent / "shared" / "media", help="Shared media folder.")) -> None:
    cfg = load_config("default", ["probe.require_audio=false"])
    with tempfile.TemporaryDirectory() as tmp:
        sources = {p.name: p for p in sorted(media.glob("*.mp4"))}
        sources.update(_made(media, Path(tmp)))
        tables = {}
        for name, path in sources.items():
            table = cut_source(str(path), cfg)
            clips = pc.fill_null(pc.equal(table.column("_kind"), "clip"), False)
            table = table.filter(pc.and_(clips, pc.is_null(table.column("_reject_reason"))))
            if table.num_rows:
                tables[name] = table
    result = {
        "machine": {
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "python": platform.python_version(),
            "load_average_1m": os.getloadavg()[0],
        },  # fmt: skip
        "default": _run(tables, "default"),
        "strict": _run(tables, "quality_strict"),
    }
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(result, indent=2) + "\n")
    print(
        json.dumps(
            {k: {x: result[k][x] for x in ("cpu_ms_per_frame", "clips_kept")} for k in ("default", "strict")}
        )
    )


if __name__ == "__main__":
    typer.run(main)
