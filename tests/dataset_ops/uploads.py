"""Near-duplicate "uploads" made in the test from real media: the copies a scraper meets on the web.

    make_upload(src, dst, trim=1.0, vf="crop=iw*0.9:ih*0.9", bitrate="150k")

Each is a new file (an ffmpeg re-encode of ``src``, x264 CRF 23 unless told): a low-quality
re-encode (CRF 34, or 150 kbit/s), scaled to 3/4, a 10% crop, a letterbox, or the first second
trimmed. Written under the test's tmp folder only.
"""

from __future__ import annotations

from pathlib import Path

from humo_data.media.ffmpeg import run_ffmpeg, safe_path

#: (name, make_upload arguments): the copies of one video, each worse than it or shorter
COPIES: tuple[tuple[str, dict], ...] = (
    ("crf34", {"crf": 34}),
    ("bitrate", {"bitrate": "150k"}),
    ("scaled", {"vf": "scale=iw*3/4:ih*3/4"}),
    ("crop10", {"vf": "crop=iw*0.9:ih*0.9"}),
    ("letterbox", {"vf": "pad=iw*16/9:ih:(ow-iw)/2:0"}),
    ("trim1", {"trim": 1.0}),
)


def make_upload(src: Path, dst: Path, *, trim: float = 0.0, duration: float | None = None, vf: str | None = None,
                bitrate: str | None = None, crf: int = 23) -> Path:  # fmt: skip
    args = ["-y", "-v", "error"]
    if trim:
        args += ["-ss", f"{trim:.3f}"]
    args += ["-i", safe_path(src)]
    if duration:
        args += ["-t", f"{duration:.3f}"]
    if vf:
        args += ["-vf", f"{vf},scale=trunc(iw/2)*2:trunc(ih/2)*2"]
    args += ["-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv420p"]
    args += ["-b:v", bitrate] if bitrate else ["-crf", str(crf)]
    args += ["-c:a", "aac", "-ar", "16000", "-ac", "1", safe_path(dst)]
    run_ffmpeg(args, timeout=120)
    return dst
