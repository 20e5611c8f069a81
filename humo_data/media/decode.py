"""One pass over a source: constant-fps video frames and 16 kHz mono audio, streamed.

Timeline (seconds, relative to the first decoded video frame = 0)::

    source frames   |f0   |f1 |f2      |f3  |f4 ...          (VFR: any spacing)
    output grid     |0    |1/fps  |2/fps  |3/fps ...         (constant fps)
    each output slot k takes the source frame nearest to k/fps (nearest neighbour, like ffmpeg's fps filter)
    audio buffer    [.......16 kHz mono, start may be < 0 or > 0 .......]

Video and audio packets are demuxed together, so the file is read once; frames are converted to
the output size only when emitted (dropped frames of a 30->25 fps conversion cost no resize).
Interlaced frames are deinterlaced (``media.deinterlace``) before they are scaled, and decode
errors are collected as damage spans (``media.damage``) instead of ending the source: a packet
the decoder refuses is skipped, and reading stops (``read_error``) only where the container
itself cannot be read further. With ``decoder="nvdec"`` the video is decoded on the GPU where it
can be (``media.hwdecode``; ``decoder`` and ``decoder_fallback`` say how it went).
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO

import av
import cv2
import numpy as np
from av.video.reformatter import VideoReformatter

from humo_data.io.retry import is_retryable
from humo_data.media.damage import B_FRAME_LOOKBACK, DamageTracker
from humo_data.media.deinterlace import Deinterlacer, bwdif_mode, field_order_interlaced
from humo_data.media.errors import ffmpeg_words
from humo_data.media.hwdecode import (
    NVDEC,
    NVDEC_MAX_THREADS,
    decoder_name,
    open_source,
    refused,
    to_cpu_layout,
)

SCALE_THREADS = 1  # swscale slice threads per scaler
#: a forward jump in video timestamps longer than this is a damaged timestamp even inside the
#: declared duration (a real pause repeats the frame; minutes of it would flood the grid)
MAX_TIMESTAMP_JUMP_SECONDS = 60.0


@dataclass
class OutputFrame:
    """One constant-fps frame: ``index`` on the output grid, a yuv420p frame at the output size.

    Each output slot gets its own ``frame`` object, also when it repeats the previous source
    frame: the encoder takes the object over (it sets its pts), so one object must never be
    handed to it twice."""

    index: int
    time: float
    frame: av.VideoFrame  # yuv420p, handed to the encoder as is (no numpy round trip)
    small_bgr: np.ndarray | None  # downscaled BGR for shot detection
    source: av.VideoFrame | None = None  # the decoded (deinterlaced) frame before scaling, for stills
    source_time: float = 0.0  # time of the source frame shown (reader timeline)
    interlaced: bool = False  # the source frame was interlaced and went through the deinterlacer

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

    def append(self, samples: np.ndarray, time: float, after_loss: bool = False) -> None:
        """Add samples starting at ``time``. A hole over 50 ms (or any hole of a millisecond or
        more ``after_loss``, when the decoder refused the packets before) becomes silence, so the
        samples after it keep their time."""
        if self._start is None:
            self._start = time
        else:
            gap = int(round((time - self.end_time) * self.sample_rate))
            if gap > (self.sample_rate // 1000 if after_loss else self.sample_rate // 20):
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

    def shift(self, seconds: float) -> None:
        """Move every buffered sample by ``seconds`` (the timeline origin was found wrong)."""
        if self._start is not None:
            self._start += seconds

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
    """Streams a source once: ``frames()`` yields OutputFrames; ``audio`` fills as packets pass.

    After (or during) ``frames()``: ``damage`` holds the spans the decoders got wrong,
    ``read_error`` says why reading stopped early (None when the container was read to its end),
    ``deinterlacer`` is set once an interlaced frame was seen. ``decoder`` names the video
    decoder (``h264``, or ``h264_nvdec`` once the first frame came off the GPU) and
    ``decoder_fallback`` why a source asked to decode with NVDEC decodes on the CPU."""

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
        deinterlace: bool = True,
        decoder: str = "cpu",
        start_seconds: float | None = None,
        origin: float | None = None,
    ):
        """``start_seconds`` (a time range of a source, ``clips/ranges.py``): seek to the keyframe at
        or before that time and emit frames from the first grid slot at or after the first frame
        decoded there, with the indices of a whole pass; ``origin`` is the whole pass's timeline
        origin (``first_video_time``), which a seek cannot see."""
        # decoder: cpu | nvdec, a worker's resolved choice (media.hwdecode.choose_decoder)
        self.container, self.decoder_fallback = open_source(media, decoder, metadata_errors="ignore")
        self.fps = fps
        self.vstream = self.container.streams.video[0]
        self.vstream.thread_type = "AUTO"
        self._nvdec = decoder == NVDEC and self.decoder_fallback is None  # until the GPU refuses it
        if self._nvdec:  # the GPU decodes; FFmpeg's threads only parse (and each costs a surface)
            threads = min(threads or os.cpu_count() or 1, NVDEC_MAX_THREADS)
        # 0 = let FFmpeg pick (frame + slice threads): decoding is the costliest step for HD sources
        self.vstream.codec_context.thread_count = threads
        self.decoder = decoder_name(self.vstream.codec_context, on_gpu=False)
        self.frames_decoded = 0  # video frames out of the decoder (before the constant-fps grid)
        audios = [s for s in self.container.streams.audio if s.codec_context is not None]
        self.astream = audios[0] if with_audio and audios else None
        self.audio = AudioBuffer(audio_rate)
        self._resampler = (
            av.AudioResampler(format="flt", layout="mono", rate=audio_rate) if self.astream else None
        )
        self.short_side, self.upscale, self.detect_width = short_side, upscale, detect_width
        self.size: tuple[int, int] | None = None  # output (w, h), known after the first frame
        self.rotation = 0
        self.t0: float | None = None  # time of the first video frame, the timeline origin
        cc = self.vstream.codec_context
        self.damage = DamageTracker(
            cc.name, self.astream.codec_context.name if self.astream else None,
            lookback=B_FRAME_LOOKBACK if cc.has_b_frames else 1,
        )  # fmt: skip
        self.read_error: str | None = None
        self.deinterlace = deinterlace
        self.deinterlacer: Deinterlacer | None = None
        self._field_order_interlaced = field_order_interlaced(self.vstream)
        rate = self.vstream.average_rate or self.vstream.guessed_rate
        self._source_fps = float(rate) if rate else None
        self._audio_lost = False  # the audio decoder refused a packet: the next samples fill the hole
        declared = [
            d for d in (_seconds(self.vstream.duration, self.vstream.time_base),
                        self.container.duration / av.time_base if self.container.duration else None)
            if d and d > 0
        ]  # fmt: skip
        self._declared_end = max(declared) + 2.0 if declared else float("inf")
        self._time_shift = 0.0  # seconds taken out of video timestamps after damaged jumps
        self._audio_shift = 0.0
        self._audio_rel: float | None = None  # latest audio time on the timeline
        self._prev_video: tuple[float, float] | None = None  # (timeline time, step) of the last frame
        # One scaler per output kind, kept for the whole source: ``frame.reformat`` builds (and
        # frees) a new swscale context with its own slice-thread pool on every call, which cost
        # more than the scaling itself. Single-threaded: sources and codec threads fill the CPUs.
        self._scaler = VideoReformatter()
        self._still_scaler = VideoReformatter()
        self._layout_scaler = VideoReformatter()  # NVDEC's layouts to the CPU decoder's
        self._pending_audio: list[av.AudioFrame] = []
        self._last: OutputFrame | None = None
        self.start_seconds = start_seconds
        if start_seconds is not None or origin is not None:
            if origin is None:
                raise ValueError("a reader that starts mid-source needs the timeline origin")
            self.t0 = origin
        self._audio_packets: Iterator[av.Packet] | None = None
        self._audio_kept_from = 0.0

    @property
    def interlaced(self) -> bool:
        """An interlaced frame was seen (and deinterlaced) in this source."""
        return self.deinterlacer is not None

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
        rel = self.audio.end_time if frame.time is None else frame.time - self.t0 - self._audio_shift
        self._audio_rel = rel
        for out in self._resampler.resample(frame):
            self.audio.append(out.to_ndarray().reshape(-1), rel, after_loss=self._audio_lost)
            self._audio_lost = False

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
        t = frame.time - self.t0
        return OutputFrame(
            index=index, time=index / self.fps, frame=out, small_bgr=small, source=frame, source_time=t,
            interlaced=self.deinterlacer is not None and self.deinterlacer.was_interlaced(frame.time),
        )  # fmt: skip

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

    def _timeline(self, frame: av.VideoFrame) -> float:
        """The frame's time on the timeline, with damaged timestamps noted (``media.damage``).

        A time not after the previous frame's is out of order: ``frames()`` gives it no slot. A
        jump past the container's declared end (or over ``MAX_TIMESTAMP_JUMP_SECONDS``) is closed
        up: the frame is placed one step after the previous one and the frames after it keep that
        offset (its pts is rewritten, so the deinterlacer and ``frames()`` see the same time).
        Audio follows when its own timestamps agree with the jumped ones (the first video
        timestamp was the damaged one)."""
        t = frame.time - self.t0 - self._time_shift
        if self._prev_video is None:
            self._prev_video = (t, 1.0 / (self._source_fps or self.fps))
            return t
        prev, step = self._prev_video
        if t <= prev:  # out of order: damage is noted where the timeline is, not at its wild time
            self.damage.timestamp_disorder(prev)
            return prev
        jump = t - prev - step
        if jump > 1.0 and (t > self._declared_end or jump > MAX_TIMESTAMP_JUMP_SECONDS):
            if self._audio_rel is not None and abs(self._audio_rel - t) < abs(self._audio_rel - prev):
                self._audio_shift += jump
                self.audio.shift(-jump)
            self._time_shift += jump
            self.damage.timestamp_jump(prev, jump)
            t = prev + step
        self._prev_video = (t, t - prev)
        if self._time_shift:
            frame.pts = int(round((t + self.t0) / frame.time_base))
        return t

    def _packet_time(self, packet: av.Packet) -> float | None:
        """A packet's time on the timeline; None when it has none or it lies outside the declared
        duration (a damaged timestamp says nothing about where the damage is)."""
        if packet.pts is None or packet.time_base is None:
            return None
        shift = self._time_shift if packet.stream is self.vstream else self._audio_shift
        t = float(packet.pts * packet.time_base) - (self.t0 or 0.0) - shift
        return t if -1.0 <= t <= self._declared_end else None

    def _decode_failed(self, packet: av.Packet) -> None:
        t = self._packet_time(packet)
        if packet.stream is self.vstream:
            self.damage.video_packet_failed(t)
            return
        # audio: its samples are missing; the next ones fill the hole and keep their time
        self._audio_lost = True
        if t is None:
            t = self._audio_rel if self._audio_rel is not None else 0.0
        tb = packet.time_base or 0
        duration = float(packet.duration * tb) if packet.duration else 1024 / (self.astream.rate or 16000)
        self.damage.audio_packet_failed(t, min(duration, 1.0))

    def _deinterlaced(self, frame: av.VideoFrame) -> list[av.VideoFrame]:
        """``frame`` or what the deinterlacer gives for it: bwdif starts at the first interlaced
        frame (or at once when the stream's field order says interlaced) and stays on."""
        if self.deinterlacer is None:
            if not self.deinterlace or not (frame.interlaced_frame or self._field_order_interlaced):
                return [frame]
            self.deinterlacer = Deinterlacer(
                bwdif_mode(self._source_fps, self.fps), every_frame=not frame.interlaced_frame
            )
        return self.deinterlacer.push(frame)

    def _packets(self, streams) -> Iterator[av.Packet]:
        """Demuxed packets; a container that cannot be read further ends the stream (``read_error``)."""
        it = self.container.demux(streams)
        while True:
            try:
                packet = next(it)
            except StopIteration:
                return
            except Exception as err:  # noqa: BLE001 - damaged container: keep what was read
                if is_retryable(err) or not isinstance(err, (av.FFmpegError, OSError, ValueError)):
                    raise  # the store failed, not the video (or a bug): not a content error
                self.read_error = ffmpeg_words(err)
                return
            yield packet

    def _seek(self) -> None:
        """To the keyframe at or before ``start_seconds`` on the timeline."""
        tb = self.vstream.time_base
        target = int((self.start_seconds + self.t0) / tb) if tb else 0
        self.container.seek(target, stream=self.vstream, backward=True, any_frame=False)

    def _decoded(self) -> Iterator[av.VideoFrame]:
        streams = [s for s in (self.vstream, self.astream) if s is not None]
        last_t = None
        if self.start_seconds:
            self._seek()
        for packet in self._packets(streams):
            for frame in self._decode(packet):
                if packet.stream is self.vstream:
                    if frame.time is None:
                        continue
                    if self.t0 is None or last_t is None:  # the first frame (a range knows t0 already)
                        self._first_frame_decoded(frame)
                        self.t0 = frame.time if self.t0 is None else self.t0
                        self.rotation = int(getattr(frame, "rotation", 0) or 0) % 360
                        pending, self._pending_audio = self._pending_audio, []
                        for af in pending:
                            self._on_audio(af)
                    self.frames_decoded += 1
                    if self._nvdec:  # NVDEC's nv12 as the CPU decoder's yuv420p: the same bytes downstream
                        frame = to_cpu_layout(frame, self._layout_scaler)
                    last_t = self._timeline(frame)
                    corrupt = bool(getattr(frame, "is_corrupt", False))  # AV_FRAME_FLAG_CORRUPT
                    self.damage.video_frame(last_t, corrupt, bool(frame.key_frame))
                    yield from self._deinterlaced(frame)
                elif self._resampler is not None:
                    self._on_audio(frame)
        if self.deinterlacer is not None:
            yield from self.deinterlacer.flush()
        if last_t is not None:
            self.damage.finish(last_t + 1.0 / (self._source_fps or self.fps))
        if self._resampler is not None and self.t0 is not None:
            self._flush_resampler()

    def _decode(self, packet: av.Packet) -> list:
        """A packet's frames; a packet the decoder rejects is recorded as damage (none), an I/O error
        worth retrying is raised."""
        try:
            return packet.decode()
        except av.FFmpegError as err:
            if is_retryable(err) and not isinstance(err, av.error.InvalidDataError):
                raise
            self._decode_failed(packet)
            return []

    def _flush_resampler(self) -> None:
        for out in self._resampler.resample(None):
            self.audio.append(out.to_ndarray().reshape(-1), self.audio.end_time)

    def _first_frame_decoded(self, frame: av.VideoFrame) -> None:
        """FFmpeg decides at the first frame whether the GPU decodes the stream: record it."""
        if self._nvdec:
            self.decoder_fallback = refused(self.vstream.codec_context, frame)
            self._nvdec = self.decoder_fallback is None
        self.decoder = decoder_name(self.vstream.codec_context, on_gpu=self._nvdec)

    def pull_audio(self, until: float, keep: float | None = None) -> bool:
        """Audio only (a reader that never yields frames): demux and decode the audio stream until
        ``audio`` reaches ``until`` seconds or the stream ends; returns False once it has ended.
        The samples are those of a whole pass (same packets, same resampler from the start).
        ``keep``: samples more than that many seconds behind the newest go (a range far into a
        long source decodes its audio from the start, and needs only the last few seconds)."""
        if self.astream is None or self.t0 is None:
            return False
        if self._audio_packets is None:
            self._audio_packets = self._packets([self.astream])
        while self.audio.end_time < until:
            packet = next(self._audio_packets, None)
            if packet is None:
                if self._resampler is not None:
                    self._flush_resampler()
                    self._resampler = None
                self.astream = None
                return False
            for frame in self._decode(packet):
                self._on_audio(frame)
            if keep is not None and self.audio.end_time - self._audio_kept_from > 2 * keep + 10.0:
                self._audio_kept_from = self.audio.end_time - keep
                self.audio.release_before(self._audio_kept_from)
        return True

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
                self.size = output_size(
                    frame.width, frame.height, self.rotation, self.short_side, self.upscale
                )
                if self.start_seconds is not None:  # mid-source: the first slot this frame is sure to own
                    k = max(0, math.ceil(t * self.fps - 1e-9))
            else:
                if t <= prev_t:  # out of order (a damaged index, noted as damage): no slot of its own
                    continue
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
            # a repeated source frame: its own copy of the converted planes (the encoder sets the
            # copy's pts; sharing one object let it renumber a frame still queued for x264)
            copy = av.VideoFrame.from_ndarray(src.frame.to_ndarray(), format="yuv420p")
            self._last = OutputFrame(
                index=k, time=k / self.fps, frame=copy, small_bgr=src.small_bgr, source=src.source,
                source_time=src.source_time, interlaced=src.interlaced,
            )  # fmt: skip
        else:
            self._last = self._convert(frame, k)
        return self._last


def first_video_time(media: str | BinaryIO) -> float | None:
    """Time of the first decoded video frame, the origin of a whole pass's timeline (None: none
    decodes); a reader that starts mid-source takes it as ``origin``."""
    with av.open(media, metadata_errors="ignore") as container:
        stream = container.streams.video[0]
        for packet in container.demux(stream):
            try:
                frames = packet.decode()
            except av.FFmpegError:
                continue
            for frame in frames:
                if frame.time is not None:
                    return frame.time
    return None


def _seconds(value: int | None, time_base) -> float | None:
    return float(value * time_base) if value is not None and time_base else None
