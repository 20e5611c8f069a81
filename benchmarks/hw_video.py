"""Hardware video on a GPU worker: NVDEC vs CPU decoding, NVENC vs x264 encoding (not a test).

On the shared media (../shared/media from the repo root) it measures, per source and summed:

- decode: the cut stage's reader (decode, NVDEC's frames repacked, scaled to the clip size) over
  the first ``--frames`` output frames: source frames decoded per second, wall and CPU seconds,
  which decoder ran (``video_decoder``, a per-source fallback's reason) and whether the output
  frames are byte-equal to the CPU decode's;
- encode: the same reference frames (the CPU reader's) through ``ClipEncoder``: x264 as the cut
  stage runs it, NVENC at constant quality (cq = crf, as ``clips.encoder=nvenc`` runs it) and
  NVENC at x264's bit rate; frames per second, kbit/s, PSNR/SSIM against the reference frames
  (ffmpeg's psnr/ssim filters) and NVENC's against x264's clip;
- cut: the whole cut stage per source (``ClipCutStage``, default settings) for each decoder x
  encoder pair that works here: clips per second, and whether NVDEC's clips equal the CPU's.

Where NVDEC or NVENC does not work (no GPU, A100/H100 have no NVENC, Ray hid the GPU) the JSON
records the preflight's reason and measures the rest.

    python benchmarks/hw_video.py                        # writes benchmarks/results/hw_video.json
    python benchmarks/hw_video.py --frames 500 --repeats 3
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import av
import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from encoder_presets import quality, reference  # noqa: E402 - the sibling benchmark's helpers

from humo_data.clips.cutter import ClipCutStage, CutConfig  # noqa: E402
from humo_data.config import load_config  # noqa: E402
from humo_data.media.decode import SourceReader  # noqa: E402
from humo_data.media.encode import NVENC, X264, ClipEncoder, nvenc_preflight  # noqa: E402
from humo_data.media.ffmpeg import run_ffmpeg, safe_path  # noqa: E402
from humo_data.media.hwdecode import CPU, NVDEC, nvdec_preflight  # noqa: E402
from humo_data.probe.stage import ProbeStage  # noqa: E402

VIDEO_EXT = (".mp4", ".mov", ".mkv")
#: part of a source's entry -> its summary key (what per second: decoded frames, encoded frames, clips)
PARTS = {"decode": "decode_fps", "encode": "encode_fps", "cut": "clips_per_second"}
FPS, SHORT_SIDE = 25, 480  # the cut stage's defaults


def rows(entry: dict, part: str) -> dict[str, dict]:
    """A source's measured rows of one part, by decoder / encoder / pair."""
    return entry.get(part, {}).get("encoders", {}) if part == "encode" else entry.get(part, {})


def gpu_name() -> str | None:
    exe = shutil.which("nvidia-smi")
    if exe is None:
        return None
    try:
        out = subprocess.run([exe, "--query-gpu=name", "--format=csv,noheader"], capture_output=True,
                             text=True, timeout=20, check=False).stdout  # fmt: skip
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.strip() or None


def timed(fn, repeats: int):
    """(result of the fastest run, its wall seconds, its process CPU seconds)."""
    best = None
    for _ in range(repeats):
        t0, c0 = time.perf_counter(), time.process_time()
        result = fn()
        run = (result, time.perf_counter() - t0, time.process_time() - c0)
        best = run if best is None or run[1] < best[1] else best
    return best


def decode(path: Path, decoder: str, frames: int, repeats: int) -> dict:
    """The reader over the first ``frames`` output frames: fps of the decoder, and a digest of
    the frames it hands the encoder."""

    def run():
        digest = hashlib.blake2b(digest_size=16)
        with SourceReader(str(path), fps=FPS, short_side=SHORT_SIDE, detect_width=None, with_audio=False,
                          decoder=decoder) as reader:  # fmt: skip
            n = 0
            for frame in reader.frames():
                digest.update(frame.frame.to_ndarray().tobytes())
                n += 1
                if n >= frames:
                    break
            return reader.frames_decoded, n, reader.decoder, reader.decoder_fallback, digest.hexdigest()

    (decoded, emitted, name, fallback, digest), wall, cpu = timed(run, repeats)
    return {"video_decoder": name, "decoder_fallback": fallback, "frames_decoded": decoded,
            "frames_out": emitted, "seconds": wall, "cpu_seconds": cpu, "decode_fps": decoded / wall,
            "digest": digest}  # fmt: skip


def encode_nvenc_at(frames: list[np.ndarray], size: tuple[int, int], kbps: float, preset: str) -> bytes:
    """NVENC at a target bit rate (VBR), for the same-rate comparison with x264 (the cut stage
    runs NVENC at constant quality, ``ClipEncoder``)."""
    buf = io.BytesIO()
    with av.open(buf, "w", format="mp4") as out:
        stream = out.add_stream(NVENC, rate=FPS)
        stream.width, stream.height, stream.pix_fmt = *size, "yuv420p"
        rate = f"{max(1, round(kbps))}k"
        stream.codec_context.options = {"rc": "vbr", "b": rate, "maxrate": f"{max(1, round(2 * kbps))}k",
                                        "preset": preset}  # fmt: skip
        for i, f in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(f, format="yuv420p")
            frame.pts = i
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    return buf.getvalue()


def encode(path: Path, frames: int, nvenc_ok: bool, tmp: Path, repeats: int) -> dict:
    clips = load_config("default").clips
    ref_frames, size = reference(path, frames)
    ref = tmp / "ref.yuv"
    ref.write_bytes(b"".join(f.tobytes() for f in ref_frames))
    seconds = len(ref_frames) / FPS

    def clip_encoder(encoder: str):
        def run():
            enc = ClipEncoder(*size, FPS, crf=clips.crf, preset=clips.preset, x264_params=clips.x264_params,
                              threads=clips.encode_threads, encoder=encoder, nvenc_preset=clips.nvenc_preset)  # fmt: skip
            for f in ref_frames:
                enc.add(av.VideoFrame.from_ndarray(f, format="yuv420p"))
            return enc.finish(None)

        return run

    def measure(name: str, run) -> bytes:
        data, wall, cpu = timed(run, repeats)
        clip = tmp / f"{name}.mp4"
        clip.write_bytes(data)
        rows[name] = {"encode_fps": len(ref_frames) / wall, "frames": len(ref_frames), "seconds": wall, "cpu_seconds": cpu,
                      "kbps": len(data) * 8 / seconds / 1e3, **quality(clip, ref, size)}  # fmt: skip
        return data

    rows: dict[str, dict] = {}
    measure("x264", clip_encoder(X264))
    if nvenc_ok:
        measure("nvenc_cq", clip_encoder(NVENC))
        kbps = rows["x264"]["kbps"]
        measure("nvenc_at_x264_rate", lambda: encode_nvenc_at(ref_frames, size, kbps, clips.nvenc_preset))
        x264_raw = tmp / "x264.yuv"  # NVENC's clip against x264's, frame by frame
        run_ffmpeg(["-i", safe_path(tmp / "x264.mp4"), "-f", "rawvideo", "-pix_fmt", "yuv420p", "-y",
                    safe_path(x264_raw)])  # fmt: skip
        rows["nvenc_at_x264_rate"]["vs_x264"] = quality(tmp / "nvenc_at_x264_rate.mp4", x264_raw, size)
    return {"size": list(size), "frames": len(ref_frames), "encoders": rows}


def cut(path: Path, decoder: str, encoder: str, repeats: int) -> dict:
    """The cut stage over the whole source with one decoder x encoder pair."""
    cfg = load_config("default", [f"clips.decoder={decoder}", f"clips.encoder={encoder}"])
    probe = ProbeStage(cfg.probe.model_copy(update={"require_audio": False}))
    row = next(iter(probe.run_rows([{"source_uri": str(path), "_source_size": path.stat().st_size,
                                      "_kind": "source"}])))  # fmt: skip
    stage = ClipCutStage(CutConfig(shots=cfg.shots, clips=cfg.clips, frames=cfg.frames))

    def run():
        return list(stage.run_rows([row]))

    out, wall, cpu = timed(run, repeats)
    clips = [r for r in out if r["_kind"] == "clip" and r.get("_reject_reason") is None]
    done = out[-1]["_source_stats"] or {}
    video_seconds = sum(c["end_time"] - c["start_time"] for c in clips)
    return {"clips": len(clips), "seconds": wall, "cpu_seconds": cpu, "clips_per_second": len(clips) / wall,
            "video_seconds": video_seconds, "video_seconds_per_second": video_seconds / wall,
            "video_decoders": sorted({c["video_decoder"] for c in clips}),
            "video_encoders": sorted({c["video_encoder"] for c in clips}),
            "decoder_fallback": done.get("decoder_fallback"),
            "_clips": [(c["clip_id"], hashlib.blake2b(c["video"], digest_size=16).hexdigest()) for c in clips]}  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--media", type=Path, default=REPO.parent / "shared" / "media", help="folder of sources")
    ap.add_argument("--frames", type=int, default=250, help="output frames per source for decode and encode")
    ap.add_argument("--repeats", type=int, default=1, help="runs per measurement (the fastest counts)")
    ap.add_argument("--no-cut", action="store_true", help="skip the whole-stage clips/s part")
    ap.add_argument("--output", type=Path, default=REPO / "benchmarks" / "results" / "hw_video.json")
    args = ap.parse_args()

    started = time.perf_counter()
    files = sorted(p for p in args.media.iterdir() if p.suffix.lower() in VIDEO_EXT)
    unavailable = {"nvdec": nvdec_preflight(), "nvenc": nvenc_preflight()}
    print(json.dumps({"unavailable": unavailable}, indent=2), flush=True)
    decoders = [CPU] + ([NVDEC] if unavailable["nvdec"] is None else [])
    encoders = ["x264"] + (["nvenc"] if unavailable["nvenc"] is None else [])
    per_source: dict[str, dict] = {}
    with tempfile.TemporaryDirectory(prefix="humo-hw-") as tmp:
        for path in files:
            entry: dict = {"decode": {d: decode(path, d, args.frames, args.repeats) for d in decoders}}
            cpu_digest = entry["decode"][CPU]["digest"]
            for row in entry["decode"].values():
                row["same_frames_as_cpu"] = row.pop("digest") == cpu_digest
            entry["encode"] = encode(path, args.frames, unavailable["nvenc"] is None, Path(tmp), args.repeats)
            if not args.no_cut:
                entry["cut"] = {f"{d}+{e}": cut(path, d, e, args.repeats) for d in decoders for e in encoders}
                base = entry["cut"]["cpu+x264"].pop("_clips")
                for name, row in entry["cut"].items():
                    if name != "cpu+x264":
                        clips = row.pop("_clips")
                        row["same_clip_ids_as_cpu_x264"] = [c for c, _ in clips] == [c for c, _ in base]
                        if name.endswith("+x264"):
                            row["same_clip_bytes_as_cpu_x264"] = clips == base
            per_source[path.name] = entry
            print(path.name, json.dumps({part: {name: round(row[key], 2) for name, row in rows(entry, part).items()}
                                         for part, key in PARTS.items() if part in entry}), flush=True)  # fmt: skip

    summary = {}
    for part, key in PARTS.items():
        names = sorted({name for entry in per_source.values() for name in rows(entry, part)})
        grouped = {
            name: [rows(e, part)[name] for e in per_source.values() if name in rows(e, part)]
            for name in names
        }
        count = {"decode": "frames_decoded", "encode": "frames", "cut": "clips"}[part]
        summary[key] = {
            name: sum(r[count] for r in rs) / sum(r["seconds"] for r in rs) for name, rs in grouped.items()
        }
        if part == "decode":
            summary["decode_same_frames_as_cpu"] = {
                n: all(r["same_frames_as_cpu"] for r in rs) for n, rs in grouped.items()
            }
        if part == "encode":
            for metric in ("kbps", "psnr_avg", "ssim_all"):
                summary[f"encode_{metric}_mean"] = {
                    n: float(np.mean([r[metric] for r in rs if np.isfinite(r[metric])]))
                    for n, rs in grouped.items()
                }
        if part == "cut":
            summary["cut_video_seconds_per_second"] = {
                n: sum(r["video_seconds"] for r in rs) / sum(r["seconds"] for r in rs)
                for n, rs in grouped.items()
            }
    result = {
        "benchmark": "hw_video",
        "machine": {
            "gpu": gpu_name(),
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "python": platform.python_version(),
            "pyav": av.__version__,
            "load_average": os.getloadavg(),
        },  # fmt: skip
        "unavailable": unavailable,
        "settings": {
            "frames": args.frames,
            "repeats": args.repeats,
            "fps": FPS,
            "short_side": SHORT_SIDE,
            "decoders": decoders,
            "encoders": encoders,
        },  # fmt: skip
        "summary": summary,
        "per_source": per_source,
        "seconds": time.perf_counter() - started,
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
