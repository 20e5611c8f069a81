"""NVDEC decoding for the cut stage: FFmpeg's CUDA hwaccel through PyAV, chosen once per worker.

``choose_decoder(clips.decoder)`` runs ``nvdec_preflight`` once per worker process: PyAV's
FFmpeg lists ``cuda`` as a device type on every machine (its wheels are built with the NVIDIA
headers and load the driver at run time), so a tiny H.264 clip made with libx264 on the spot is
decoded through the hwaccel and must come out of the GPU. Then ``open_source`` opens each source
with the hwaccel; the decoder hands every frame back in system memory (PyAV transfers it, as
``nv12`` for 8-bit 4:2:0, ``p010le``/``p016le`` for 10/12-bit, ``yuv444p``/``yuv444p16le`` for
4:4:4), and the reader goes on as with a CPU-decoded frame.

Per source the GPU may still not decode: FFmpeg has no NVDEC path for the codec (ProRes, DNxHD,
...), the CUDA device cannot be opened, or the GPU refuses the stream's profile or size when the
first frame is decoded (H.264 4:2:2, 10-bit H.264, MPEG-4 part 2 on GPUs without it). FFmpeg then
decodes on the CPU; the reader names the reason (``SourceReader.decoder_fallback``), the clips say
which decoder made them (``video_decoder``: FFmpeg's decoder name, ``h264``, or its NVDEC hwaccel,
``h264_nvdec``) and the manifest counts both.

Decoded pixels: H.264/HEVC decoding is exact by the standards, so NVDEC and FFmpeg's decoder give
the same frames of a clean stream, and the reader repacks NVDEC's layouts into the CPU decoder's
(``to_cpu_layout``: nv12 -> yuv420p, p010le -> yuv420p10le, lossless) before anything else, so
the clips are the same bytes. Damaged streams differ: FFmpeg's own decoder reports (and
conceals) errors in slice data, which NVDEC decodes without telling, so fewer damage spans are
found there.
"""

from __future__ import annotations

import io
import logging
from functools import cache
from typing import BinaryIO

import av
import av.logging
import numpy as np

from humo_data.devices import HardwareChoice, choose_hardware
from humo_data.media.encode import X264
from humo_data.media.errors import ffmpeg_words

log = logging.getLogger(__name__)

CPU, NVDEC = "cpu", "nvdec"
#: PyAV's pixel format of a frame still on the GPU (the hwaccel's format)
CUDA_FORMAT = "cuda"
#: FFmpeg adds a decode surface per frame thread to H.264's 16 + 5 and NVDEC allows 32; the GPU
#: decodes anyway (the threads only parse), and a stream the GPU refuses still gets a few threads
NVDEC_MAX_THREADS = 4
#: NVDEC's output layouts and the CPU decoder's for the same 8/10-bit 4:2:0 stream (lossless to convert)
CPU_LAYOUT = {"nv12": "yuv420p", "p010le": "yuv420p10le"}
#: layouts only NVDEC's transfer gives among the decoders it backs (FFmpeg's own give planar ones)
NVDEC_LAYOUTS = frozenset({"nv12", "p010le", "p016le", "yuv444p16le"})


def _cuda():
    """The hwaccel of ``av.open`` (PyAV >= 14). A software fallback inside FFmpeg, so a stream the
    GPU refuses still decodes (and says so)."""
    from av.codec.hwaccel import HWAccel

    return HWAccel(CUDA_FORMAT, allow_software_fallback=True)


@cache
def _trial_clip(width: int = 128, height: int = 128, frames: int = 4) -> bytes:
    """A few frames of H.264 (libx264, yuv420p) in an MP4, made in memory."""
    buf = io.BytesIO()
    with av.open(buf, "w", format="mp4") as out:
        stream = out.add_stream(X264, rate=25)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.codec_context.options = {"preset": "ultrafast"}
        ramp = np.add.outer(np.arange(height * 3 // 2), np.arange(width)).astype(np.uint8)
        for i in range(frames):
            out.mux(stream.encode(av.VideoFrame.from_ndarray(ramp + 16 * i, format="yuv420p")))
        out.mux(stream.encode(None))
    return buf.getvalue()


def _ffmpeg_says(logs) -> str:
    """FFmpeg's own error lines (``Cannot load libcuda.so.1``), the clue a bare errno lacks."""
    lines = [str(message).strip() for level, _, message in logs if level <= av.logging.ERROR]
    return "; ".join(dict.fromkeys(line for line in lines if line))[:200]


def nvdec_preflight() -> str | None:
    """None when NVDEC decodes in this process, else why not in words. ``cuda`` in PyAV's
    device types is not enough (listed without a driver or a GPU), so a small H.264 clip is
    decoded through the hwaccel and its frames must come off the GPU."""
    try:
        from av.codec.hwaccel import hwdevices_available
    except ImportError:
        return f"PyAV {av.__version__} has no hardware decoding (PyAV >= 14)"
    if CUDA_FORMAT not in hwdevices_available():
        return "PyAV's FFmpeg has no CUDA hardware decoding"
    clip = _trial_clip()
    previous = av.logging.get_level()
    av.logging.set_level(av.logging.ERROR)  # captured below, never printed
    try:
        with av.logging.Capture() as logs:
            try:
                with av.open(io.BytesIO(clip), hwaccel=_cuda()) as container:
                    ctx = container.streams.video[0].codec_context
                    ctx.thread_count = 1
                    frames = list(container.decode(video=0))
                    on_gpu = ctx.is_hwaccel and ctx.pix_fmt == CUDA_FORMAT
            except Exception as err:  # noqa: BLE001 - any failure means: not usable here
                words = f"{type(err).__name__}: {getattr(err, 'strerror', None) or str(err).strip()[:200]}"
                said = _ffmpeg_says(logs)
                return f"a trial NVDEC decode failed ({words}{'; ' + said if said else ''})"
    finally:
        av.logging.set_level(previous)
    if not frames:
        return "a trial NVDEC decode returned no frame"
    if not on_gpu:
        said = _ffmpeg_says(logs)
        return f"a trial NVDEC decode ran on the CPU (FFmpeg's fallback{': ' + said if said else ''})"
    return None


@cache
def choose_decoder(choice: str) -> HardwareChoice:
    """``clips.decoder`` resolved once per worker process (devices.choose_hardware): ``cpu``;
    ``nvdec`` (fails when the preflight does); ``auto`` (NVDEC when it passes, else the CPU)."""
    return choose_hardware("clips.decoder", choice, software=(CPU, CPU), hardware=(NVDEC, NVDEC),
                           preflight=nvdec_preflight, fallback="decoding on the CPU", logger=log)  # fmt: skip


def open_source(
    media: str | BinaryIO, decoder: str, **kwargs
) -> tuple[av.container.InputContainer, str | None]:
    """``av.open(media)`` through NVDEC when ``decoder`` is ``nvdec``: (container, why the video
    stream decodes on the CPU after all, or None). A CUDA device that cannot be opened for this
    source gives a CPU container, not a failure; a container that cannot be opened either way
    raises the CPU open's error, as without NVDEC."""
    if decoder != NVDEC:
        return av.open(media, **kwargs), None
    try:
        container = av.open(media, hwaccel=_cuda(), **kwargs)
    except av.FFmpegError as err:
        if not isinstance(media, str):
            media.seek(0)
        return av.open(media, **kwargs), f"the CUDA device could not be opened ({ffmpeg_words(err)})"
    video = container.streams.video
    if video and not video[0].codec_context.is_hwaccel:
        return container, f"{video[0].codec_context.name}: FFmpeg has no NVDEC decoder for it"
    return container, None


def refused(ctx: av.video.codeccontext.VideoCodecContext, first: av.VideoFrame) -> str | None:
    """After the first decoded frame of a stream opened through NVDEC: why FFmpeg decoded it on
    the CPU (it tries the GPU at the first frame and falls back when the GPU refuses), or None.
    The GPU decoded it when the context's format is the hwaccel's or the frame arrived in a
    layout only NVDEC's transfer gives."""
    if ctx.pix_fmt == CUDA_FORMAT or first.format.name in NVDEC_LAYOUTS:
        return None
    profile = getattr(ctx, "profile", None)
    return f"{ctx.name}{f' ({profile})' if profile else ''}: NVDEC refused the stream"


def decoder_name(ctx: av.video.codeccontext.VideoCodecContext, on_gpu: bool) -> str:
    """The ``video_decoder`` of a source's clips: FFmpeg's decoder (``h264``) or its NVDEC
    hwaccel (``h264_nvdec``), as FFmpeg names them."""
    return f"{ctx.name}_nvdec" if on_gpu else ctx.name


def to_cpu_layout(frame: av.VideoFrame, scaler) -> av.VideoFrame:
    """``frame`` in the pixel layout FFmpeg's CPU decoder gives for the same stream: a lossless
    repacking (timestamps, flags and side data kept), so deinterlacing, scaling and stills see
    the bytes they see after a CPU decode. Swscale's conversions from nv12 and from yuv420p
    agree often but not always (stills to RGB at source size, unaligned buffers); the repacking
    costs about 1 ms per 1080p frame on one core. 12-bit and 4:4:4 NVDEC layouts pass as is."""
    target = CPU_LAYOUT.get(frame.format.name)
    return frame if target is None else scaler.reformat(frame, format=target, threads=1)
