"""Audio conditioning pieces against the release's rules: 5 Whisper bands, 8-frame windows per
latent frame (first: 3 zeros then -2..2), zero windows for reference slots."""

from __future__ import annotations

import torch

from humo_data.train.model import build_humo
from humo_data.train.model.audio import audio_windows, band_groups, whisper_bands


def released_windows(emb: torch.Tensor, frame_num: int) -> torch.Tensor:
    """The release's ``get_audio_emb_window`` loop (frame0_idx=0, audio_shift=2), restated."""
    zero = torch.zeros(emb.shape[1:])
    out = []
    for j in range(1 + (frame_num - 1) // 4):
        if j == 0:
            idx = range(-2, 3)
            win = [zero] * 3 + [emb[i] if 0 <= i < len(emb) else zero for i in idx]
        else:
            idx = range(1 + 4 * (j - 1) - 2, 1 + 4 * j + 2)
            win = [emb[i] if 0 <= i < len(emb) else zero for i in idx]
        out.append(torch.stack(win))
    return torch.stack(out)


def test_windows_match_release_loop():
    emb = (
        torch.arange(1, 22, dtype=torch.float32).view(21, 1, 1).expand(21, 5, 2).contiguous()
    )  # a[i] = i + 1
    for frames in (1, 5, 9, 21, 29):  # 29 frames: windows run past the 21 audio frames (zeros)
        got = audio_windows(emb[None], 1 + (frames - 1) // 4)[0]
        assert torch.equal(got, released_windows(emb, frames)), frames
    w = audio_windows(emb[None], 3)[0, :, :, 0, 0]
    assert w[0].tolist() == [0, 0, 0, 0, 0, 1, 2, 3]  # 3 zeros, a[-2], a[-1] (zero), a[0..2]
    assert w[1].tolist() == [0, 1, 2, 3, 4, 5, 6, 7]  # a[-1..6]: its 4 frames (1..4) + 2 each side
    assert w[2].tolist() == [4, 5, 6, 7, 8, 9, 10, 11]  # a[3..10]


def test_band_grouping_and_fps():
    assert band_groups(33) == [(0, 8), (8, 16), (16, 24), (24, 32), (32, 33)]  # whisper-large-v3
    assert band_groups(5) == [(0, 1), (1, 2), (2, 3), (3, 4), (4, 5)]  # tiny: 4 layers
    hidden = torch.arange(20, dtype=torch.float32).view(1, 20, 1, 1).expand(1, 20, 33, 1).clone()
    hidden[:, :, 32] += 100.0  # the last layer differs
    out = whisper_bands(hidden, 10)  # 50 Hz -> 25 fps
    assert out.shape == (1, 10, 5, 1)
    assert torch.allclose(out[0, :, 0, 0], torch.linspace(0, 19, 10))  # align_corners interpolation
    assert torch.allclose(out[0, :, 4, 0], torch.linspace(100, 119, 10))


def test_reference_slots_get_zero_audio():
    model = build_humo("tiny", with_encoders=False)
    feats = torch.randn(2, 9, 5, model.config.audio_channels)
    win = model.audio_condition(feats, 3, 2, 2, "cpu")
    assert win.shape == (2, 5, 8, 5, model.config.audio_channels)
    assert win[:, 3:].abs().sum() == 0 and win[:, :3].abs().sum() > 0
    assert model.audio_condition(None, 3, 1, 2, "cpu").abs().sum() == 0  # null audio
