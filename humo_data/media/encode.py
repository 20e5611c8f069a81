"""Encoding: streamed H.264 MP4 clips (with AAC audio) and FLAC/WAV audio bytes, all in memory.

Frames go into the encoder as they are decoded, so a clip never sits in memory as raw frames.
With ``background=True`` x264 runs in its own thread (PyAV releases the GIL while it encodes), so
the decoding thread keeps decoding and scaling meanwhile: on one long source that is the
difference between one busy core and two.

On a worker with an NVIDIA encoder, ``choose_encoder("auto")`` picks ``h264_nvenc`` after a
preflight (listed in PyAV's FFmpeg, which encodes here, and a 1-frame trial encode succeeds:
A100/H100 list it but have no NVENC); otherwise x264 with one log line saying why. The clip
rules are the encoder's callers' and stay the same; NVENC runs in constant-quality mode at
``crf`` as its ``cq`` (x264's CRF has no bit-rate target either).
"""

from __future__ import annotations

import contextlib
import io
import logging
import queue
import threading
from fractions import Fraction
from functools import cache

import av
import numpy as np
import soundfile as sf

from humo_data.devices import HardwareChoice, choose_hardware

log = logging.getLogger(__name__)

X264, NVENC = "libx264", "h264_nvenc"


def nvenc_preflight(width: int = 256, height: int = 256) -> str | None:
    """None when ``h264_nvenc`` can encode here, else why not in words. Listing is not enough
    (PyAV's wheels list it on every machine; it needs an NVIDIA driver and an NVENC engine), so
    one yuv420p frame is encoded and flushed."""
    if NVENC not in av.codecs_available:
        return f"{NVENC} is not in PyAV's FFmpeg build"
    try:
        out = av.open(io.BytesIO(), "w", format="mp4")
        try:
            stream = out.add_stream(NVENC, rate=25)
            stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
            frame = av.VideoFrame.from_ndarray(np.zeros((height * 3 // 2, width), np.uint8), format="yuv420p")
            packets = [*stream.encode(frame), *stream.encode(None)]
        finally:
            with contextlib.suppress(Exception):
                out.close()
    except Exception as err:  # noqa: BLE001 - any failure means: not usable here
        return f"a 1-frame {NVENC} trial encode failed ({type(err).__name__}: {str(err).strip()[:200]})"
    if not packets:
        return f"a 1-frame {NVENC} trial encode returned no packet"
    return None


@cache
def choose_encoder(choice: str) -> HardwareChoice:
    """``clips.encoder`` resolved once per worker process (devices.choose_hardware): ``x264``;
    ``nvenc`` (fails when the preflight does); ``auto`` (NVENC when it passes, else x264)."""
    return choose_hardware("clips.encoder", choice, software=("x264", X264), hardware=("nvenc", NVENC),
                           preflight=nvenc_preflight, fallback="using libx264", logger=log)  # fmt: skip


class ClipEncoder:
    """H.264 yuv420p MP4 at a constant fps, written into memory; AAC audio muxed at ``finish``."""

    def __init__(
        self,
        width: int,
        height: int,
        fps: float,
        *,
        crf: int = 18,
        preset: str = "veryfast",
        tune: str | None = None,
        x264_params: str | None = None,
        threads: int = 0,
        audio_rate: int | None = None,
        background: bool = False,
        encoder: str = X264,
        nvenc_preset: str = "p4",
    ):
        self._buf = io.BytesIO()
        # No +faststart: it needs a second pass over a named file; the clip is read whole anyway.
        self._out = av.open(self._buf, "w", format="mp4")
        rate = Fraction(fps).limit_denominator(1001)
        self.encoder = encoder
        self._video = self._out.add_stream(encoder, rate=rate)
        self._frame_time_base = 1 / rate  # frame pts count frames
        self._video.width, self._video.height = width, height
        self._video.pix_fmt = "yuv420p"
        if encoder == NVENC:  # constant quality at crf (b=0: no bit-rate cap), the GPU's own threads
            options = {"rc": "vbr", "cq": str(crf), "b": "0", "preset": nvenc_preset}
        else:
            self._video.codec_context.thread_count = threads
            options = {"crf": str(crf), "preset": preset}
            if tune:
                options["tune"] = tune
            if x264_params:  # "key=value:key=value", x264's own syntax (e.g. "me=dia:subme=1")
                options["x264-params"] = x264_params
        self._video.codec_context.options = options
        # The audio stream must exist before the first packet is muxed (the header is written then).
        self._audio = self._out.add_stream("aac", rate=audio_rate, layout="mono") if audio_rate else None
        self.audio_rate = audio_rate
        self.width, self.height, self.fps = width, height, fps
        self.num_frames = 0
        self._previous: av.VideoFrame | None = None
        # a few frames of slack between the threads: enough to absorb x264's bursts, and memory
        # stays at a handful of output-size frames
        self._queue: queue.Queue | None = queue.Queue(maxsize=8) if background else None
        self._error: BaseException | None = None
        self._thread: threading.Thread | None = None
        if background:
            self._thread = threading.Thread(target=self._encode_loop, name="clip-encoder", daemon=True)
            self._thread.start()

    def _encode_loop(self) -> None:
        while (frame := self._queue.get()) is not None:
            if self._error is None:
                try:
                    self._out.mux(self._video.encode(frame))
                except BaseException as err:  # noqa: BLE001 - re-raised in the caller's thread
                    self._error = err

    def _raise_background_error(self) -> None:
        if self._error is not None:
            raise self._error

    def _join(self) -> None:
        """Wait until every queued frame is encoded (the background thread ends)."""
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join()
            self._thread = None
        self._raise_background_error()

    def add(self, frame: av.VideoFrame | np.ndarray) -> None:
        """Append a yuv420p frame at the encoder's size (a VideoFrame, or a packed yuv420p array).

        The encoder takes a VideoFrame over: it sets its pts, time base and picture type, and x264
        may read it later in the background thread. Give each call its own object (the reader
        does); the same object twice in a row is copied, as a guard."""
        if isinstance(frame, np.ndarray):
            frame = av.VideoFrame.from_ndarray(frame, format="yuv420p")
        elif frame is self._previous:
            frame = av.VideoFrame.from_ndarray(frame.to_ndarray(), format="yuv420p")
        else:
            self._previous = frame
        # A frame straight from the decoder keeps its source time base, duration and picture type:
        # PyAV would rebase our pts from that time base, and x264 would take the type as a forced one.
        frame.time_base = self._frame_time_base
        frame.pict_type = av.video.frame.PictureType.NONE
        frame.pts = self.num_frames
        if hasattr(
            frame, "duration"
        ):  # PyAV >= 14: else the source frame's duration (source time base) stays
            frame.duration = 1
        if self._queue is not None:
            self._raise_background_error()
            self._queue.put(frame)
        else:
            self._out.mux(self._video.encode(frame))
        self.num_frames += 1

    def finish(self, audio: np.ndarray | None = None) -> bytes:
        """Flush video, mux ``audio`` (float32 mono at ``audio_rate``) as AAC, return the MP4 bytes."""
        self._join()
        if self._audio is not None:
            samples = np.zeros(1, np.float32) if audio is None or not len(audio) else audio
            frame = av.AudioFrame.from_ndarray(
                np.clip(samples, -1.0, 1.0).astype(np.float32).reshape(1, -1), format="flt", layout="mono"
            )
            frame.sample_rate = self.audio_rate
            frame.pts = 0
            self._out.mux(self._audio.encode(frame))
            self._out.mux(self._audio.encode(None))
        self._out.mux(self._video.encode(None))
        self._out.close()
        return self._buf.getvalue()

    def abort(self) -> None:
        with contextlib.suppress(Exception):  # a discarded clip: nothing to do with a failed close
            self._join()
        with contextlib.suppress(Exception):
            self._out.close()


def encode_audio(samples: np.ndarray, sample_rate: int, fmt: str = "flac") -> bytes:
    """Mono float32 samples as 16-bit FLAC or WAV bytes."""
    buf = io.BytesIO()
    sf.write(buf, np.clip(samples, -1.0, 1.0), sample_rate, format=fmt.upper(), subtype="PCM_16")
    return buf.getvalue()


def decode_audio(data: bytes) -> tuple[np.ndarray, int]:
    """Inverse of encode_audio: (float32 samples, sample rate)."""
    samples, rate = sf.read(io.BytesIO(data), dtype="float32")
    return samples, rate
