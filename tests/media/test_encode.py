"""ClipEncoder: the background thread writes the same stream as the caller's thread, and its errors
reach the caller."""

import numpy as np
import pytest

from humo_data.media.encode import ClipEncoder


def _frames(n: int, w: int = 64, h: int = 48) -> list[np.ndarray]:
    rng = np.random.default_rng(0)
    base = rng.integers(0, 255, (h * 3 // 2, w), dtype=np.uint8)
    return [np.roll(base, 2 * i, axis=1) for i in range(n)]


def _encode(background: bool, frames: list[np.ndarray]) -> bytes:
    enc = ClipEncoder(64, 48, 25, preset="ultrafast", threads=1, audio_rate=16000, background=background)
    for f in frames:
        enc.add(f)
    return enc.finish(np.zeros(16000 * len(frames) // 25, np.float32))


def test_background_encoding_gives_the_same_bytes():
    frames = _frames(33)
    assert _encode(True, frames) == _encode(False, frames)


class _FailingContainer:
    """The real output container, whose third mux call fails (a full disk, a broken muxer)."""

    def __init__(self, real):
        self.real, self.calls = real, 0

    def mux(self, packets):
        self.calls += 1
        if self.calls >= 3:
            raise OSError("no space left on device")
        return self.real.mux(packets)

    def __getattr__(self, name):
        return getattr(self.real, name)


def test_an_error_in_the_encoding_thread_reaches_the_caller():
    enc = ClipEncoder(64, 48, 25, preset="ultrafast", threads=1, background=True)
    enc._out = _FailingContainer(enc._out)
    with pytest.raises(OSError, match="no space left"):
        for f in _frames(40):
            enc.add(f)
        enc.finish()
    enc.abort()  # after a failure: releases the thread and the container without raising


# --- the encoder preflight (clips.encoder): this machine has no NVENC, so the fallback path runs ---


def test_nvenc_preflight_says_why_it_cannot_encode_here():
    from humo_data.media.encode import nvenc_preflight

    why_not = nvenc_preflight()  # PyAV lists h264_nvenc everywhere; the trial encode is the check
    assert why_not is not None and "h264_nvenc" in why_not


def test_auto_falls_back_to_x264_with_one_log_line_and_nvenc_refuses(caplog):
    from humo_data.media.encode import choose_encoder

    choose_encoder.cache_clear()
    with caplog.at_level("WARNING", logger="humo_data.media.encode"):
        first, again = choose_encoder("auto"), choose_encoder("auto")
    assert first.name == again.name == "libx264" and "h264_nvenc" in first.reason
    assert len([r for r in caplog.records if "libx264" in r.getMessage()]) == 1  # once per process
    assert choose_encoder("x264").name == "libx264"
    with pytest.raises(RuntimeError, match="clips.encoder=nvenc"):
        choose_encoder("nvenc")


def test_encoder_setting_is_validated_and_leaves_the_cut_hash():
    from pydantic import ValidationError

    from humo_data.config import CurateConfig

    with pytest.raises(ValidationError):
        CurateConfig.model_validate({"clips": {"encoder": "vaapi"}})
    auto = CurateConfig.model_validate({"clips": {"encoder": "auto"}})
    assert auto.cut_hash() == CurateConfig().cut_hash()  # clip boundaries do not depend on it
    assert auto.clips.encoder_backend == "auto(h264_nvenc|libx264)"
    assert CurateConfig().clips.encoder_backend == "libx264"
