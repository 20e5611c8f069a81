"""FFmpeg errors in words, for reject details and fallback reasons (decode, hwdecode, the cutter)."""

from __future__ import annotations

import av


def ffmpeg_words(err: BaseException) -> str:
    """An FFmpeg error as words: its message and FFmpeg's own last log line, without PyAV's
    ``'<none>' returned 22`` plumbing (e.g. ``Invalid data found when processing input``)."""
    if isinstance(err, av.FFmpegError):
        text = err.strerror or type(err).__name__
        log = getattr(err, "log", None)
        if log and len(log) >= 3 and log[2]:
            text += f" ({str(log[2]).strip()})"
        return text
    return f"{type(err).__name__}: {err}"
