"""Run the ffmpeg binary safely: argument lists only, never a shell.

The system ``ffmpeg`` is used when it is on PATH and at least ``MIN_FFMPEG_MAJOR`` (the code
uses ffmpeg 6 options such as ``-display_rotation``; Debian 12 ships 5.1); otherwise the static
binary shipped by the ``imageio-ffmpeg`` package, so a fresh ``pip install`` works without apt. PyAV carries its own
FFmpeg libraries and does not need this module; it is for encoding, muxing and lavfi generation.

    run_ffmpeg(["-f", "lavfi", "-i", "testsrc2=d=1", "-y", safe_path(out)])
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Sequence
from functools import cache
from pathlib import Path

STDERR_TAIL_CHARS = 2000
MIN_FFMPEG_MAJOR = 6


class FFmpegError(RuntimeError):
    """ffmpeg exited non-zero (or timed out); the message carries the command and stderr tail."""

    def __init__(self, message: str, returncode: int | None, stderr: str):
        super().__init__(message)
        self.returncode = returncode
        self.stderr = stderr


def ffmpeg_major_version(exe: str) -> int | None:
    """Major version an ffmpeg binary reports (``ffmpeg version 5.1.6-0+deb12u1`` -> 5); None if unknown.

    Git builds report ``N-12345-g...`` or ``n9.0.2-...``; the first digits after ``version`` count."""
    try:
        out = subprocess.run([exe, "-version"], capture_output=True, timeout=20, check=False).stdout
    except (OSError, subprocess.TimeoutExpired):
        return None
    m = re.search(rb"ffmpeg version [nN]?(\d+)\.", out)
    return int(m.group(1)) if m else None


@cache
def ffmpeg_exe() -> str:
    """Path of the ffmpeg binary: PATH's when it is new enough, else the one bundled with imageio-ffmpeg."""
    found = shutil.which("ffmpeg")
    if found and (ffmpeg_major_version(found) or 0) >= MIN_FFMPEG_MAJOR:
        return found
    try:
        import imageio_ffmpeg
    except ImportError as err:  # pragma: no cover - imageio-ffmpeg is a core dependency
        raise FFmpegError(
            "no ffmpeg on PATH and imageio-ffmpeg is not installed; `pip install imageio-ffmpeg` "
            "or install ffmpeg with your package manager",
            None,
            "",
        ) from err
    return imageio_ffmpeg.get_ffmpeg_exe()


def safe_path(path: str | os.PathLike[str]) -> str:
    """A file argument ffmpeg cannot mistake for an option or a protocol.

    ``-x.mp4`` would parse as an option and ``a:b.mp4`` as protocol ``a``; the ``file:`` prefix
    makes any local name literal (spaces, quotes, unicode need nothing: there is no shell).
    """
    return "file:" + os.fspath(Path(path))


def run_ffmpeg(args: Sequence[str], *, timeout: float | None = None) -> subprocess.CompletedProcess[bytes]:
    """Run ``ffmpeg -hide_banner -nostdin <args>``; raise FFmpegError with the stderr tail on failure.

    stdout is captured as bytes (``-f ... pipe:1`` outputs land there); stderr is decoded for errors.
    """
    if isinstance(args, (str, bytes)):
        raise TypeError("run_ffmpeg takes a list of arguments, never a command string")
    cmd = [ffmpeg_exe(), "-hide_banner", "-nostdin", *map(str, args)]
    try:
        proc = subprocess.run(cmd, capture_output=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired as err:
        tail = (err.stderr or b"").decode("utf-8", "replace")[-STDERR_TAIL_CHARS:]
        raise FFmpegError(f"ffmpeg timed out after {timeout}s: {_show(cmd)}\n{tail}", None, tail) from None
    if proc.returncode != 0:
        tail = proc.stderr.decode("utf-8", "replace")[-STDERR_TAIL_CHARS:]
        raise FFmpegError(
            f"ffmpeg exited with {proc.returncode}: {_show(cmd)}\n{tail.strip()}", proc.returncode, tail
        )
    return proc


def _show(cmd: Sequence[str]) -> str:
    """The command for error messages, shortened so a long filter graph does not bury the error."""
    text = " ".join(cmd[1:])
    return text if len(text) <= 400 else text[:400] + " ..."
