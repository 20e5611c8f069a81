"""Probe a source with PyAV: duration, frame rate (and whether it varies), size, rotation, audio.

Probing reads the container header, demuxes up to ``VFR_PACKETS`` video packets (no decoding) to
measure frame timing, and decodes one frame to prove the video is decodable and to read the
display rotation. It never reads a whole file, and it never raises for bad media: a file that
cannot be used comes back with ``reject_reason`` (machine-readable) and ``reject_detail`` (why).

Reject reasons (stage ``probe``): missing, empty_file, unreadable, no_video_stream,
no_audio_stream, resolution_too_large, resolution_too_small, too_short, undecodable_video, vfr.

Bits per pixel (``bits_per_pixel``: video bit rate / (width x height x fps)) says how much of the
encoder's budget each pixel got: a low-bitrate re-encode of a video has fewer than its original
(dedup keeps the better copy by it). The bit rate is the stream's own when the container records
it (MP4), else measured over the packets demuxed for the frame timing.

Rotation is the display matrix angle, counter-clockwise degrees normalised to 0/90/180/270 (the
value ``ffmpeg -display_rotation`` takes). PyAV decodes frames unrotated; the upright image is
``numpy.rot90(frame.to_ndarray(format="rgb24"), k=rotation // 90)``.
"""

from __future__ import annotations

import contextlib
import math
from dataclasses import asdict, dataclass
from fractions import Fraction
from typing import Any

import av
import numpy as np

from humo_data.io.retry import is_retryable
from humo_data.io.sources import open_media, source_size
from humo_data.media.config import ProbeConfig

MIN_DURATION_S = 0.5
VFR_PACKETS = 300
# Share of frame intervals off the median before a stream counts as variable: a single dropped
# frame in a constant-rate file (seen in real camera files) stays constant; VFR files vary often.
VFR_MIN_SHARE = 0.05
MAX_DETAIL_CHARS = 500


@dataclass
class ProbeResult:
    duration: float | None = None
    fps: float | None = None
    vfr: bool = False
    width: int | None = None
    height: int | None = None
    rotation: int = 0
    video_codec: str | None = None
    bits_per_pixel: float | None = None
    num_frames: int | None = None
    has_audio: bool = False
    audio_codec: str | None = None
    audio_sample_rate: int | None = None
    audio_channels: int | None = None
    video_start_time: float | None = None
    reject_reason: str | None = None
    reject_detail: str | None = None

    @property
    def ok(self) -> bool:
        return self.reject_reason is None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class _Reject(Exception):
    def __init__(self, reason: str, detail: str):
        super().__init__(reason)
        self.reason = reason
        self.detail = detail[:MAX_DETAIL_CHARS]


def probe_media(uri: str, cfg: ProbeConfig) -> ProbeResult:
    """Probe one source; bad media gives a result with ``reject_reason`` set, never an exception."""
    result = ProbeResult()
    try:
        _probe_into(result, uri, cfg)
    except _Reject as r:
        result.reject_reason, result.reject_detail = r.reason, r.detail
    except Exception as err:  # noqa: BLE001 - a damaged file must become a reject row, never a crash
        if is_retryable(err):
            raise  # the store failed, not the file: retried by the stage, never a reject
        result.reject_reason = "unreadable"
        result.reject_detail = f"{type(err).__name__}: {err}"[:MAX_DETAIL_CHARS]
    return result


def _probe_into(result: ProbeResult, uri: str, cfg: ProbeConfig) -> None:
    try:
        size = source_size(uri)
    except FileNotFoundError as err:
        raise _Reject("missing", f"cannot stat source: {err}") from None
    except OSError as err:
        if is_retryable(err):
            raise
        raise _Reject("missing", f"cannot stat source: {err}") from None
    if size == 0:
        raise _Reject("empty_file", "file is 0 bytes")
    with open_media(uri) as media:
        try:
            container = av.open(media, mode="r")
        except FileNotFoundError as err:
            raise _Reject("missing", str(err)) from None
        except (av.FFmpegError, OSError, ValueError) as err:
            if is_retryable(err):  # PyAV re-raises the file object's own error (a reset, a timeout)
                raise
            raise _Reject("unreadable", f"not a readable media container: {err}") from None
        with container:
            _read_streams(result, container, cfg)


def _read_streams(result: ProbeResult, container: Any, cfg: ProbeConfig) -> None:
    videos = [s for s in container.streams.video if not s.disposition & av.stream.Disposition.attached_pic]
    # an audio stream without a decoder (damaged sample description, unknown codec) is no audio
    audios = [s for s in container.streams.audio if s.codec_context is not None]
    undecodable_audio = len(container.streams.audio) - len(audios)
    if audios:
        a = audios[0].codec_context
        result.has_audio = True
        result.audio_codec = a.name
        result.audio_sample_rate = a.sample_rate or None
        result.audio_channels = a.channels or None
    if not videos:
        kinds = sorted({s.type for s in container.streams}) or ["none"]
        raise _Reject("no_video_stream", f"streams: {', '.join(kinds)}")
    stream = videos[0]
    cc = stream.codec_context
    if cc is None:
        raise _Reject(
            "undecodable_video", "the video stream names no known codec (damaged header or unsupported)"
        )
    result.video_codec = cc.name
    result.width, result.height = cc.width or None, cc.height or None
    result.video_start_time = _seconds(stream.start_time, stream.time_base)
    result.duration = _duration(stream, container)
    # Metadata first (cheap demux), so a rejected row still carries what the report plots.
    sizes: list[int] = []
    intervals = _frame_intervals(container, stream, sizes)
    result.fps = _fps(stream, intervals)
    result.bits_per_pixel = _bits_per_pixel(stream, sizes, result)
    result.vfr = _is_vfr(intervals, stream.time_base)
    result.num_frames = _num_frames(stream, result.duration, result.fps, intervals)

    if not result.has_audio and cfg.require_audio:
        what = (
            "source's audio stream names no known codec (damaged header or unsupported)"
            if undecodable_audio
            else "source has no audio stream"
        )
        raise _Reject("no_audio_stream", f"{what} (probe.require_audio=true)")
    _check_resolution(result, cfg)
    result.rotation = _first_frame_rotation(container, stream)
    if (result.num_frames or 0) < 1 or (result.duration or 0.0) < MIN_DURATION_S:
        raise _Reject(
            "too_short", f"duration {result.duration or 0.0:.3f}s, {result.num_frames or 0} frame(s)"
        )
    if result.vfr and cfg.reject_vfr:
        raise _Reject("vfr", f"variable frame rate (avg {result.fps:.3f} fps; probe.reject_vfr=true)")


def _check_resolution(result: ProbeResult, cfg: ProbeConfig) -> None:
    w, h = result.width, result.height
    if not w or not h:
        raise _Reject("unreadable", "video stream has no frame size")
    if w * h > cfg.max_pixels or max(w, h) > cfg.max_side:
        raise _Reject(
            "resolution_too_large", f"{w}x{h} exceeds max_pixels={cfg.max_pixels} / max_side={cfg.max_side}"
        )
    if min(w, h) < cfg.min_side:
        raise _Reject("resolution_too_small", f"{w}x{h} has a side below min_side={cfg.min_side}")


def _seconds(value: int | None, time_base: Fraction | None) -> float | None:
    if value is None or time_base is None:
        return None
    return float(value * time_base)


def _duration(stream: Any, container: Any) -> float | None:
    """Video stream duration when the container records it, else the container's."""
    d = _seconds(stream.duration, stream.time_base)
    if d is None or d <= 0:
        d = container.duration / av.time_base if container.duration else None
    return d


def _frame_intervals(container: Any, stream: Any, sizes: list[int] | None = None) -> np.ndarray:
    """Differences of the first packets' presentation times (sorted: B-frames arrive out of order);
    their byte sizes go to ``sizes``."""
    pts: list[int] = []
    for packet in container.demux(stream):
        if packet.pts is not None and packet.size:
            pts.append(packet.pts)
            if sizes is not None:
                sizes.append(packet.size)
        if len(pts) >= VFR_PACKETS:
            break
    if len(pts) < 2:
        return np.zeros(0, dtype=np.int64)
    d = np.diff(np.sort(np.asarray(pts, dtype=np.int64)))
    return d[d > 0]


def _fps(stream: Any, intervals: np.ndarray) -> float | None:
    for rate in (stream.average_rate, stream.guessed_rate, stream.base_rate):
        if rate and float(rate) > 0 and math.isfinite(float(rate)):
            return float(rate)
    if intervals.size and stream.time_base:
        return float(1 / (float(np.median(intervals)) * stream.time_base))
    return None


def _bits_per_pixel(stream: Any, sizes: list[int], result: ProbeResult) -> float | None:
    """Video bits per pixel and frame: the stream's recorded bit rate, else the demuxed packets'
    (their bytes over their frame count at the average rate; a few seconds from the start)."""
    if not result.width or not result.height or not result.fps:
        return None
    rate = float(stream.bit_rate or 0)
    if rate <= 0 and len(sizes) >= 2:
        rate = 8.0 * sum(sizes) * result.fps / len(sizes)
    return rate / (result.width * result.height * result.fps) if rate > 0 else None


def _is_vfr(intervals: np.ndarray, time_base: Fraction | None) -> bool:
    """True when frame durations vary beyond timestamp rounding.

    Tolerance: 2 ticks (a 1/1000 time base stores 29.97 fps as 33/34 ms) or 10% of the median
    interval, whichever is larger.
    """
    if intervals.size < 3 or not time_base:
        return False
    median = float(np.median(intervals))
    tolerance = max(2.0, 0.1 * median)
    off = int(np.count_nonzero(np.abs(intervals - median) > tolerance))
    return off >= 2 and off / intervals.size >= VFR_MIN_SHARE


def _num_frames(stream: Any, duration: float | None, fps: float | None, intervals: np.ndarray) -> int | None:
    if stream.frames and stream.frames > 0:
        return int(stream.frames)
    if duration is not None and fps:
        return max(int(round(duration * fps)), 1 if intervals.size == 0 else int(intervals.size) + 1)
    return int(intervals.size) + 1 if intervals.size else None


def _first_frame_rotation(container: Any, stream: Any) -> int:
    """Decode the first video frame (proves the stream decodes) and read its display rotation."""
    with contextlib.suppress(av.FFmpegError):  # unseekable input: decode what follows the demuxed packets
        container.seek(0, stream=stream)
    try:
        for frame in container.decode(stream):
            return int(round(frame.rotation / 90.0)) * 90 % 360
    except av.FFmpegError as err:
        raise _Reject("undecodable_video", f"first video frame does not decode: {err}") from None
    raise _Reject("undecodable_video", "no video frame could be decoded")


# --- stage --------------------------------------------------------------------------------------
