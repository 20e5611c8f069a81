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
