"""Frozen encoders around HuMo's DiT: Wan VAE, umT5 text encoder, Whisper audio encoder.

Real components load from local paths (nothing is downloaded); with no path each one is a small
random model of the same class, seeded, so the ``tiny`` preset is identical in every process
(a ``features`` job and a training job agree on the tiny encoders).
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

import torch
from torch import nn

from humo_data.train.model.audio import whisper_bands
from humo_data.train.model.config import HuMoConfig

ENCODER_SEED = 1234


@contextlib.contextmanager
def seeded(seed: int = ENCODER_SEED):
    """Deterministic random init without touching the caller's RNG state."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        yield


def _freeze(m: nn.Module) -> nn.Module:
    m.eval()
    m.requires_grad_(False)
    return m


# ----------------------------------------------------------------------------------------- VAE


class VideoVAE(nn.Module):
    """diffusers ``AutoencoderKLWan`` with Wan's per-channel latent normalisation.

    encode: [B, 3, F, H, W] in [-1, 1] -> [B, 16, 1 + (F-1)/4, H/8, W/8] normalised posterior mean
    (Wan's ``WanVAE.encode``: (mu - mean) / std). decode inverts it.
    """

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = _freeze(model)
        cfg = model.config
        self.register_buffer("mean", torch.tensor(cfg.latents_mean).view(1, -1, 1, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(cfg.latents_std).view(1, -1, 1, 1, 1), persistent=False)

    @classmethod
    def build(cls, cfg: HuMoConfig) -> VideoVAE:
        from diffusers import AutoencoderKLWan

        if cfg.vae_path is None:
            with seeded():
                model = AutoencoderKLWan(
                    base_dim=cfg.vae_base_dim,
                    z_dim=cfg.z_dim,
                    dim_mult=list(cfg.vae_dim_mult),
                    num_res_blocks=cfg.vae_num_res_blocks,
                    temperal_downsample=[False, True, True],
                )
            return cls(model)
        path = Path(cfg.vae_path)
        if path.is_dir():
            sub = path / "vae" if (path / "vae" / "config.json").exists() else path
            return cls(AutoencoderKLWan.from_pretrained(sub))
        # Wan2.1_VAE.pth (original key names): convert with diffusers' own single-file mapping.
        from diffusers.loaders.single_file_utils import convert_wan_vae_to_diffusers

        state = _load_state(path)
        model = AutoencoderKLWan()
        missing, unexpected = model.load_state_dict(convert_wan_vae_to_diffusers(state), strict=False)
        if missing or unexpected:
            raise ValueError(
                f"{path}: VAE keys do not match (missing {missing[:5]}, unexpected {unexpected[:5]})"
            )
        return cls(model)

    @torch.no_grad()
    def encode(self, video: torch.Tensor) -> torch.Tensor:
        dtype = next(self.model.parameters()).dtype
        mu = self.model.encode(video.to(dtype)).latent_dist.mean.float()
        return (mu - self.mean) / self.std

    @torch.no_grad()
    def decode(self, latents: torch.Tensor) -> torch.Tensor:
        dtype = next(self.model.parameters()).dtype
        z = latents.float() * self.std + self.mean
        return self.model.decode(z.to(dtype)).sample.float().clamp(-1, 1)


# ---------------------------------------------------------------------------------------- text


def build_tiny_tokenizer(directory: str | os.PathLike, vocab_size: int = 512):
    """Train a byte-level BPE (the ``tokenizers`` library) on a fixed corpus and save it.

    Byte-level means every string, the Chinese null prompt included, tokenises without <unk>; the
    corpus is fixed, so the result is the same on every machine. Loaded back from disk like a real one.
    """
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    from humo_data.train.model.config import WAN_NEGATIVE_PROMPT

    corpus = [
        "a man with short brown hair and a beard talks to the camera in a dimly lit forest",
        "a woman speaks in front of a bookshelf, her hands move as she explains",
        "the person smiles, nods and looks slightly to the right; the background is blurred",
        "close-up of a face, natural light, subtle head motion, calm expression",
        WAN_NEGATIVE_PROMPT,
    ]
    tok = Tokenizer(models.BPE(unk_token=None))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=["<pad>", "</s>", "<unk>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(corpus * 4, trainer=trainer)
    from tokenizers.processors import TemplateProcessing

    tok.post_processor = TemplateProcessing(
        single="$A </s>", special_tokens=[("</s>", tok.token_to_id("</s>"))]
    )
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok, pad_token="<pad>", eos_token="</s>", unk_token="<unk>"
    )
    fast.save_pretrained(str(directory))
    return fast


def _wan_t5_to_hf(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Wan's ``models_t5_umt5-xxl-enc-bf16.pth`` names -> transformers ``UMT5EncoderModel`` names."""
    out: dict[str, torch.Tensor] = {}
    ren = {
        "norm1.weight": "layer.0.layer_norm.weight",
        "attn.q.weight": "layer.0.SelfAttention.q.weight",
        "attn.k.weight": "layer.0.SelfAttention.k.weight",
        "attn.v.weight": "layer.0.SelfAttention.v.weight",
        "attn.o.weight": "layer.0.SelfAttention.o.weight",
        "pos_embedding.embedding.weight": "layer.0.SelfAttention.relative_attention_bias.weight",
        "norm2.weight": "layer.1.layer_norm.weight",
        "ffn.gate.0.weight": "layer.1.DenseReluDense.wi_0.weight",
        "ffn.fc1.weight": "layer.1.DenseReluDense.wi_1.weight",
        "ffn.fc2.weight": "layer.1.DenseReluDense.wo.weight",
    }
    for k, v in state.items():
        if k == "token_embedding.weight":
            out["shared.weight"] = v
            out["encoder.embed_tokens.weight"] = v
        elif k == "norm.weight":
            out["encoder.final_layer_norm.weight"] = v
        elif k.startswith("blocks."):
            _, idx, rest = k.split(".", 2)
            out[f"encoder.block.{idx}.{ren.get(rest, rest)}"] = v
        else:
            out[k] = v
    return out


class TextEncoder(nn.Module):
    """umT5 encoder + tokenizer. ``encode`` -> [B, text_len, D], zeros past each prompt's length."""

    def __init__(
        self,
        model: nn.Module,
        tokenizer,
        text_len: int,
        tokenizer_dir: tempfile.TemporaryDirectory | None = None,
    ):
        super().__init__()
        self.model = _freeze(model)
        self.tokenizer = tokenizer
        self.text_len = text_len
        self._tmp = tokenizer_dir  # keeps a built tokenizer's folder alive

    @classmethod
    def build(cls, cfg: HuMoConfig) -> TextEncoder:
        from transformers import AutoTokenizer, UMT5Config, UMT5EncoderModel

        if cfg.text_encoder_path is None:
            tmp = tempfile.TemporaryDirectory(prefix="humo-tiny-tok-")
            build_tiny_tokenizer(tmp.name, vocab_size=cfg.text_vocab)
            tokenizer = AutoTokenizer.from_pretrained(tmp.name)
            conf = UMT5Config(
                vocab_size=len(tokenizer),
                d_model=cfg.text_d_model,
                d_kv=cfg.text_d_model // cfg.text_heads,
                d_ff=cfg.text_d_ff,
                num_layers=cfg.text_layers,
                num_heads=cfg.text_heads,
                feed_forward_proj="gated-gelu",
                dropout_rate=0.0,
                pad_token_id=tokenizer.pad_token_id,
                eos_token_id=tokenizer.eos_token_id,
            )
            with seeded():
                model = UMT5EncoderModel(conf)
            return cls(model, tokenizer, cfg.text_len, tmp)
        path = Path(cfg.text_encoder_path)
        tok_path = cfg.tokenizer_path or (path / "tokenizer" if (path / "tokenizer").exists() else path)
        tokenizer = AutoTokenizer.from_pretrained(str(tok_path))
        if path.is_dir():
            sub = path / "text_encoder" if (path / "text_encoder" / "config.json").exists() else path
            return cls(UMT5EncoderModel.from_pretrained(sub), tokenizer, cfg.text_len)
        # Wan's umT5-xxl encoder .pth: umt5-xxl shape, renamed onto transformers' module tree.
        conf = UMT5Config(
            vocab_size=256384, d_model=4096, d_kv=64, d_ff=10240, num_layers=24, num_heads=64,
            relative_attention_num_buckets=32, relative_attention_max_distance=128,
            feed_forward_proj="gated-gelu", dropout_rate=0.0,
        )  # fmt: skip
        with torch.device("meta"):
            model = UMT5EncoderModel(conf)
        missing, unexpected = model.load_state_dict(
            _wan_t5_to_hf(_load_state(path)), strict=False, assign=True
        )
        if missing or unexpected:
            raise ValueError(
                f"{path}: umT5 keys do not match (missing {missing[:5]}, unexpected {unexpected[:5]})"
            )
        return cls(model, tokenizer, cfg.text_len)

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    @torch.no_grad()
    def encode(self, prompts: list[str]) -> torch.Tensor:
        prompts = [" ".join(p.split()) for p in prompts]  # Wan's clean="whitespace"
        ids = self.tokenizer(
            prompts, padding="max_length", truncation=True, max_length=self.text_len, return_tensors="pt"
        )
        mask = ids.attention_mask.to(self.device)
        out = self.model(input_ids=ids.input_ids.to(self.device), attention_mask=mask).last_hidden_state
        return out.float() * mask[..., None]


# --------------------------------------------------------------------------------------- audio


class AudioEncoder(nn.Module):
    """Whisper encoder: 16 kHz wave -> all hidden states -> 5 bands at 25 fps ([B, F, 5, C]).

    Like the release, audio is cut into 30 s windows (Whisper's input), hidden states of all
    windows are concatenated, cut to 2 * F frames (50 Hz) and interpolated to F = samples // 640.
    """

    def __init__(self, encoder: nn.Module, feature_extractor) -> None:
        super().__init__()
        self.model = _freeze(encoder)
        self.feature_extractor = feature_extractor

    @classmethod
    def build(cls, cfg: HuMoConfig) -> AudioEncoder:
        from transformers import WhisperConfig, WhisperFeatureExtractor, WhisperModel
        from transformers.models.whisper.modeling_whisper import WhisperEncoder

        if cfg.audio_encoder_path is None:
            conf = WhisperConfig(
                d_model=cfg.audio_channels,
                encoder_layers=cfg.whisper_layers,
                encoder_attention_heads=cfg.whisper_heads,
                encoder_ffn_dim=cfg.audio_channels * 2,
                decoder_layers=1,
                decoder_attention_heads=cfg.whisper_heads,
                num_mel_bins=cfg.whisper_mels,
                max_source_positions=cfg.whisper_chunk_seconds * 50,
            )
            with seeded():
                encoder = WhisperEncoder(conf)
            fe = WhisperFeatureExtractor(
                feature_size=cfg.whisper_mels, chunk_length=cfg.whisper_chunk_seconds
            )
            return cls(encoder, fe)
        path = cfg.audio_encoder_path
        return cls(WhisperModel.from_pretrained(path).encoder, WhisperFeatureExtractor.from_pretrained(path))

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    @torch.no_grad()
    def encode(self, wave: torch.Tensor, frames: int | None = None) -> torch.Tensor:
        """wave [B, S] float 16 kHz -> [B, frames, 5, C]; frames defaults to S // 640 (25 fps)."""
        fe = self.feature_extractor
        n_samples = fe.n_samples  # one Whisper window (30 s for whisper-large-v3)
        frames = frames if frames is not None else wave.shape[1] // 640
        dtype = next(self.model.parameters()).dtype
        rows = []
        for row in wave.float().cpu().numpy():
            hidden = []
            for start in range(0, max(len(row), 1), n_samples):
                with torch.autocast("cpu", enabled=False):  # log-mel in float32 (numpy output)
                    chunk = fe(row[start : start + n_samples], sampling_rate=16000, return_tensors="np")
                feats = torch.from_numpy(chunk.input_features)
                out = self.model(feats.to(self.device, dtype), output_hidden_states=True).hidden_states
                hidden.append(torch.stack(out, dim=2).float())  # [1, 50 * chunk seconds, H, C]
            h = torch.cat(hidden, dim=1)[:, : max(2 * frames, 2)]
            rows.append(whisper_bands(h, frames))
        return torch.cat(rows, dim=0)


def _load_state(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    path = str(path)
    if path.endswith(".safetensors"):
        from safetensors.torch import load_file

        return load_file(path)
    state = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    return state.get("state_dict", state) if isinstance(state, dict) else state
