"""Interlaced and damaged copies of a shared talking-head video, made with ffmpeg and byte edits.

interlaced_copy(src, out)     # 720x576 H.264 + AAC, fields woven by tinterlace, +ilme+ildct
h264_copy(src, out)           # the same footage progressive 720x576 H.264 + AAC (x264 defaults)
flip_video_bytes(src, out, lo, hi)   # a few bytes flipped in the video packets shown in [lo, hi) s
combing(gray)                 # comb energy of one luma image (> 1: woven fields)
"""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np

from humo_data.media.ffmpeg import run_ffmpeg, safe_path

#: the shared talking head these copies are made of (8 s, 25 fps, AAC audio)
TALKING = "sadtalker_WDA_AlexandriaOcasioCortez_000.mp4"


def interlaced_copy(src: Path, out: Path) -> Path:
    """What a broadcast interview looks like: 720x576, two fields per frame, coded as interlaced.

    ``tinterlace=interleave_top`` weaves the top field of one frame with the bottom field of the
    next (12.5 frames/s of 25 fields/s from a 25p source), so moving edges comb when the frame is
    shown as a picture."""
    run_ffmpeg(
        ["-i", safe_path(src), "-vf", "scale=720:576,setsar=1,tinterlace=interleave_top",
         "-pix_fmt", "yuv420p", "-c:v", "libx264", "-flags", "+ilme+ildct", "-c:a", "aac", "-y", safe_path(out)]
    )  # fmt: skip
    return out


def h264_copy(src: Path, out: Path) -> Path:
    run_ffmpeg(
        ["-i", safe_path(src), "-vf", "scale=720:576,setsar=1", "-pix_fmt", "yuv420p", "-c:v", "libx264",
         "-c:a", "aac", "-y", safe_path(out)]
    )  # fmt: skip
    return out


def flip_video_bytes(src: Path, out: Path, lo: float, hi: float, per_packet: int = 3) -> list[float]:
    """``src`` with ``per_packet`` bytes inverted inside each video packet shown in [lo, hi) seconds
    (past each packet's 4-byte NAL length and header, so the container index stays intact).
    Returns the times of the damaged packets."""
    data = bytearray(src.read_bytes())
    rng = np.random.default_rng(0)
    hit = []
    with av.open(str(src)) as c:
        for p in c.demux(video=0):
            if p.pts is None or not p.size or p.pos is None or not lo <= float(p.pts * p.time_base) < hi:
                continue
            for off in rng.integers(8, p.size, per_packet):
                data[p.pos + int(off)] ^= 0xFF
            hit.append(float(p.pts * p.time_base))
    out.write_bytes(bytes(data))
    return sorted(hit)


def corrupt_frame_times(path: Path) -> list[float]:
    """Times of the frames PyAV's decoder flags corrupt (errors concealed), from its own decode."""
    with av.open(str(path)) as c:
        times = []
        for packet in c.demux(video=0):
            try:
                times += [f.time for f in packet.decode() if f.is_corrupt]
            except av.error.InvalidDataError:
                times.append(float(packet.pts * packet.time_base))
        return times


def combing(gray: np.ndarray) -> float:
    """Energy of each line's departure from its two neighbours (the other field) over the same
    for lines two apart (its own field). Progressive pictures: well under 1 (~0.15-0.2 on real
    footage); woven fields with motion: over 1, since neighbouring lines come from another instant."""
    y = gray.astype(np.float32)
    cross = ((y[1:-1] - (y[:-2] + y[2:]) / 2) ** 2).mean()
    same = ((y[2:-2] - (y[:-4] + y[4:]) / 2) ** 2).mean()
    return float(cross / max(same, 1e-6))
