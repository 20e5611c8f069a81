"""Working clip rows built from a media file, as the cutter hands them to the face stage.

Decodes the file once with PyAV, cuts it into clips of ``clip_seconds`` inside the given shots, and
samples each clip's frames at the cutter's fractions (short side capped like FramesConfig).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path

import av
import cv2
import numpy as np

from humo_data.media.ffmpeg import run_ffmpeg, safe_path
from humo_data.media.frames import capped_size, frame_record

FRACTIONS = (0.05, 0.25, 0.5, 0.75, 0.95)


def decode_all(path: Path, short_side: int = 720) -> tuple[list[float], list[np.ndarray]]:
    """Every frame's time (s, from the first frame) and RGB image, short side capped."""
    times, images = [], []
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        t0 = None
        for frame in container.decode(stream):
            t = float(frame.time or 0.0)
            t0 = t if t0 is None else t0
            rgb = frame.to_ndarray(format="rgb24")
            w, h = capped_size(rgb.shape[1], rgb.shape[0], short_side)
            if (w, h) != (rgb.shape[1], rgb.shape[0]):
                rgb = cv2.resize(rgb, (w, h), interpolation=cv2.INTER_AREA)
            times.append(t - t0)
            images.append(rgb)
    return times, images


def frames_at(path: Path, times: Sequence[float], short_side: int = 720) -> list[np.ndarray]:
    """RGB frames nearest to ``times`` (s), decoding only up to the last one."""
    wanted = sorted(times)
    out: list[np.ndarray] = []
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        t0 = None
        for frame in container.decode(stream):
            t = float(frame.time or 0.0)
            t0 = t if t0 is None else t0
            while wanted and t - t0 >= wanted[0]:
                wanted.pop(0)
                rgb = frame.to_ndarray(format="rgb24")
                w, h = capped_size(rgb.shape[1], rgb.shape[0], short_side)
                out.append(
                    cv2.resize(rgb, (w, h), interpolation=cv2.INTER_AREA) if w != rgb.shape[1] else rgb
                )
            if not wanted:
                break
    return out


def clip_rows(
    path: Path,
    *,
    source_id: str | None = None,
    clip_seconds: float = 4.0,
    shots: Sequence[tuple[float, float]] | None = None,
    short_side: int = 720,
    clip_short_side: int = 480,
) -> list[dict]:
    """Clip rows (``_kind='clip'``) of ``path``: shots (start, end) in seconds, each cut into clips."""
    times, images = decode_all(path, short_side)
    duration = times[-1] + (times[1] - times[0] if len(times) > 1 else 0.04)
    source_id = source_id or hashlib.sha256(str(path).encode()).hexdigest()[:24]
    shots = shots or [(0.0, duration)]
    tarr = np.asarray(times)
    rows = []
    for shot_index, (s0, s1) in enumerate(shots):
        n = max(1, int((s1 - s0) // clip_seconds))
        for ci in range(n):
            start = s0 + ci * clip_seconds
            end = min(s1, start + clip_seconds)
            frames = []
            for k, frac in enumerate(FRACTIONS):
                t = start + frac * (end - start)
                i = int(np.argmin(np.abs(tarr - t)))
                frames.append(frame_record(k, float(times[i] - start), images[i]))
            h, w = images[0].shape[:2]
            cw, ch = capped_size(w, h, clip_short_side)
            clip_id = hashlib.sha256(f"{source_id}:{start:.3f}".encode()).hexdigest()[:24]
            rows.append({
                "_kind": "clip", "_unit": clip_id, "clip_id": clip_id, "source_id": source_id,
                "source_uri": str(path), "shot_index": shot_index, "clip_index": ci,
                "start_time": start, "end_time": end, "fps": 25.0, "num_frames": int(round((end - start) * 25)),
                "width": cw, "height": ch, "video_codec": "h264", "has_audio": False,
                "shot_backend": "test", "stage1": False, "stage2": False, "_frames": frames,
            })  # fmt: skip
    return rows


def concat_clips(parts: list[tuple[Path, float, float]], out: Path) -> Path:
    """Cut (file, start, seconds) pieces and join them at 512x512, 25 fps (a hard cut at each join)."""
    args: list[str] = []
    for src, start, seconds in parts:
        args += ["-ss", str(start), "-t", str(seconds), "-i", safe_path(src)]
    graph = "".join(f"[{i}:v]scale=512:512,fps=25,setsar=1,format=yuv420p[v{i}];" for i in range(len(parts)))
    graph += "".join(f"[v{i}]" for i in range(len(parts))) + f"concat=n={len(parts)}:v=1:a=0[v]"
    run_ffmpeg(
        [
            *args,
            "-filter_complex",
            graph,
            "-map",
            "[v]",
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-y",
            safe_path(out),
        ]
    )
    return out
