"""HuMo's audio conditioning: Whisper bands -> 8-frame windows per latent frame -> 16 tokens.

Timeline (25 fps audio features a[0..F-1], latent frame j covers video frames 4j-3..4j, the first
latent frame covers frame 0 alone)::

    latent 0 : [0, 0, 0, a[-2], a[-1], a[0], a[1], a[2]]     (out-of-range -> zeros)
    latent j : a[4j-5 .. 4j+2]                                 (its 4 frames + 2 each side)
    ref slot : zeros

Same as ``get_audio_emb_window`` in Phantom-video/HuMo (frame0_idx = 0, audio_shift = 2).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class _Named(nn.Module):
    """Holds a layer under ``.layer`` so parameter names match the release (DummyAdapterLayer)."""

    def __init__(self, layer: nn.Module) -> None:
        super().__init__()
        self.layer = layer

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layer(x)


class AudioProjModel(nn.Module):
    """One shared MLP: window [8, bands, C] of one latent frame -> ``context_tokens`` tokens."""

    def __init__(
        self,
        seq_len: int,
        blocks: int,
        channels: int,
        intermediate_dim: int,
        output_dim: int,
        context_tokens: int,
    ):
        super().__init__()
        self.context_tokens = context_tokens
        self.output_dim = output_dim
        in_dim = seq_len * blocks * channels
        self.audio_proj_glob_1 = _Named(nn.Linear(in_dim, intermediate_dim))
        self.audio_proj_glob_2 = _Named(nn.Linear(intermediate_dim, intermediate_dim))
        self.audio_proj_glob_3 = _Named(nn.Linear(intermediate_dim, context_tokens * output_dim))
        self.audio_proj_glob_norm = _Named(nn.LayerNorm(output_dim))
        for m in self.modules():
            if isinstance(m, nn.Linear):
                nn.init.xavier_uniform_(m.weight)
                nn.init.zeros_(m.bias)

    def forward(self, windows: torch.Tensor) -> torch.Tensor:
        """windows [B, F, W, bands, C] -> tokens [B, F, context_tokens, output_dim]."""
        b, f = windows.shape[:2]
        x = windows.reshape(b * f, -1).to(self.audio_proj_glob_1.layer.weight.dtype)
        x = torch.relu(self.audio_proj_glob_1(x))
        x = torch.relu(self.audio_proj_glob_2(x))
        x = self.audio_proj_glob_3(x).reshape(b * f, self.context_tokens, self.output_dim)
        return self.audio_proj_glob_norm(x).reshape(b, f, self.context_tokens, self.output_dim)


def band_groups(num_hidden_states: int) -> list[tuple[int, int]]:
    """[start, end) hidden-state ranges of the 5 bands.

    Whisper-large-v3 has 33 hidden states (embeddings + 32 layers): (0,8) (8,16) (16,24) (24,32)
    averaged and (32,33) alone. Smaller encoders scale the four groups to their layer count.
    """
    n = num_hidden_states - 1
    if n < 4:
        raise ValueError(f"need at least 5 hidden states for 5 bands, got {num_hidden_states}")
    g = n // 4
    return [(0, g), (g, 2 * g), (2 * g, 3 * g), (3 * g, 4 * g), (n, n + 1)]


def whisper_bands(hidden: torch.Tensor, frames: int) -> torch.Tensor:
    """hidden [B, T50, H, C] (all hidden states at 50 Hz) -> [B, frames, 5, C] at 25 fps.

    Band means, then linear interpolation (align_corners) to ``frames`` as released.
    """
    bands = [hidden[:, :, s:e].mean(dim=2) for s, e in band_groups(hidden.shape[2])]
    x = torch.stack(bands, dim=2)  # [B, T50, 5, C]
    b, t, k, c = x.shape
    x = x.permute(0, 2, 3, 1).reshape(b, k * c, t)
    x = F.interpolate(x.float(), size=frames, mode="linear", align_corners=True)
    return x.reshape(b, k, c, frames).permute(0, 3, 1, 2)


def audio_windows(
    features: torch.Tensor, latent_frames: int, window: int = 8, shift: int = 2
) -> torch.Tensor:
    """features [B, F, bands, C] at 25 fps -> windows [B, latent_frames, window, bands, C].

    Vectorised form of the released per-frame loop (see module docstring); frames past the end
    of the audio are zeros.
    """
    b, n, k, c = features.shape
    per = window - 2 * shift  # 4 video frames per latent frame
    pad_left = per - 1 + shift  # so that latent 0 starts 3 + 2 frames before frame 0
    last = 1 + per * (latent_frames - 1) + shift  # one past the last index any window reads
    pad_right = max(0, last - n)
    padded = torch.cat(
        [features.new_zeros(b, pad_left, k, c), features, features.new_zeros(b, pad_right, k, c)], 1
    )
    starts = torch.tensor(
        [0] + [1 + per * (j - 1) - shift for j in range(1, latent_frames)], device=features.device
    )
    starts[0] = -(per - 1 + shift)  # latent 0: 3 leading zeros + a[-2..2]
    idx = starts[:, None] + torch.arange(window, device=features.device)[None] + pad_left
    return padded[:, idx]  # [B, latent_frames, window, bands, C]
