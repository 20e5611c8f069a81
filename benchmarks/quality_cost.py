"""Cost of the quality stages and the template captioner per video-second, written as JSON (not a test).

Working rows come from the real cutter (``cut_source``: sampled frames + motion, as the stream
hands them on) for every video in the shared media (audio not required, so silent sources count
too). Cutting is not timed; only the stages are, in this process, one CPU:

  1. ``quality``: QualityStage (decode five JPEG stills as luma, metrics, borders, gates), and
     again with the optional burned-in text detector (PP-OCRv4 det on onnxruntime) when installed;
  2. ``face_quality``: FaceQualityStage on dlib face tracks of the same clips (detection not timed);
  3. ``template_captions``: CaptionStage with the offline template captioner.

The aesthetic and CLIP-alignment stages and the VLM captioners need real weights (and, to be
meaningful, a GPU); none are available here, so they are reported as not measured rather than
timed on random tiny models.

    python benchmarks/quality_cost.py --media ../shared/media
"""

from __future__ import annotations

import importlib.util
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import pyarrow as pa
import typer

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from humo_data.captions import CaptionsConfig, CaptionStage  # noqa: E402
from humo_data.config import load_config  # noqa: E402
from humo_data.jobs.plan import cut_source  # noqa: E402
from humo_data.media.frames import decode_frames  # noqa: E402
from humo_data.quality import FaceQualityStage, QualityConfig, QualityStage  # noqa: E402
from humo_data.quality.config import TextConfig  # noqa: E402
from humo_data.stage import live_mask  # noqa: E402

VIDEO_EXT = (".mp4", ".mov", ".mkv")


def dlib_tracks(table: pa.Table) -> pa.Table:
    """face_track (times + boxes in clip pixels) of the main face, from dlib's HOG detector."""
    import dlib

    detector = dlib.get_frontal_face_detector()
    tracks = []
    for row in table.select(["_frames", "width", "_kind"]).to_pylist():
        times, boxes = [], []
        for f in decode_frames(row["_frames"]) if row["_kind"] == "clip" else []:
            found = detector(f.rgb, 0)
            if len(found):
                r, s = max(found, key=lambda r: r.area()), row["width"] / f.width
                times.append(f.time)
                boxes.append([r.left() * s, r.top() * s, r.right() * s, r.bottom() * s])
        tracks.append({"times": times, "boxes": boxes} if times else None)
    i = table.schema.get_field_index("face_track")
    return table.set_column(i, "face_track", pa.array(tracks, type=table.schema.field("face_track").type))


def video_seconds(table: pa.Table) -> float:
    starts, ends = table.column("start_time").to_pylist(), table.column("end_time").to_pylist()
    return float(sum(e - s for s, e in zip(starts, ends, strict=True)))


def cost(sec: float, rows: int, video_s: float) -> dict:
    return {
        "cpu_seconds": round(sec, 5),
        "clips": rows,
        "ms_per_clip": round(1000 * sec / max(rows, 1), 3),
        "cpu_seconds_per_video_second": round(sec / max(video_s, 1e-9), 6),
        "video_seconds_per_cpu_second": round(video_s / max(sec, 1e-9), 1),
    }


def timed(stage, table: pa.Table, repeats: int) -> float:
    """Median CPU seconds (this process, all its threads) of ``stage(table)`` over ``repeats`` runs,
    setup excluded. CPU time, not wall time: the machine is shared, and wall time there measures
    the neighbours as much as the stage."""
    stage._ensure_ready()
    runs = []
    for _ in range(repeats):
        t0 = time.process_time()
        stage(table)
        runs.append(time.process_time() - t0)
    return statistics.median(runs)


def main(
    media: Path = typer.Option(REPO.parent / "shared" / "media", help="Folder of test videos."),
    repeats: int = typer.Option(5, help="Timed runs per stage (median reported)."),
    output: Path = typer.Option(REPO / "benchmarks" / "results" / "quality.json", help="Result JSON."),
) -> None:
    cfg = load_config("default", ["probe.require_audio=false"])
    tables = [cut_source(str(p), cfg) for p in sorted(media.iterdir()) if p.suffix.lower() in VIDEO_EXT]
    table = pa.concat_tables(tables)
    table = table.filter(pa.array(live_mask(table)))
    clips = table.num_rows
    seconds = video_seconds(table)
    stills = sum(len(f or []) for f in table.column("_frames").to_pylist())

    quality = QualityStage(QualityConfig())
    q_s = timed(quality, table, repeats)
    gated = quality(table)
    rejected = [r for r in gated.column("_reject_reason").to_pylist() if r]
    survivors = gated.filter(pa.array(live_mask(gated)))
    text = None
    if importlib.util.find_spec("rapidocr_onnxruntime") is not None:  # optional text detector
        t_cfg = QualityConfig(text=TextConfig(backend="ppocr-det"))
        text = {**cost(timed(QualityStage(t_cfg), table, repeats), clips, seconds),
                "note": "QualityStage with quality.text.backend=ppocr-det (3 stills at 640 px long side, survivors of the other gates)"}  # fmt: skip
    with_faces = dlib_tracks(survivors)
    f_s = timed(FaceQualityStage(QualityConfig()), with_faces, repeats)
    c_s = timed(CaptionStage(CaptionsConfig(enabled=True)), with_faces, repeats)

    surv_seconds = video_seconds(survivors)
    result = {
        "benchmark": "quality_cost",
        "machine": {
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "load_average_1m_at_start": round(os.getloadavg()[0], 2),
            "note": "CPU seconds of this process (time.process_time), median of the repeats; the "
            "machine is shared by other jobs, which inflates wall time but not CPU time much",
        },
        "input": {
            "files": len(tables),
            "clips": clips,
            "video_seconds": round(seconds, 2),
            "sampled_stills": stills,
            "still_short_side_cap": cfg.frames.short_side,
        },
        "quality": {
            **cost(q_s, clips, seconds),
            "rejected": len(rejected),
            "rejects_by_reason": {r: rejected.count(r) for r in sorted(set(rejected))},
        },
        "face_quality": cost(f_s, survivors.num_rows, surv_seconds),
        "template_captions": cost(c_s, survivors.num_rows, surv_seconds),
        "quality_with_text_detector": text
        or "not measured: rapidocr-onnxruntime (the detector's ONNX) not installed",
        "not_measured": {
            "aesthetic_laion_mlp": "needs real CLIP ViT-L/14 + head weights (none offline); a random tiny model's speed says nothing",
            "clip_alignment": "needs real open_clip weights; same reason",
            "vlm_transformers": "needs real Qwen2.5-VL-class weights and a GPU; none available on this machine",
            "vlm_vllm": "needs vllm, a GPU and weights; building the processor is tested, running is not possible here",
        },
    }
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    typer.run(main)
