"""One pass over a source: constant-fps video frames and 16 kHz mono audio, streamed.

Timeline (seconds, relative to the first decoded video frame = 0)::

    source frames   |f0   |f1 |f2      |f3  |f4 ...          (VFR: any spacing)
    output grid     |0    |1/fps  |2/fps  |3/fps ...         (constant fps)
    each output slot k takes the source frame nearest to k/fps (nearest neighbour, like ffmpeg's fps filter)
    audio buffer    [.......16 kHz mono, start may be < 0 or > 0 .......]

Video and audio packets are demuxed together, so the file is read once; frames are converted to
the output size only when emitted (dropped frames of a 30->25 fps conversion cost no resize).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO

import av
import cv2
import numpy as np
from av.video.reformatter import VideoReformatter

SCALE_THREADS = 1  # swscale slice threads per scaler


@dataclass
class OutputFrame:
    """One constant-fps frame: ``index`` on the output grid, a yuv420p frame at the output size."""

    index: int
    time: float
    frame: av.VideoFrame  # yuv420p, handed to the encoder as is (no numpy round trip)
    small_bgr: np.ndarray | None  # downscaled BGR for shot detection
    source: av.VideoFrame | None = None  # the decoded frame before scaling (for sampled stills)

    @property
    def yuv(self) -> np.ndarray:
        """Packed yuv420p array (H * 3 // 2, W), as PyAV's to_ndarray gives it."""
        return self.frame.to_ndarray()


def _planes(frame: av.VideoFrame) -> list[np.ndarray]:
    """Y, U, V of a yuv420p frame as zero-copy views (line padding cut off)."""
    views = []
    for plane in frame.planes:
        rows = np.frombuffer(plane, np.uint8).reshape(-1, plane.line_size)
        views.append(rows[: plane.height, : plane.width])
    return views


def output_size(width: int, height: int, rotation: int, short_side: int, upscale: bool) -> tuple[int, int]:
    """Display size after rotation, scaled so the short side is ``short_side``; both sides even."""
    if rotation % 180:
        width, height = height, width
    scale = short_side / min(width, height)
    if scale > 1 and not upscale:
        scale = 1.0
    w = max(2, int(round(width * scale / 2)) * 2)
    h = max(2, int(round(height * scale / 2)) * 2)
    return w, h


def _rotate_yuv420p(planes: np.ndarray, width: int, height: int, rotation: int) -> np.ndarray:
    """Rotate a packed yuv420p array counter-clockwise by ``rotation`` degrees (display-matrix sense)."""
    k = (rotation // 90) % 4
    if k == 0:
        return planes
    flat = planes.reshape(-1)
    luma, quarter = width * height, width * height // 4
    y = np.rot90(flat[:luma].reshape(height, width), k)
    u = np.rot90(flat[luma : luma + quarter].reshape(height // 2, width // 2), k)
    v = np.rot90(flat[luma + quarter :].reshape(height // 2, width // 2), k)
    return np.concatenate([y.ravel(), u.ravel(), v.ravel()]).reshape(-1, y.shape[1])


def _small_bgr(planes: list[np.ndarray], target_width: int) -> np.ndarray:
    """BGR at about ``target_width`` for shot detection, made from the already-scaled planes.

    Plain striding (no filtering): detectors compare frame-wide colour statistics, which
    aliasing barely moves, and it costs nothing next to a resize of every frame. The same
    stride on the half-size chroma planes keeps them at half the sampled luma size (I420)."""
    y, u, v = planes
    step = max(1, round(y.shape[1] / target_width))
    y, u, v = y[::step, ::step], u[::step, ::step], v[::step, ::step]
    rows = min(y.shape[0], 2 * u.shape[0]) // 2 * 2
    cols = min(y.shape[1], 2 * u.shape[1]) // 2 * 2
    y, u, v = y[:rows, :cols], u[: rows // 2, : cols // 2], v[: rows // 2, : cols // 2]
    i420 = np.concatenate([y.ravel(), u.ravel(), v.ravel()]).reshape(-1, cols)
    return cv2.cvtColor(i420, cv2.COLOR_YUV2BGR_I420)


class AudioBuffer:
    """16 kHz mono samples with the time of sample 0; old samples can be released."""

    def __init__(self, sample_rate: int):
        self.sample_rate = sample_rate
        self._chunks: list[np.ndarray] = []
        self._start: float | None = None  # time of the first kept sample
        self._count = 0

    @property
    def end_time(self) -> float:
        return -np.inf if self._start is None else self._start + self._count / self.sample_rate

    def append(self, samples: np.ndarray, time: float) -> None:
        if self._start is None:
            self._start = time
        else:
            gap = int(round((time - self.end_time) * self.sample_rate))
            if gap > self.sample_rate // 20:  # >50 ms hole in the stream: keep timing with silence
                self._chunks.append(np.zeros(gap, np.float32))
                self._count += gap
        self._chunks.append(samples.astype(np.float32, copy=False))
        self._count += len(samples)

    def slice(self, start: float, end: float) -> np.ndarray:
        """Samples covering [start, end), zero-padded where the stream has none."""
        n = int(round((end - start) * self.sample_rate))
        out = np.zeros(n, np.float32)
        if self._start is None or not self._chunks:
            return out
        data = np.concatenate(self._chunks) if len(self._chunks) > 1 else self._chunks[0]
        self._chunks = [data]
        first = int(round((start - self._start) * self.sample_rate))
        lo, hi = max(first, 0), min(first + n, len(data))
        if hi > lo:
            out[lo - first : hi - first] = data[lo:hi]
        return out

    def release_before(self, time: float) -> None:
        if self._start is None or not self._chunks:
            return
        drop = int((time - self._start) * self.sample_rate)
        if drop <= 0:
            return
        data = np.concatenate(self._chunks)[drop:]
        self._chunks = [data]
        self._start += drop / self.sample_rate
        self._count = len(data)


class SourceReader:
    """Streams a source once: ``frames()`` yields OutputFrames; ``audio`` fills as packets pass."""

    def __init__(
        self,
        media: str | BinaryIO,
        *,
        fps: float,
        short_side: int,
        upscale: bool = False,
        detect_width: int | None = 256,
        audio_rate: int = 16000,
        with_audio: bool = True,
        threads: int = 0,
    ):
        self.container = av.open(media, metadata_errors="ignore")
        self.fps = fps
        self.vstream = self.container.streams.video[0]
        self.vstream.thread_type = "AUTO"
        # 0 = let FFmpeg pick (frame + slice threads): decoding is the costliest step for HD sources
        self.vstream.codec_context.thread_count = threads
        self.astream = (
            self.container.streams.audio[0] if with_audio and self.container.streams.audio else None
        )
        self.audio = AudioBuffer(audio_rate)
        self._resampler = (
            av.AudioResampler(format="flt", layout="mono", rate=audio_rate) if self.astream else None
        )
        self.short_side, self.upscale, self.detect_width = short_side, upscale, detect_width
        self.size: tuple[int, int] | None = None  # output (w, h), known after the first frame
        self.rotation = 0
        self.t0: float | None = None  # time of the first video frame, the timeline origin
        self.decode_errors = 0
        # One scaler per output kind, kept for the whole source: ``frame.reformat`` builds (and
        # frees) a new swscale context with its own slice-thread pool on every call, which cost
        # more than the scaling itself. Single-threaded: sources and codec threads fill the CPUs.
        self._scaler = VideoReformatter()
        self._still_scaler = VideoReformatter()
        self._pending_audio: list[av.AudioFrame] = []
        self._last: OutputFrame | None = None

    def close(self) -> None:
        self.container.close()

    def __enter__(self) -> SourceReader:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _on_audio(self, frame: av.AudioFrame) -> None:
        if self.t0 is None:  # audio before the first video frame: wait for the timeline origin
            self._pending_audio.append(frame)
            return
        rel = self.audio.end_time if frame.time is None else frame.time - self.t0
        for out in self._resampler.resample(frame):
            self.audio.append(out.to_ndarray().reshape(-1), rel)

    def _convert(self, frame: av.VideoFrame, index: int) -> OutputFrame:
        w, h = self.size
        # Scale at coded orientation (AREA: the fastest swscale kernel for downscaling and the
        # least aliased), then rotate the planes for display when the stream asks for it.
        cw, ch = (h, w) if self.rotation % 180 else (w, h)
        out = self._scaler.reformat(
            frame, width=cw, height=ch, format="yuv420p", interpolation="AREA", threads=SCALE_THREADS
        )
        if self.rotation:
            rotated = _rotate_yuv420p(out.to_ndarray(), cw, ch, self.rotation)
            out = av.VideoFrame.from_ndarray(rotated, format="yuv420p")
        small = _small_bgr(_planes(out), self.detect_width) if self.detect_width else None
        return OutputFrame(index=index, time=index / self.fps, frame=out, small_bgr=small, source=frame)

    def still(self, frame: OutputFrame, short_side: int, pix_fmt: str = "rgb24") -> np.ndarray:
        """``frame`` at source resolution (short side capped), upright: a sampled still.

        RGB by default; ``pix_fmt="bgr24"`` gives what OpenCV's JPEG encoder takes, without a
        second colour conversion."""
        from humo_data.media.frames import capped_size

        src = frame.source if frame.source is not None else frame.frame
        w, h = capped_size(src.width, src.height, short_side)
        img = self._still_scaler.reformat(
            src, width=w, height=h, format=pix_fmt, interpolation="AREA", threads=SCALE_THREADS
        ).to_ndarray()
        k = (self.rotation // 90) % 4 if frame.source is not None else 0
        return np.ascontiguousarray(np.rot90(img, k)) if k else img

    def _decoded(self) -> Iterator[av.VideoFrame]:
        streams = [s for s in (self.vstream, self.astream) if s is not None]
        for packet in self.container.demux(streams):
            try:
                frames = packet.decode()
            except av.error.InvalidDataError:
                self.decode_errors += 1
                continue
            for frame in frames:
                if packet.stream is self.vstream:
                    if frame.time is None:
                        continue
                    if self.t0 is None:
                        self.t0 = frame.time
                        pending, self._pending_audio = self._pending_audio, []
                        for af in pending:
                            self._on_audio(af)
                    yield frame
                elif self._resampler is not None:
                    self._on_audio(frame)
        if self._resampler is not None and self.t0 is not None:
            for out in self._resampler.resample(None):
                self.audio.append(out.to_ndarray().reshape(-1), self.audio.end_time)

    def frames(self) -> Iterator[OutputFrame]:
        """Constant-fps frames, nearest-neighbour in time; the last source frame lasts one frame period."""
        period = 1.0 / self.fps
        prev: av.VideoFrame | None = None
        prev_t = 0.0
        # (source frame, its conversion): a duplicated frame is converted once. The source frame is
        # held, not its id(), since ids of freed frames are reused.
        cached: tuple[av.VideoFrame, OutputFrame] | None = None
        k = 0
        last_dt = period
        for frame in self._decoded():
            t = frame.time - self.t0
            if prev is None:
                self.rotation = int(getattr(frame, "rotation", 0) or 0) % 360
                self.size = output_size(
                    frame.width, frame.height, self.rotation, self.short_side, self.upscale
                )
            else:
                if t <= prev_t:  # non-monotonic timestamps: treat as the next frame
                    t = prev_t + last_dt
                last_dt = t - prev_t
                boundary = (prev_t + t) / 2
                while k * period < boundary:
                    yield self._emit(prev, k, cached)
                    cached = (prev, self._last)
                    k += 1
            prev, prev_t = frame, t
        if prev is not None:
            end = prev_t + min(last_dt, period * 2)
            while k * period < end - 1e-9:
                yield self._emit(prev, k, cached)
                cached = (prev, self._last)
                k += 1

    def _emit(
        self, frame: av.VideoFrame, k: int, cached: tuple[av.VideoFrame, OutputFrame] | None
    ) -> OutputFrame:
        if cached is not None and cached[0] is frame:
            src = cached[1]
            self._last = OutputFrame(
                index=k, time=k / self.fps, frame=src.frame, small_bgr=src.small_bgr, source=src.source
            )
        else:
            self._last = self._convert(frame, k)
        return self._last
