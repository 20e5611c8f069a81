"""SourceReader: constant-fps resampling, rotation as ffmpeg displays it, audio timeline, encoder."""

import io

import av
import numpy as np
import pytest

from humo_data.media.decode import AudioBuffer, SourceReader, output_size
from humo_data.media.encode import ClipEncoder, decode_audio, encode_audio
from humo_data.media.ffmpeg import run_ffmpeg, safe_path
from tests.shared_media import MEDIA, needs_media  # noqa: E402


def _frames(path, **kw):
    with SourceReader(str(path), fps=25, short_side=kw.pop("short_side", 480), **kw) as r:
        frames = list(r.frames())
        return r, frames


@needs_media
def test_30fps_source_resampled_to_25():
    reader, frames = _frames(MEDIA / "liveportrait_d10.mp4")  # 14.98 s at 30 fps
    assert [f.index for f in frames] == list(range(len(frames)))
    assert abs(len(frames) - 14.98 * 25) <= 2
    assert reader.audio.end_time == pytest.approx(14.98, abs=0.1)


@needs_media
def test_vfr_source_gives_constant_grid_covering_its_duration():
    with av.open(str(MEDIA / "pyscenedetect_goldeneye-vfr-drop3.mp4")) as c:
        times = [f.time for f in c.decode(video=0)]
    reader, frames = _frames(MEDIA / "pyscenedetect_goldeneye-vfr-drop3.mp4")
    span = times[-1] - times[0]
    assert len(frames) == pytest.approx(span * 25, abs=3)
    assert reader.size[1] == 480 and reader.size[0] % 2 == 0


def test_rotation_matches_ffmpeg_autorotate(tmp_path):
    plain, rotated = tmp_path / "plain.mp4", tmp_path / "rot.mp4"
    run_ffmpeg(["-f", "lavfi", "-i", "testsrc2=s=320x192:r=25:d=1", "-c:v", "libx264", "-pix_fmt", "yuv420p",
                "-y", safe_path(plain)])  # fmt: skip
    run_ffmpeg(["-display_rotation", "90", "-i", safe_path(plain), "-c", "copy", "-y", safe_path(rotated)])
    reference = tmp_path / "ref.yuv"
    run_ffmpeg(
        [
            "-i",
            safe_path(rotated),
            "-frames:v",
            "1",
            "-f",
            "rawvideo",
            "-pix_fmt",
            "yuv420p",
            "-y",
            safe_path(reference),
        ]
    )  # fmt: skip (ffmpeg autorotates on decode)
    reader, frames = _frames(rotated, short_side=320)
    w, h = reader.size
    assert (w, h) == (192, 320)
    ref = np.frombuffer(reference.read_bytes(), np.uint8)[: w * h].reshape(h, w)  # luma plane
    ours = frames[0].yuv[:h]
    assert np.abs(ours.astype(int) - ref.astype(int)).mean() < 3
    assert np.abs(np.rot90(ours, 2).astype(int) - ref.astype(int)).mean() > 20  # the test can tell


def test_output_size_keeps_aspect_and_even_sides():
    assert output_size(1920, 1080, 0, 480, False) == (854, 480)
    assert output_size(1920, 1080, 90, 480, False) == (480, 854)
    assert output_size(320, 240, 0, 480, False) == (320, 240)
    assert output_size(320, 240, 0, 480, True) == (640, 480)


def test_audio_buffer_gap_padding_and_release():
    buf = AudioBuffer(16000)
    buf.append(np.ones(16000, np.float32), time=-0.5)  # starts before the first video frame
    buf.append(np.ones(8000, np.float32), time=1.0)  # 0.5 s hole -> zeros
    seg = buf.slice(0.0, 1.5)
    assert len(seg) == 24000
    assert seg[:8000].min() == 1 and seg[8000:16000].max() == 0 and seg[16000:].min() == 1
    buf.release_before(0.9)
    assert buf.slice(1.0, 1.5).min() == 1


def test_clip_encoder_roundtrip():
    enc = ClipEncoder(64, 48, 25, audio_rate=16000)
    rng = np.random.default_rng(0)
    for _ in range(9):
        enc.add(rng.integers(0, 255, (72, 64), dtype=np.uint8))
    tone = np.sin(np.arange(5760) / 16000 * 2 * np.pi * 440).astype(np.float32) * 0.5
    data = enc.finish(tone)
    with av.open(io.BytesIO(data)) as c:
        v, a = c.streams.video[0], c.streams.audio[0]
        assert (v.width, v.height, v.average_rate) == (64, 48, 25)
        assert sum(1 for _ in c.decode(v)) == 9
        assert (a.sample_rate, a.channels) == (16000, 1)
    samples, rate = decode_audio(encode_audio(tone, 16000))
    assert rate == 16000 and np.abs(samples - tone).max() < 1e-3


def test_audio_buffer_after_a_lost_packet_keeps_time():
    """A refused 20 ms packet: under the 50 ms jitter tolerance, but the samples after it must keep
    their time, or the rest of the source plays 20 ms early against its video."""
    buf = AudioBuffer(16000)
    buf.append(np.ones(320, np.float32), time=0.0)
    buf.append(np.full(320, 2.0, np.float32), time=0.04, after_loss=True)  # 0.02-0.04 s lost
    seg = buf.slice(0.0, 0.06)
    assert seg[:320].min() == 1 and seg[320:640].max() == 0 and seg[640:].min() == 2


def test_repeated_frames_are_separate_objects_and_encode_in_the_background(tmp_path):
    """A 12.5 fps source on the 25 fps grid shows each frame twice. The encoder takes each frame
    object over (sets its pts) while x264 may still hold the previous one: a shared object made
    the muxer refuse non-monotonic timestamps (every 12.5 fps source, e.g. tinterlace output)."""
    src = tmp_path / "12p5.mp4"
    run_ffmpeg(["-f", "lavfi", "-i", "testsrc2=s=160x120:r=12.5:d=3", "-c:v", "libx264", "-pix_fmt", "yuv420p",
                "-y", safe_path(src)])  # fmt: skip
    with SourceReader(str(src), fps=25, short_side=120, with_audio=False) as r:
        frames = list(r.frames())
        enc = ClipEncoder(*r.size, 25, preset="ultrafast", threads=1, background=True)
        for f in frames:
            enc.add(f.frame)
        data = enc.finish()
    assert len({id(f.frame) for f in frames}) == len(frames) >= 75
    assert sum(f.source is frames[i + 1].source for i, f in enumerate(frames[:-1])) >= 30  # repeats
    with av.open(io.BytesIO(data)) as c:
        assert sum(1 for _ in c.decode(video=0)) == len(frames)
