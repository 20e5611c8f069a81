"""NVDEC decoding (clips.decoder). Without a GPU (this project's machines) the preflight's and each
source's fallback paths run for real; on a GPU worker the same tests check NVDEC's frames against
the CPU decoder's."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from av.video.reformatter import VideoReformatter

from humo_data.media.decode import SourceReader
from humo_data.media.ffmpeg import run_ffmpeg, safe_path
from humo_data.media.hwdecode import choose_decoder, nvdec_preflight, to_cpu_layout


@pytest.fixture(scope="module")
def h264(tmp_path_factory):
    src = tmp_path_factory.mktemp("hwdecode") / "src.mp4"
    run_ffmpeg(["-f", "lavfi", "-i", "testsrc2=s=320x180:r=30:d=1.2", "-c:v", "libx264", "-preset", "ultrafast",
                "-y", safe_path(src)])  # fmt: skip
    return src


def _read(path, **kwargs):
    media = str(path) if isinstance(path, Path) else path
    with SourceReader(media, fps=25, short_side=120, with_audio=False, **kwargs) as reader:
        frames = [(f.frame.to_ndarray(), f.small_bgr, f) for f in reader.frames()]
        return frames, reader


GPU = nvdec_preflight() is None  # PyAV lists cuda on every machine; the trial decode is the check


@pytest.mark.skipif(GPU, reason="NVDEC decodes here")
def test_nvdec_preflight_says_why_it_cannot_decode_here():
    why_not = nvdec_preflight()
    assert why_not is not None and "NVDEC" in why_not


@pytest.mark.skipif(GPU, reason="NVDEC decodes here (and CUDA reads CUDA_VISIBLE_DEVICES once)")
def test_auto_falls_back_to_the_cpu_with_one_log_line_and_nvdec_refuses(caplog, monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")  # what Ray sets for a task that asked for no GPU
    choose_decoder.cache_clear()
    try:
        with caplog.at_level("WARNING", logger="humo_data.media.hwdecode"):
            first, again = choose_decoder("auto"), choose_decoder("auto")
        assert first.name == again.name == "cpu" and "NVDEC" in first.reason
        assert "clips.resources.num_gpus" in first.reason  # the hint: Ray hid the GPU
        assert len([r for r in caplog.records if "clips.decoder=auto" in r.getMessage()]) == 1
        assert choose_decoder("cpu").name == "cpu"
        with pytest.raises(RuntimeError, match="clips.decoder=nvdec"):
            choose_decoder("nvdec")
    finally:
        choose_decoder.cache_clear()  # the hint belongs to this test's environment only


def test_decoder_setting_is_validated_named_and_leaves_the_cut_hash():
    from pydantic import ValidationError

    from humo_data.config import CurateConfig

    with pytest.raises(ValidationError):
        CurateConfig.model_validate({"clips": {"decoder": "cuda"}})
    auto = CurateConfig.model_validate({"clips": {"decoder": "auto", "encoder": "auto"}})
    assert auto.cut_hash() == CurateConfig().cut_hash()  # clip boundaries do not depend on it
    assert auto.clips.video_backend == "pyav[auto(nvdec|cpu)]-auto(h264_nvenc|libx264)+aac"
    assert CurateConfig().clips.video_backend == "pyav-libx264+aac"  # the default's name is unchanged
    nvdec = CurateConfig.model_validate({"clips": {"decoder": "nvdec"}})
    assert nvdec.clips.decoder_backend == "pyav[nvdec]"


def test_an_nvdec_source_gives_the_cpu_frames_or_says_why_it_decoded_on_the_cpu(h264):
    """With a GPU: NVDEC decodes the source to the CPU decoder's frames. Without: the CUDA device
    cannot be opened for the source (as on a worker whose GPU went away after its preflight), so it
    decodes on the CPU, the same frames, and says why. From a path and from a file object."""
    cpu, cpu_reader = _read(h264)
    assert cpu_reader.decoder == "h264" and cpu_reader.decoder_fallback is None
    for media in (str(h264), open(h264, "rb")):  # noqa: SIM115 - closed below
        frames, reader = _read(media, decoder="nvdec")
        if GPU:
            assert reader.decoder == "h264_nvdec" and reader.decoder_fallback is None
        else:
            assert reader.decoder == "h264" and "CUDA device could not be opened" in reader.decoder_fallback
        assert [a for a, _, _ in frames] and all(
            np.array_equal(a, b) for (a, _, _), (b, _, _) in zip(frames, cpu, strict=True)
        )
        if not isinstance(media, str):
            media.close()


def test_a_codec_without_nvdec_decodes_on_the_cpu_and_says_so(tmp_path):
    src = tmp_path / "prores.mov"
    run_ffmpeg(["-f", "lavfi", "-i", "testsrc2=s=160x120:r=25:d=0.4", "-c:v", "prores_ks", "-y",
                safe_path(src)])  # fmt: skip
    frames, reader = _read(src, decoder="nvdec")
    assert frames and reader.decoder == "prores"
    assert reader.decoder_fallback == "prores: FFmpeg has no NVDEC decoder for it"


def test_nvdec_layouts_repack_losslessly_into_the_cpu_decoders(h264):
    """NVDEC hands 8-bit 4:2:0 frames over as nv12 and 10-bit as p010le, FFmpeg's CPU decoders as
    yuv420p and yuv420p10le. The reader repacks NVDEC's frames before anything else sees them, so
    deinterlacing, scaling and stills get the CPU decode's bytes: the repacking must be exact and
    keep time, flags and picture type."""
    import av

    with av.open(str(h264)) as container:
        decoded = list(container.decode(video=0))[:3]
    scaler = VideoReformatter()
    for frame in decoded:
        nv12 = frame.reformat(format="nv12")  # a fresh (aligned) buffer, as NVDEC's transfer gives
        repacked = to_cpu_layout(nv12, scaler)
        assert repacked.format.name == "yuv420p" and np.array_equal(repacked.to_ndarray(), frame.to_ndarray())
        assert (repacked.pts, repacked.time, repacked.key_frame) == (frame.pts, frame.time, frame.key_frame)
        ten = frame.reformat(format="yuv420p10le")
        back = to_cpu_layout(ten.reformat(format="p010le"), scaler)
        assert back.format.name == "yuv420p10le" and np.array_equal(back.to_ndarray(), ten.to_ndarray())
        assert to_cpu_layout(frame, scaler) is frame  # a CPU layout passes as is


def test_the_first_frame_tells_whether_the_gpu_decoded(h264):
    """FFmpeg falls back to its CPU decoder at the first frame when the GPU refuses a stream: the
    context keeps a software format and the frame comes in the CPU decoder's layout."""
    import av

    from humo_data.media.hwdecode import refused

    with av.open(str(h264)) as container:
        ctx = container.streams.video[0].codec_context
        first = next(container.decode(video=0))
        assert refused(ctx, first) == f"h264 ({ctx.profile}): NVDEC refused the stream" and ctx.profile
        assert refused(ctx, first.reformat(format="nv12")) is None  # NVDEC's transfer layout
