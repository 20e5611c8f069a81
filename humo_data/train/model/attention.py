"""Attention primitives of the Wan2.1 DiT: norms, 3-axis RoPE, SDPA attention.

Parameter names match Phantom-video/HuMo's ``model_humo.py`` so released weights load by name.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class WanRMSNorm(nn.Module):
    """RMSNorm computed in float32 (q/k norm)."""

    def __init__(self, dim: int, eps: float = 1e-5) -> None:
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        xf = x.float()
        return (xf * torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + self.eps)).type_as(x) * self.weight


class WanLayerNorm(nn.LayerNorm):
    """LayerNorm computed in float32, no affine by default (adaLN blocks)."""

    def __init__(self, dim: int, eps: float = 1e-6, elementwise_affine: bool = False) -> None:
        super().__init__(dim, eps=eps, elementwise_affine=elementwise_affine)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(x.float()).type_as(x)


def rope_params(max_len: int, dim: int, theta: float = 10000.0) -> torch.Tensor:
    """Complex rotations [max_len, dim/2] for one axis."""
    freqs = torch.outer(torch.arange(max_len), 1.0 / theta ** (torch.arange(0, dim, 2).float() / dim))
    return torch.polar(torch.ones_like(freqs), freqs)


def rope_freqs(head_dim: int, max_len: int = 1024) -> torch.Tensor:
    """Wan's split of the head dim over (t, h, w): t gets d - 4*(d//6), h and w 2*(d//6) each."""
    d = head_dim
    return torch.cat(
        [
            rope_params(max_len, d - 4 * (d // 6)),
            rope_params(max_len, 2 * (d // 6)),
            rope_params(max_len, 2 * (d // 6)),
        ],
        dim=1,
    )


def rope_grid(freqs: torch.Tensor, grid: tuple[int, int, int]) -> torch.Tensor:
    """Per-token rotations [f*h*w, 1, d/2] for a (f, h, w) token grid."""
    f, h, w = grid
    c = freqs.shape[1]
    ft, fh, fw = freqs.split([c - 2 * (c // 3), c // 3, c // 3], dim=1)
    return torch.cat(
        [
            ft[:f].view(f, 1, 1, -1).expand(f, h, w, -1),
            fh[:h].view(1, h, 1, -1).expand(f, h, w, -1),
            fw[:w].view(1, 1, w, -1).expand(f, h, w, -1),
        ],
        dim=-1,
    ).reshape(f * h * w, 1, -1)


def rope_apply(x: torch.Tensor, rot: torch.Tensor) -> torch.Tensor:
    """Rotate x [B, L, n, d] by rot [L, 1, d/2] (float32 math, as released)."""
    b, s, n, d = x.shape
    xc = torch.view_as_complex(x.float().reshape(b, s, n, d // 2, 2))
    return torch.view_as_real(xc * rot.unsqueeze(0)).flatten(3).type_as(x)


def attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """q [B, Lq, n, d], k/v [B, Lk, n, d] -> [B, Lq, n*d] through SDPA (flash on CUDA bf16)."""
    out = F.scaled_dot_product_attention(q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2))
    return out.transpose(1, 2).flatten(2)


class WanSelfAttention(nn.Module):
    """Full 3D self-attention over video (+ reference) tokens with RoPE."""

    def __init__(
        self, dim: int, num_heads: int, qk_norm: bool = True, eps: float = 1e-6, kv_dim: int | None = None
    ):
        super().__init__()
        kv_dim = kv_dim or dim
        self.num_heads = num_heads
        self.head_dim = dim // num_heads
        self.q = nn.Linear(dim, dim)
        self.k = nn.Linear(kv_dim, dim)
        self.v = nn.Linear(kv_dim, dim)
        self.o = nn.Linear(dim, dim)
        self.norm_q = WanRMSNorm(dim, eps=eps) if qk_norm else nn.Identity()
        self.norm_k = WanRMSNorm(dim, eps=eps) if qk_norm else nn.Identity()

    def _qkv(self, x: torch.Tensor, ctx: torch.Tensor):
        b, n, d = x.shape[0], self.num_heads, self.head_dim
        q = self.norm_q(self.q(x)).view(b, -1, n, d)
        k = self.norm_k(self.k(ctx)).view(b, -1, n, d)
        v = self.v(ctx).view(b, -1, n, d)
        return q, k, v

    def forward(self, x: torch.Tensor, rot: torch.Tensor) -> torch.Tensor:
        q, k, v = self._qkv(x, x)
        return self.o(attention(rope_apply(q, rot), rope_apply(k, rot), v))


class WanCrossAttention(WanSelfAttention):
    """Text cross-attention (no RoPE); padded text positions are zeros, as released."""

    def forward(self, x: torch.Tensor, context: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        q, k, v = self._qkv(x, context)
        return self.o(attention(q, k, v))


class FrameAudioCrossAttention(WanSelfAttention):
    """Each latent frame's h*w tokens attend only to that frame's ``tokens_per_frame`` audio tokens.

    x: [B, f*h*w, dim]; audio: [B, f*tokens_per_frame, kv_dim]. Frames are folded into the batch so
    attention cannot cross frames (released ``WanT2VCrossAttentionGather``). No RoPE, no timestep.
    """

    def forward(
        self, x: torch.Tensor, audio: torch.Tensor, frames: int, tokens_per_frame: int
    ) -> torch.Tensor:  # type: ignore[override]
        b, n, d = x.shape[0], self.num_heads, self.head_dim
        q, k, v = self._qkv(x, audio)
        q = q.reshape(b * frames, -1, n, d)
        k = k.reshape(b * frames, tokens_per_frame, n, d)
        v = v.reshape(b * frames, tokens_per_frame, n, d)
        return self.o(attention(q, k, v).reshape(b, -1, n * d))
