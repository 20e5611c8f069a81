"""Deinterlacer: bwdif on the decoder's frames, rebuilt when the frame size changes mid-stream."""

from fractions import Fraction

import av
import cv2
import numpy as np

from humo_data.media.deinterlace import Deinterlacer, bwdif_mode
from tests.clips.damaged_copies import combing


def _woven(h, w, shift, n):
    """Frames of a moving smooth texture whose even lines show it at x, odd lines at x + ``shift``:
    two fields of two instants woven into one frame."""
    rng = np.random.default_rng(0)
    texture = cv2.GaussianBlur(rng.integers(0, 255, (h, w + 64)).astype(np.float32), (0, 0), 3)
    texture = cv2.normalize(texture, None, 20, 235, cv2.NORM_MINMAX).astype(np.uint8)
    out = []
    for i in range(n):
        x = 4 * i
        y = texture[:, x : x + w].copy()
        y[1::2] = texture[1::2, x + shift : x + shift + w]
        f = av.VideoFrame.from_ndarray(
            np.concatenate([y, np.full((h // 2, w), 128, np.uint8)]), format="yuv420p"
        )
        f.pts, f.time_base = i, Fraction(1, 25)
        out.append(f)
    return out


def test_bwdif_removes_combing_and_follows_a_size_change():
    deint = Deinterlacer("send_frame", every_frame=True)  # from_ndarray frames carry no interlaced flag
    first, second = _woven(64, 96, 8, 6), _woven(48, 80, 8, 6)
    for f in second:
        f.pts += 6
    woven = min(combing(f.to_ndarray()[: f.height]) for f in first + second)
    assert woven > 10
    out = [o for f in first + second for o in deint.push(f)] + deint.flush()
    assert [(o.width, o.height) for o in out] == [(96, 64)] * 6 + [(80, 48)] * 6
    assert [round(o.time, 3) for o in out] == [round(i / 25, 3) for i in range(12)]  # times kept
    combs = [combing(o.to_ndarray()[: o.height]) for o in out]
    # under 1 where bwdif has the next field too; the last frame of each run only has its own
    assert np.median(combs) < 1.0 and max(combs) < woven / 10, combs
    assert deint.was_interlaced(0.0)


def test_field_rate_output_only_when_frames_cannot_fill_the_grid():
    assert bwdif_mode(12.5, 25) == "send_field"
    assert bwdif_mode(25, 25) == "send_frame" and bwdif_mode(29.97, 25) == "send_frame"
