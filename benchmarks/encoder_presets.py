"""x264 settings for the cut stage: encode CPU time, bitrate and quality, written as JSON (not a test).

For each source (the shared media plus, optionally, a synthetic 1080p file) the cutter's reader
makes the first ``--frames`` output frames (25 fps, short side 480, AREA scaling): the reference.
Each candidate setting encodes exactly those frames through ``ClipEncoder`` on one thread (process
CPU time, so a busy machine does not skew it), and ffmpeg's ``psnr`` and ``ssim`` filters compare
the decoded clip with the reference frames. Bitrate is the MP4's size over its duration.

    python benchmarks/encoder_presets.py --media ../shared/media --frames 250
"""

from __future__ import annotations

import json
import re
import sys
import tempfile
import time
from pathlib import Path

import av
import numpy as np
import typer

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from humo_data.config import ClipsConfig  # noqa: E402
from humo_data.media.decode import SourceReader  # noqa: E402
from humo_data.media.encode import ClipEncoder  # noqa: E402
from humo_data.media.ffmpeg import run_ffmpeg, safe_path  # noqa: E402

VIDEO_EXT = (".mp4", ".mov", ".mkv")

TRIMMED = "me=dia:subme=1:partitions=i8x8,i4x4"  # veryfast's quality tools, cheaper motion search
#: name -> ClipEncoder keyword arguments; "veryfast crf18" is the reference the summary compares with
CANDIDATES: dict[str, dict] = {
    "veryfast crf18": {"preset": "veryfast", "crf": 18},
    "faster crf18": {"preset": "faster", "crf": 18},
    "superfast crf18": {"preset": "superfast", "crf": 18},
    "superfast crf21": {"preset": "superfast", "crf": 21},
    "ultrafast crf18": {"preset": "ultrafast", "crf": 18},
    "veryfast crf18 tune=fastdecode": {"preset": "veryfast", "crf": 18, "tune": "fastdecode"},
    "veryfast crf18 me=dia": {"preset": "veryfast", "crf": 18, "x264_params": "me=dia"},
    "veryfast crf18 me=dia:subme=1": {"preset": "veryfast", "crf": 18, "x264_params": "me=dia:subme=1"},
    f"veryfast crf18 {TRIMMED}": {"preset": "veryfast", "crf": 18, "x264_params": TRIMMED},
    f"veryfast crf17 {TRIMMED}": {"preset": "veryfast", "crf": 17, "x264_params": TRIMMED},
}
REFERENCE = "veryfast crf18"


def reference(path: Path, frames: int) -> tuple[list[np.ndarray], tuple[int, int]]:
    """The first ``frames`` frames exactly as the cutter hands them to the encoder (packed yuv420p)."""
    out: list[np.ndarray] = []
    with SourceReader(str(path), fps=25, short_side=480, detect_width=None, with_audio=False, threads=1) as r:
        for f in r.frames():
            out.append(f.frame.to_ndarray())
            if len(out) >= frames:
                break
        return out, r.size


def quality(clip: Path, ref: Path, size: tuple[int, int]) -> dict[str, float]:
    """PSNR (dB, average of Y/U/V weighted by ffmpeg) and SSIM (All) of ``clip`` against raw ``ref``."""
    w, h = size
    proc = run_ffmpeg(["-i", safe_path(clip), "-f", "rawvideo", "-pix_fmt", "yuv420p", "-s", f"{w}x{h}",
                       "-r", "25", "-i", safe_path(ref), "-lavfi", "[0:v]split[a][b];[1:v]split[c][d];"
                       "[a][c]psnr;[b][d]ssim", "-f", "null", "-"])  # fmt: skip
    err = proc.stderr.decode("utf-8", "replace")
    psnr = re.search(r"PSNR y:(\S+) .*average:(\S+)", err)
    ssim = re.search(r"SSIM Y:(\S+) .*All:(\S+)", err)
    return {"psnr_y": float(psnr.group(1)), "psnr_avg": float(psnr.group(2)),
            "ssim_y": float(ssim.group(1)), "ssim_all": float(ssim.group(2))}  # fmt: skip


def encode(frames: list[np.ndarray], size: tuple[int, int], opts: dict) -> tuple[bytes, float]:
    """Encode on one thread; returns (MP4 bytes, CPU seconds of the encode)."""
    vframes = [av.VideoFrame.from_ndarray(f, format="yuv420p") for f in frames]
    start = time.process_time()
    enc = ClipEncoder(*size, 25, threads=1, **opts)
    for f in vframes:
        enc.add(f)
    data = enc.finish(None)
    return data, time.process_time() - start


def summarise(per_source: dict[str, dict], name: str) -> dict[str, float]:
    """Means over sources, and ratios/differences against REFERENCE on the same frames (PSNR of an
    all-black stretch is infinite and is left out of the PSNR means)."""
    pairs = [(s["candidates"][name], s["candidates"][REFERENCE]) for s in per_source.values()]
    finite = [(v, b) for v, b in pairs if np.isfinite(v["psnr_avg"]) and np.isfinite(b["psnr_avg"])]
    return {
        "cpu_ms_per_frame": float(np.mean([v["cpu_ms_per_frame"] for v, _ in pairs])),
        "kbps": float(np.mean([v["kbps"] for v, _ in pairs])),
        "psnr_avg_db": float(np.mean([v["psnr_avg"] for v, _ in finite])),
        "ssim_all": float(np.mean([v["ssim_all"] for v, _ in pairs])),
        "cpu_vs_reference": float(np.mean([v["cpu_ms_per_frame"] / b["cpu_ms_per_frame"] for v, b in pairs])),
        "kbps_vs_reference": float(np.mean([v["kbps"] / b["kbps"] for v, b in pairs])),
        "psnr_avg_delta_db": float(np.mean([v["psnr_avg"] - b["psnr_avg"] for v, b in finite])),
        "psnr_y_delta_db_worst": float(min(v["psnr_y"] - b["psnr_y"] for v, b in finite)),
        "ssim_all_delta": float(np.mean([v["ssim_all"] - b["ssim_all"] for v, b in pairs])),
    }


def main(
    media: Path = typer.Option(REPO.parent / "shared" / "media", help="Folder of source videos."),
    extra: list[Path] = typer.Option([], help="More sources (e.g. the benchmark's 1080p testsrc2 file)."),
    frames: int = typer.Option(250, help="Output frames per source (10 s at 25 fps)."),
    output: Path = typer.Option(REPO / "benchmarks" / "results" / "encoder_presets.json"),
) -> None:
    files = sorted(p for p in media.iterdir() if p.suffix.lower() in VIDEO_EXT) + list(extra)
    per_source: dict[str, dict] = {}
    with tempfile.TemporaryDirectory(prefix="humo-enc-") as tmp:
        for path in files:
            ref_frames, size = reference(path, frames)
            ref = Path(tmp) / "ref.yuv"
            ref.write_bytes(b"".join(f.tobytes() for f in ref_frames))
            rows = {}
            for name, opts in CANDIDATES.items():
                data, cpu = encode(ref_frames, size, opts)
                clip = Path(tmp) / "clip.mp4"
                clip.write_bytes(data)
                rows[name] = {"cpu_ms_per_frame": 1e3 * cpu / len(ref_frames),
                              "kbps": len(data) * 8 / (len(ref_frames) / 25) / 1e3,
                              **quality(clip, ref, size)}  # fmt: skip
                print(
                    path.name, name, json.dumps({k: round(v, 3) for k, v in rows[name].items()}), flush=True
                )
            per_source[path.name] = {"size": list(size), "frames": len(ref_frames), "candidates": rows}
    summary = {name: summarise(per_source, name) for name in CANDIDATES}
    default = ClipsConfig()
    result = {
        "frames_per_source": frames, "threads": 1, "reference": REFERENCE,
        "default": {"preset": default.preset, "crf": default.crf, "x264_params": default.x264_params},
        "summary": summary, "per_source": per_source,
    }  # fmt: skip
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    typer.run(main)
