"""HuMo model configuration: one frozen dataclass, saved as JSON beside the weights.

Presets follow DESIGN.md section 5 (checked against Phantom-video/HuMo's released configs):
``humo-1.7b`` is the Wan2.1-1.3B T2V shape, ``humo-17b`` the Wan2.1-14B I2V shape and ``tiny`` a
randomly initialised miniature (tiny VAE, umT5 and Whisper encoders too) that runs on a CPU.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from typing import Any, Literal

# Wan2.1's default negative prompt; HuMo's released configs use it as the null text
# (``generation.sample_neg_prompt``). The trainer uses it for captions dropped by text dropout.
WAN_NEGATIVE_PROMPT = (
    "色调艳丽，过曝，静态，细节模糊不清，字幕，风格，作品，画作，画面，静止，整体发灰，最差质量，低质量，"
    "JPEG压缩残留，丑陋的，残缺的，多余的手指，画得不好的手部，画得不好的脸部，畸形的，毁容的，形态畸形的肢体，"
    "手指融合，静止不动的画面，杂乱的背景，三条腿，背景人很多，倒着走"
)


@dataclass(frozen=True)
class HuMoConfig:
    """Every architectural and objective choice of one HuMo model.

    Transformer (Wan2.1 DiT; names follow the released ``WanModel``):
        name: preset name, for logs ("custom" when edited).
        model_type: "t2v" (1.7B: reference latents replace the trailing noisy frames) or
            "i2v" (17B: reference goes into the conditioning channels, ``in_dim`` = 16 + 4 + 16).
        dim / ffn_dim / num_heads / num_layers: width, FFN width, heads, blocks.
        in_dim / out_dim: latent channels in (16 t2v, 36 i2v) and out (16).
        patch_size: (t, h, w) patch of the latent video, (1, 2, 2) in Wan2.1.
        text_dim / text_len: text-encoder width (umT5-xxl 4096) and padded text length (512).
        freq_dim: sinusoidal timestep embedding size (256).
        qk_norm / cross_attn_norm / eps: RMSNorm on q/k, affine LayerNorm before text
            cross-attention, norm epsilon.
    Audio (HuMo):
        audio_channels: Whisper hidden size (1280 for large-v3).
        audio_bands: band features per 25 fps frame (5: four 8-layer averages + last layer).
        audio_window: audio frames per latent frame (8: its 4 plus 2 either side).
        audio_intermediate_dim: hidden width of the shared projection MLP (512).
        audio_token_num: tokens per latent frame (16).
        audio_token_dim: audio token width. The release uses 1536 for both sizes (the audio
            cross-attention projects 1536 -> model width), which is the model width for 1.7B.
    Focus-by-predicting (paper; not in the release):
        mask_blocks: the mask predictor reads the audio cross-attention outputs of these last blocks.
        mask_hidden: hidden width of the mask predictor head.
        mask_loss_weight: weight of the size-aware BCE in the total loss.
    Objective:
        num_train_timesteps: t scale of the rectified flow (1000, as in the release).
        timestep_loc / timestep_scale: logit-normal timestep sampling (0, 1).
        timestep_shift: optional shift of training timesteps (1.0 = none, as released config).
    Encoders (frozen; real ones load from local paths, tiny ones are random):
        vae_path: diffusers ``AutoencoderKLWan`` folder or Wan2.1_VAE.pth; None = random VAE
            with ``vae_base_dim`` / ``vae_dim_mult`` / ``vae_num_res_blocks``.
        text_encoder_path / tokenizer_path: umT5 (transformers folder or Wan's .pth) and its
            tokenizer folder; None = random ``UMT5EncoderModel`` of ``text_layers`` x
            ``text_d_model`` with a small offline tokenizer built by ``tokenizers``.
        audio_encoder_path: Whisper folder (whisper-large-v3); None = random ``WhisperConfig``
            encoder of ``whisper_layers`` x ``audio_channels`` with ``whisper_mels`` mel bins and
            ``whisper_chunk_seconds`` windows (Whisper: 30 s; the tiny encoder uses 5 s for speed).
        zero_vae_path: the release's zero-video latents (zero_vae_129frame.pt, zero_vae_720p_161frame.pt
            or a folder of them) for i2v (17B) conditioning; preferred over encoding with the VAE,
            as released (``weights_dir`` fills it).
        null_prompt: text used for "" captions (Wan's negative prompt, as released).
        zero_init_head: zero the output head at init (Wan's init, for full training). The tiny
            preset keeps a random head: it trains from scratch with stage freezing, and a frozen
            zero head would pass no gradient to the self-attention it trains.
    Runtime:
        gradient_checkpointing: recompute each block in backward (for 480x832x97 on one GPU).
        attention: "sdpa" (torch scaled_dot_product_attention, flash/mem-efficient on CUDA).
    """

    name: str = "custom"
    model_type: Literal["t2v", "i2v"] = "t2v"
    dim: int = 1536
    ffn_dim: int = 8960
    num_heads: int = 12
    num_layers: int = 30
    in_dim: int = 16
    out_dim: int = 16
    z_dim: int = 16
    patch_size: tuple[int, int, int] = (1, 2, 2)
    text_dim: int = 4096
    text_len: int = 512
    freq_dim: int = 256
    qk_norm: bool = True
    cross_attn_norm: bool = True
    eps: float = 1e-6
    audio_channels: int = 1280
    audio_bands: int = 5
    audio_window: int = 8
    audio_intermediate_dim: int = 512
    audio_token_num: int = 16
    audio_token_dim: int = 1536
    mask_blocks: int = 4
    mask_hidden: int = 256
    mask_loss_weight: float = 0.1
    num_train_timesteps: int = 1000
    timestep_loc: float = 0.0
    timestep_scale: float = 1.0
    timestep_shift: float = 1.0
    vae_stride: tuple[int, int, int] = (4, 8, 8)
    vae_path: str | None = None
    vae_base_dim: int = 96
    vae_dim_mult: tuple[int, ...] = (1, 2, 4, 4)
    vae_num_res_blocks: int = 2
    text_encoder_path: str | None = None
    tokenizer_path: str | None = None
    text_d_model: int = 4096
    text_layers: int = 24
    text_heads: int = 64
    text_d_ff: int = 10240
    text_vocab: int = 256384
    audio_encoder_path: str | None = None
    whisper_layers: int = 32
    whisper_heads: int = 20
    whisper_mels: int = 128
    whisper_chunk_seconds: int = 30
    zero_vae_path: str | None = None
    null_prompt: str = WAN_NEGATIVE_PROMPT
    zero_init_head: bool = True
    gradient_checkpointing: bool = False
    attention: Literal["sdpa"] = "sdpa"
    extra: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)

    def __post_init__(self) -> None:
        if self.dim % self.num_heads or (self.dim // self.num_heads) % 2:
            raise ValueError(f"dim {self.dim} must split into {self.num_heads} heads of even size")
        want_in = self.z_dim if self.model_type == "t2v" else 2 * self.z_dim + 4
        if self.in_dim != want_in:
            raise ValueError(f"model_type {self.model_type!r} needs in_dim={want_in}, got {self.in_dim}")
        if self.mask_blocks > self.num_layers:
            raise ValueError(f"mask_blocks={self.mask_blocks} > num_layers={self.num_layers}")

    @property
    def head_dim(self) -> int:
        return self.dim // self.num_heads

    @property
    def is_i2v(self) -> bool:
        return self.model_type == "i2v"

    def replace(self, **changes: Any) -> HuMoConfig:
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in dataclasses.asdict(self).items()}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, ensure_ascii=False)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> HuMoConfig:
        names = {f.name: f for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - set(names))
        if unknown:
            raise ValueError(f"unknown HuMoConfig keys: {unknown}")
        fixed = {k: (tuple(v) if isinstance(v, list) and k != "extra" else v) for k, v in data.items()}
        return cls(**fixed)

    @classmethod
    def from_json(cls, text: str) -> HuMoConfig:
        return cls.from_dict(json.loads(text))

    @classmethod
    def preset(cls, name: str, **overrides: Any) -> HuMoConfig:
        if name not in PRESETS:
            raise KeyError(f"unknown HuMo preset {name!r}; choose from {sorted(PRESETS)}")
        return dataclasses.replace(PRESETS[name], **overrides)


PRESETS: dict[str, HuMoConfig] = {
    # Wan2.1-T2V-1.3B shape + HuMo audio modules (configs/models/Wan_1.3B.yaml in the release).
    "humo-1.7b": HuMoConfig(
        name="humo-1.7b", model_type="t2v", dim=1536, ffn_dim=8960, num_heads=12, num_layers=30, in_dim=16
    ),
    # Wan2.1-I2V-14B shape (configs/models/Wan_14B_I2V.yaml): 16 noisy + 4 mask + 16 conditioning channels.
    "humo-17b": HuMoConfig(
        name="humo-17b", model_type="i2v", dim=5120, ffn_dim=13824, num_heads=40, num_layers=40, in_dim=36
    ),
    # CPU-sized miniature of humo-1.7b; every encoder random and tiny (seconds per step on 1 core).
    "tiny": HuMoConfig(
        name="tiny",
        model_type="t2v",
        dim=64,
        ffn_dim=128,
        num_heads=4,
        num_layers=4,
        in_dim=16,
        text_dim=32,
        text_len=32,
        freq_dim=32,
        audio_channels=32,
        audio_intermediate_dim=64,
        audio_token_num=16,
        audio_token_dim=64,
        mask_blocks=2,
        mask_hidden=32,
        vae_base_dim=8,
        vae_dim_mult=(1, 2, 2, 2),
        vae_num_res_blocks=1,
        text_d_model=32,
        text_layers=2,
        text_heads=2,
        text_d_ff=64,
        text_vocab=512,
        whisper_layers=4,
        whisper_heads=2,
        whisper_mels=16,
        whisper_chunk_seconds=5,
        zero_init_head=False,
    ),
}
