"""Wan2.1 DiT with HuMo's audio cross-attention, in the released ``WanModel`` module tree.

Read bottom-up: block -> head -> model. Submodule names equal Phantom-video/HuMo's
``humo/models/wan_modules/model_humo.py`` (``blocks.N.self_attn.q``, ``blocks.N.audio_cross_attn_wrapper
.audio_cross_attn.k``, ``audio_proj.audio_proj_glob_1.layer`` ...), so released HuMo and Wan2.1 state
dicts load without renaming (see ``humo_data/train/weights.py``).

Shapes: x [B, C_in, F, H, W] latents where F = video latent frames + reference slots, tokens
L = F * (H/2) * (W/2); context [B, text_len, text_dim]; audio windows [B, F, 8, 5, C_audio].
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.utils.checkpoint import checkpoint

from humo_data.train.model.attention import (
    FrameAudioCrossAttention,
    WanCrossAttention,
    WanLayerNorm,
    WanSelfAttention,
    rope_freqs,
    rope_grid,
)
from humo_data.train.model.audio import AudioProjModel
from humo_data.train.model.config import HuMoConfig


def sinusoidal_embedding_1d(dim: int, position: torch.Tensor) -> torch.Tensor:
    """Wan's timestep embedding: [cos, sin] of position * 10000^(-i/half), in float64 then float32."""
    half = dim // 2
    pos = position.double()
    sinusoid = torch.outer(pos, torch.pow(10000, -torch.arange(half, device=pos.device).double().div(half)))
    return torch.cat([torch.cos(sinusoid), torch.sin(sinusoid)], dim=1).float()


class AudioCrossAttentionWrapper(nn.Module):
    """LayerNorm -> per-frame audio cross-attention -> residual (no timestep modulation)."""

    def __init__(self, dim: int, kv_dim: int, num_heads: int, qk_norm: bool, eps: float) -> None:
        super().__init__()
        self.audio_cross_attn = FrameAudioCrossAttention(dim, num_heads, qk_norm, eps, kv_dim=kv_dim)
        self.norm1_audio = WanLayerNorm(dim, eps, elementwise_affine=True)

    def forward(
        self, x: torch.Tensor, audio: torch.Tensor, frames: int, tokens: int
    ) -> tuple[torch.Tensor, torch.Tensor]:
        y = self.audio_cross_attn(self.norm1_audio(x), audio, frames, tokens)
        return x + y, y


class WanAttentionBlock(nn.Module):
    """adaLN self-attention -> text cross-attention -> audio cross-attention -> adaLN FFN."""

    def __init__(self, cfg: HuMoConfig) -> None:
        super().__init__()
        dim, eps = cfg.dim, cfg.eps
        self.norm1 = WanLayerNorm(dim, eps)
        self.self_attn = WanSelfAttention(dim, cfg.num_heads, cfg.qk_norm, eps)
        self.norm3 = WanLayerNorm(dim, eps, elementwise_affine=True) if cfg.cross_attn_norm else nn.Identity()
        self.cross_attn = WanCrossAttention(dim, cfg.num_heads, cfg.qk_norm, eps)
        self.norm2 = WanLayerNorm(dim, eps)
        self.ffn = nn.Sequential(
            nn.Linear(dim, cfg.ffn_dim), nn.GELU(approximate="tanh"), nn.Linear(cfg.ffn_dim, dim)
        )
        self.modulation = nn.Parameter(torch.randn(1, 6, dim) / dim**0.5)
        self.audio_cross_attn_wrapper = AudioCrossAttentionWrapper(
            dim, cfg.audio_token_dim, cfg.num_heads, cfg.qk_norm, eps
        )

    def forward(
        self,
        x: torch.Tensor,
        e: torch.Tensor,
        rot: torch.Tensor,
        context: torch.Tensor,
        audio: torch.Tensor,
        frames: int,
        audio_tokens: int,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """x [B, L, dim]; e [B, 6, dim] float32 -> (x float32, audio cross-attention output [B, L, dim]).

        As released (``model_humo.py``): modulation and residual adds run in float32, and the running
        stream stays float32 after the first residual add (bf16 branch output times the float32
        gate promotes), so under bf16 autocast only the attentions and the FFN run in bf16.
        """
        with torch.autocast(x.device.type, enabled=False):
            e = (self.modulation.float() + e.float()).chunk(6, dim=1)
            h = self.norm1(x).float() * (1 + e[1]) + e[0]
        y = self.self_attn(h, rot)
        x = x.float() + y.float() * e[2]
        x = x + self.cross_attn(self.norm3(x), context).float()
        x, audio_out = self.audio_cross_attn_wrapper(x, audio, frames, audio_tokens)
        h = self.norm2(x).float() * (1 + e[4]) + e[3]
        y = self.ffn(h)
        x = x + y.float() * e[5]
        return x, audio_out


class Head(nn.Module):
    """adaLN output head: tokens -> patch_t*patch_h*patch_w*out_dim values."""

    def __init__(self, dim: int, out_dim: int, patch_size: tuple[int, int, int], eps: float) -> None:
        super().__init__()
        self.norm = WanLayerNorm(dim, eps)
        self.head = nn.Linear(dim, math.prod(patch_size) * out_dim)
        self.modulation = nn.Parameter(torch.randn(1, 2, dim) / dim**0.5)

    def forward(self, x: torch.Tensor, e: torch.Tensor) -> torch.Tensor:
        with torch.autocast(x.device.type, enabled=False):
            m = (self.modulation.float() + e.unsqueeze(1)).chunk(2, dim=1)
            h = self.norm(x).float() * (1 + m[1]) + m[0]
            return self.head(h.to(self.head.weight.dtype))


class HuMoTransformer(nn.Module):
    """The HuMo DiT. ``forward`` returns the velocity (and the last blocks' audio outputs)."""

    def __init__(self, cfg: HuMoConfig) -> None:
        super().__init__()
        self.config = cfg
        self.gradient_checkpointing = cfg.gradient_checkpointing
        dim = cfg.dim
        self.patch_embedding = nn.Conv3d(cfg.in_dim, dim, kernel_size=cfg.patch_size, stride=cfg.patch_size)
        self.text_embedding = nn.Sequential(
            nn.Linear(cfg.text_dim, dim), nn.GELU(approximate="tanh"), nn.Linear(dim, dim)
        )
        self.time_embedding = nn.Sequential(nn.Linear(cfg.freq_dim, dim), nn.SiLU(), nn.Linear(dim, dim))
        self.time_projection = nn.Sequential(nn.SiLU(), nn.Linear(dim, dim * 6))
        self.blocks = nn.ModuleList([WanAttentionBlock(cfg) for _ in range(cfg.num_layers)])
        self.head = Head(dim, cfg.out_dim, cfg.patch_size, cfg.eps)
        self.audio_proj = AudioProjModel(
            seq_len=cfg.audio_window,
            blocks=cfg.audio_bands,
            channels=cfg.audio_channels,
            intermediate_dim=cfg.audio_intermediate_dim,
            output_dim=cfg.audio_token_dim,
            context_tokens=cfg.audio_token_num,
        )
        # Not a buffer: .to(dtype) must not cast the complex rotations (as released).
        self.freqs = rope_freqs(cfg.head_dim)
        self.init_weights()

    def init_weights(self) -> None:
        """Released init: xavier linears, std 0.02 for text/time embeddings, zero output head
        (unless ``zero_init_head`` is off)."""
        for m in self.modules():
            if isinstance(m, nn.Linear):
                nn.init.xavier_uniform_(m.weight)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
        nn.init.xavier_uniform_(self.patch_embedding.weight.flatten(1))
        for m in [*self.text_embedding.modules(), *self.time_embedding.modules()]:
            if isinstance(m, nn.Linear):
                nn.init.normal_(m.weight, std=0.02)
        if self.config.zero_init_head:
            nn.init.zeros_(self.head.head.weight)

    def embed_text(self, context: torch.Tensor) -> torch.Tensor:
        """Pad/cut text states [B, L, text_dim] to text_len with zeros (as released), then embed."""
        n = self.config.text_len
        if context.shape[1] < n:
            context = torch.cat(
                [context, context.new_zeros(context.shape[0], n - context.shape[1], context.shape[2])], 1
            )
        return self.text_embedding(context[:, :n])

    def forward(
        self,
        x: torch.Tensor,
        t: torch.Tensor,
        context: torch.Tensor,
        audio: torch.Tensor,
        *,
        return_audio_features: bool = False,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """x [B, in_dim, F, H, W]; t [B] in [0, num_train_timesteps]; context [B, L, text_dim];
        audio windows [B, F, window, bands, channels] (zeros = null audio).

        Returns velocity [B, out_dim, F, H, W] (float32) and, if asked, the mean of the last
        ``mask_blocks`` audio cross-attention outputs as [B, F, H/ph, W/pw, dim].
        """
        cfg = self.config
        b = x.shape[0]
        x = self.patch_embedding(x)
        grid = tuple(x.shape[2:])
        frames = grid[0]
        x = x.flatten(2).transpose(1, 2)
        if self.freqs.device != x.device:
            self.freqs = self.freqs.to(x.device)
        rot = rope_grid(self.freqs, grid)

        with torch.autocast(x.device.type, enabled=False):
            wdt = self.time_embedding[0].weight.dtype
            e = self.time_embedding(
                sinusoidal_embedding_1d(cfg.freq_dim, t.reshape(b)).to(x.device, wdt)
            ).float()
            e0 = self.time_projection(e.to(wdt)).unflatten(1, (6, cfg.dim)).float()
        ctx = self.embed_text(context)
        if audio.shape[1] != frames:
            raise ValueError(f"audio windows cover {audio.shape[1]} latent frames, video has {frames}")
        tokens = self.audio_proj(audio).flatten(1, 2)  # [B, F * audio_token_num, audio_token_dim]

        first_mask_block = cfg.num_layers - cfg.mask_blocks
        audio_sum = None
        for i, block in enumerate(self.blocks):
            args = (x, e0, rot, ctx, tokens, frames, cfg.audio_token_num)
            if self.gradient_checkpointing and torch.is_grad_enabled():
                x, a = checkpoint(block, *args, use_reentrant=False)
            else:
                x, a = block(*args)
            if return_audio_features and i >= first_mask_block:
                audio_sum = a.float() if audio_sum is None else audio_sum + a.float()

        out = self.unpatchify(self.head(x, e), grid)
        feats = None
        if audio_sum is not None:
            feats = (audio_sum / cfg.mask_blocks).reshape(b, *grid, cfg.dim)
        return out.float(), feats

    def unpatchify(self, x: torch.Tensor, grid: tuple[int, ...]) -> torch.Tensor:
        """[B, f*h*w, pt*ph*pw*C] -> [B, C, f*pt, h*ph, w*pw]."""
        f, h, w = grid
        pt, ph, pw = self.config.patch_size
        c = self.config.out_dim
        x = x.reshape(x.shape[0], f, h, w, pt, ph, pw, c)
        x = torch.einsum("bfhwpqrc->bcfphqwr", x)
        return x.reshape(x.shape[0], c, f * pt, h * ph, w * pw)
