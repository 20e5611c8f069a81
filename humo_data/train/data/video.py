"""Decode a fixed window of frames from encoded clip bytes with PyAV, resized to the bucket.

Timeline (output frames at ``fps``; source frames at any constant or variable rate):

    source   |s0 |s1 |s2 |s3 |s4 |s5 |s6 ...        (pts in seconds)
    output   |o0  |o1  |o2  |o3  |o4 ...             o_k shows the last source frame with pts <= k/fps
    window         [start ............ start+F)      F = data.frames (4k+1)

Only the window is converted to RGB (scaled to cover the bucket, then centre-cropped), and
decoding stops at the window's end: memory is F frames of the bucket size, never the whole clip.
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass

import av
import numpy as np


class ClipTooShort(ValueError):
    """The clip has fewer frames than the window needs (a counted skip reason, not corruption)."""


@dataclass(frozen=True)
class Crop:
    """Cover-resize of a (src_h, src_w) frame to (scaled_h, scaled_w), then a crop at (top, left)."""

    src_h: int
    src_w: int
    scaled_h: int
    scaled_w: int
    top: int
    left: int
    out_h: int
    out_w: int

    @classmethod
    def cover(cls, src_h: int, src_w: int, out_h: int, out_w: int) -> Crop:
        scale = max(out_h / src_h, out_w / src_w)
        sh, sw = max(out_h, math.ceil(src_h * scale - 1e-6)), max(out_w, math.ceil(src_w * scale - 1e-6))
        return cls(src_h, src_w, sh, sw, (sh - out_h) // 2, (sw - out_w) // 2, out_h, out_w)

    def box_to_unit(self, box: tuple[float, float, float, float]) -> tuple[float, float, float, float]:
        """A pixel box x0,y0,x1,y1 in the source frame -> [0, 1] coordinates in the cropped bucket."""
        sx, sy = self.scaled_w / self.src_w, self.scaled_h / self.src_h
        x0, y0, x1, y1 = box
        out = ((x0 * sx - self.left) / self.out_w, (y0 * sy - self.top) / self.out_h,
               (x1 * sx - self.left) / self.out_w, (y1 * sy - self.top) / self.out_h)  # fmt: skip
        return tuple(float(min(max(v, 0.0), 1.0)) for v in out)  # type: ignore[return-value]


@dataclass
class DecodedClip:
    frames: np.ndarray
    """uint8 [F, H, W, 3]."""
    start: int
    """Index of the first output frame of the window, at the output fps."""
    crop: Crop
    total_frames: int | None
    """Output frames in the whole clip when decoding reached its end, else None."""


def count_output_frames(duration_s: float, fps: float) -> int:
    return int(math.floor(duration_s * fps + 1e-6))


def clip_info(data: bytes) -> tuple[float, int, int]:
    """(duration in seconds, coded height, coded width) of the clip's video stream (no decoding)."""
    with av.open(io.BytesIO(data)) as container:
        if not container.streams.video:
            raise ValueError("no video stream")
        s = container.streams.video[0]
        h, w = s.codec_context.height, s.codec_context.width
        if s.duration is not None and s.time_base is not None:
            return float(s.duration * s.time_base), h, w
        if container.duration is not None:
            return container.duration / 1e6, h, w
        rate = float(s.average_rate or 25)
        return (s.frames or 0) / rate, h, w


def clip_duration(data: bytes) -> float:
    return clip_info(data)[0]


def decode_window(
    data: bytes, *, frames: int, fps: float, height: int, width: int, start: int, threads: int = 0
) -> DecodedClip:
    """Frames [start, start+frames) of the clip resampled to ``fps``, cover-resized + centre-cropped.

    threads: decoder threads (0 = FFmpeg's automatic count).

    Raises ClipTooShort when the clip ends before ``start + frames`` output frames; the caller may
    retry with an earlier start (``DecodedClip.total_frames`` / the exception's ``total`` says where).
    """
    out: list[np.ndarray] = []
    crop: Crop | None = None
    k = 0  # next output frame index to fill
    last = None
    t0: float | None = None
    with av.open(io.BytesIO(data)) as container:
        if not container.streams.video:
            raise ValueError("no video stream")
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        stream.codec_context.thread_count = threads
        for frame in container.decode(stream):
            t = frame.time if frame.time is not None else (frame.pts or 0) * float(stream.time_base or 0)
            if t0 is None:
                t0 = t
            t -= t0
            # Emit every output frame whose time falls before this source frame, using the previous frame.
            while last is not None and k / fps < t - 1e-6 and k < start + frames:
                if k >= start:
                    out.append(_to_rgb(last, crop))
                k += 1
            if k >= start + frames:
                break
            last = frame
            if crop is None:
                crop = Crop.cover(frame.height, frame.width, height, width)
        else:
            # End of stream: the last frame lasts one source frame interval.
            if last is not None:
                src_fps = float(stream.average_rate or fps)
                end_t = (last.time - (t0 or 0.0)) + 1.0 / src_fps if last.time is not None else k / fps
                while k / fps < end_t - 1e-6 and k < start + frames:
                    if k >= start:
                        out.append(_to_rgb(last, crop))
                    k += 1
    if crop is None:
        raise ValueError("no decodable video frame")
    if len(out) < frames:
        err = ClipTooShort(f"clip has {k} frames at {fps:g} fps, window needs {start}+{frames}")
        err.total = k  # type: ignore[attr-defined]
        raise err
    return DecodedClip(np.stack(out), start, crop, None)


def _to_rgb(frame: av.VideoFrame, crop: Crop) -> np.ndarray:
    img = frame.reformat(width=crop.scaled_w, height=crop.scaled_h, format="rgb24", interpolation="BILINEAR")
    arr = img.to_ndarray()
    return arr[crop.top : crop.top + crop.out_h, crop.left : crop.left + crop.out_w]
