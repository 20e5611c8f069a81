"""HuMo top-level module: DiT + mask predictor + frozen encoders, training loss, conditioning.

Latent layout along time (f video latent frames, R >= 1 reference slots, DESIGN.md section 5)::

    [ v0 v1 ... v(f-1) | r0 ... r(R-1) ]      one shared timestep for all slots
      noisy video        t2v (1.7B): clean reference latents replace the noisy slots
                         i2v (17B):  noisy slots + conditioning channels [mask=1 | ref latent],
                                     video slots conditioned on a zero-video latent (mask=0)

A row without a reference still gets one slot (zeros for t2v, the zero-video latent for i2v).
Audio windows cover the f video frames; reference slots get zero windows. The flow loss covers the
f video frames; for i2v the reference slots' noisy channels are pure noise during training and
their predicted velocity is trained to zero, so at inference they stay what the sampler starts
from (``ref_slot_loss``). For t2v the clean reference overwrites the slot at every step anyway.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from humo_data.train.batch import TrainBatch
from humo_data.train.model.audio import audio_windows
from humo_data.train.model.config import HuMoConfig
from humo_data.train.model.encoders import AudioEncoder, TextEncoder, VideoVAE
from humo_data.train.model.mask import MaskPredictor, face_masks, size_aware_bce
from humo_data.train.model.transformer import HuMoTransformer

# Parameter-name patterns per training stage (HuMo paper: stage 1 updates self-attention only;
# stage 2 adds the audio cross-attention, audio projection and the mask predictor).
STAGE_PATTERNS: dict[int, tuple[str, ...]] = {
    1: (".self_attn.",),
    2: (".self_attn.", "audio_cross_attn_wrapper.", "transformer.audio_proj.", "mask_predictor."),
}


@dataclass
class Condition:
    """One conditioning of the DiT (a guidance branch): text, audio windows, references.

    context [B, L, text_dim]; audio [B, f + R, window, bands, C]; refs [B, 16, R, h, w] clean
    latents; ref_valid [B, R] (False = no image in that slot: the null reference).
    """

    context: torch.Tensor
    audio: torch.Tensor
    refs: torch.Tensor
    ref_valid: torch.Tensor

    def replace(self, **kw) -> Condition:
        return Condition(**{**self.__dict__, **kw})


def uint8_to_unit(frames: torch.Tensor) -> torch.Tensor:
    """uint8 [..., H, W, 3] -> float [-1, 1] [..., 3, H, W]."""
    return frames.float().div(127.5).sub(1.0).movedim(-1, -3)


class HuMo(nn.Module):
    """The trainable HuMo model (see module docstring for the latent layout)."""

    def __init__(
        self,
        config: HuMoConfig,
        *,
        vae: VideoVAE | None = None,
        text_encoder: TextEncoder | None = None,
        audio_encoder: AudioEncoder | None = None,
    ) -> None:
        super().__init__()
        self.config = config
        self.transformer = HuMoTransformer(config)
        self.mask_predictor = MaskPredictor(config.dim, config.mask_hidden, tuple(config.patch_size[1:]))
        self.vae = vae
        self.text_encoder = text_encoder
        self.audio_encoder = audio_encoder
        self._zero_latents: dict[tuple, torch.Tensor] = {}
        self._null_text: torch.Tensor | None = None

    # ------------------------------------------------------------------ training set-up

    def train(self, mode: bool = True) -> HuMo:
        """Train mode for the DiT and mask predictor; the frozen encoders stay in eval (no dropout)."""
        super().train(mode)
        for enc in (self.vae, self.text_encoder, self.audio_encoder):
            if enc is not None:
                enc.eval()
        return self

    def set_trainable(self, stage: int) -> dict[str, int]:
        """Freeze everything except the stage's parameters; encoders stay frozen always.

        Returns parameter counts {"trainable": n, "frozen": n} over the whole module.
        """
        if stage not in STAGE_PATTERNS:
            raise ValueError(f"stage must be 1 or 2, got {stage}")
        pats = STAGE_PATTERNS[stage]
        counts = {"trainable": 0, "frozen": 0}
        for name, p in self.named_parameters():
            on = name.startswith(("transformer.", "mask_predictor.")) and any(s in f".{name}" for s in pats)
            p.requires_grad_(on)
            counts["trainable" if on else "frozen"] += p.numel()
        return counts

    def trainable_parameters(self) -> list[nn.Parameter]:
        return [p for p in self.parameters() if p.requires_grad]

    # ----------------------------------------------------------------------------- encoders

    def _need(self, name: str):
        enc = getattr(self, name)
        if enc is None:
            raise RuntimeError(f"HuMo was built without {name}; pass cached features or build with encoders")
        return enc

    def encode_video(self, frames_uint8: torch.Tensor) -> torch.Tensor:
        """[B, F, H, W, 3] uint8 -> normalised VAE latents [B, 16, 1 + (F-1)/4, H/8, W/8]."""
        vae = self._need("vae")
        x = uint8_to_unit(frames_uint8.to(vae.mean.device)).permute(0, 2, 1, 3, 4)  # [B, 3, F, H, W]
        return vae.encode(x)

    def encode_references(self, refs_uint8: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
        """[B, R, H, W, 3] uint8 -> [B, 16, R, h, w]; each image is its own 1-frame video (as
        released); padding slots (valid False) are zeros."""
        b, r, h, w, _ = refs_uint8.shape
        cfg = self.config
        if r == 0:
            return torch.zeros(
                b, cfg.z_dim, 0, h // cfg.vae_stride[1], w // cfg.vae_stride[2], device=refs_uint8.device
            )
        vae = self._need("vae")
        x = uint8_to_unit(refs_uint8.reshape(b * r, 1, h, w, 3).to(vae.mean.device)).permute(0, 2, 1, 3, 4)
        z = vae.encode(x)  # [B*R, 16, 1, h, w]
        z = z.reshape(b, r, *z.shape[1:]).squeeze(3).permute(0, 2, 1, 3, 4)  # [B, 16, R, h, w]
        return z * valid.to(z.device, z.dtype)[:, None, :, None, None]

    def encode_text(self, captions: list[str]) -> torch.Tensor:
        """Captions -> [B, text_len, text_dim]; "" means the null text (Wan's negative prompt)."""
        enc = self._need("text_encoder")
        prompts = [c if c.strip() else self.config.null_prompt for c in captions]
        return enc.encode(prompts)

    def null_text(self, batch_size: int) -> torch.Tensor:
        if self._null_text is None:
            self._null_text = self.encode_text([""])
        return self._null_text.expand(batch_size, -1, -1)

    def encode_audio(self, wave_16k: torch.Tensor) -> torch.Tensor:
        """[B, S] float 16 kHz -> Whisper band features [B, S // 640, 5, C] at 25 fps."""
        return self._need("audio_encoder").encode(wave_16k)

    def zero_latents(self, slots: int, h: int, w: int, device: torch.device) -> torch.Tensor:
        """Latents of an all-zero (mid-grey) video covering ``slots`` latent frames [1, 16, slots, h, w].

        As released, the precomputed file (``zero_vae_path``: zero_vae_129frame.pt for 480p,
        zero_vae_720p_161frame.pt for 720p) sliced to length is used whenever it is set and has
        this frame size, with or without a VAE; only without one does the VAE encode a zero video.
        The Wan VAE is causal, so the first n latents of a longer zero video equal the encoding of
        the shorter one (tests check that file and VAE agree).
        """
        key = (slots, h, w, str(device))
        if key not in self._zero_latents:
            cfg = self.config
            z = None
            if cfg.zero_vae_path is not None:
                z = _released_zero_latents(cfg.zero_vae_path, slots, h, w, required=self.vae is None)
            if z is None:
                frames = 1 + cfg.vae_stride[0] * (slots - 1)
                pix = torch.zeros(1, 3, frames, h * cfg.vae_stride[1], w * cfg.vae_stride[2], device=device)
                z = self._need("vae").encode(pix)
            self._zero_latents[key] = z.to(device)
        return self._zero_latents[key]

    # ------------------------------------------------------------------------- the DiT call

    def model_input(self, noisy: torch.Tensor, refs: torch.Tensor, ref_valid: torch.Tensor) -> torch.Tensor:
        """noisy [B, 16, f + R, h, w] + clean refs [B, 16, R, h, w] -> DiT input [B, in_dim, f + R, h, w]."""
        r = refs.shape[2]
        f = noisy.shape[2] - r
        valid = ref_valid.to(noisy.device)[:, None, :, None, None]
        if not self.config.is_i2v:
            slots = torch.where(valid, refs.to(noisy.dtype), torch.zeros_like(refs, dtype=noisy.dtype))
            return torch.cat([noisy[:, :, :f], slots], dim=2)
        b, _, n, h, w = noisy.shape
        zero = self.zero_latents(n, h, w, noisy.device).to(noisy.dtype).expand(b, -1, -1, -1, -1)
        slots = torch.where(valid, refs.to(noisy.dtype), zero[:, :, f:])
        mask = torch.zeros(b, 4, n, h, w, device=noisy.device, dtype=noisy.dtype)
        mask[:, :, f:] = 1.0  # as released: the mask marks the reference slots in every branch
        cond = torch.cat([zero[:, :, :f], slots], dim=2)
        return torch.cat([noisy, mask, cond], dim=1)

    def velocity(
        self, noisy: torch.Tensor, t: torch.Tensor, cond: Condition, *, return_audio_features: bool = False
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Predicted flow velocity (noise - x0) for all f + R slots; t in [0, 1000]."""
        x = self.model_input(noisy, cond.refs, cond.ref_valid)
        return self.transformer(x, t, cond.context, cond.audio, return_audio_features=return_audio_features)

    def audio_condition(
        self, features: torch.Tensor | None, video_latent_frames: int, ref_slots: int, batch: int, device
    ) -> torch.Tensor:
        """Band features [B, F, 5, C] (None = null audio) -> windows [B, f + R, 8, 5, C]."""
        cfg = self.config
        shape = (
            batch,
            video_latent_frames + ref_slots,
            cfg.audio_window,
            cfg.audio_bands,
            cfg.audio_channels,
        )
        if features is None:
            return torch.zeros(shape, device=device)
        win = audio_windows(features.to(device).float(), video_latent_frames, cfg.audio_window)
        return torch.cat([win, win.new_zeros(batch, ref_slots, *shape[2:])], dim=1)

    # ----------------------------------------------------------------------------- training

    def sample_sigmas(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """Logit-normal(loc, scale) noise levels in (0, 1), optionally shifted; drawn on the CPU."""
        cfg = self.config
        u = torch.randn(n, generator=generator) * cfg.timestep_scale + cfg.timestep_loc
        s = torch.sigmoid(u)
        k = cfg.timestep_shift
        return k * s / (1 + (k - 1) * s)

    def training_loss(
        self, batch: TrainBatch, *, use_audio: torch.Tensor, generator: torch.Generator | None = None
    ) -> dict[str, torch.Tensor]:
        """Rectified-flow loss with v = noise - x0 on the video frames, plus the mask loss on audio rows.

        Returns "loss" (= loss_flow + R/f * loss_ref_slot + mask_loss_weight * loss_mask),
        "loss_flow" (video frames), "loss_ref_slot" (i2v: reference slots' velocity against 0; 0 for
        t2v), "loss_mask" (0 when no row uses audio) and "mask_fallback_frac" (audio rows whose
        face box was NaN).
        """
        cfg = self.config
        device = self.transformer.patch_embedding.weight.device
        b = batch.batch_size

        x0 = batch.video_latents if batch.video_latents is not None else self.encode_video(batch.video)
        x0 = x0.to(device).float()
        f, h, w = x0.shape[2:]
        refs = batch.extras.get("reference_latents")
        if refs is None:
            refs = self.encode_references(batch.references, batch.reference_valid)
        refs = refs.to(device).float()
        valid = batch.reference_valid.to(device).bool()
        if refs.shape[2] == 0:  # no reference in the batch: one null slot per row
            refs = refs.new_zeros(b, cfg.z_dim, 1, h, w)
            valid = torch.zeros(b, 1, dtype=torch.bool, device=device)
        r = refs.shape[2]

        text = (
            batch.text_embeddings if batch.text_embeddings is not None else self.encode_text(batch.captions)
        )
        text = text.to(device)
        audio_rows = use_audio.to(device).bool() & batch.has_audio.to(device).bool()
        feats = None
        if bool(audio_rows.any()):
            feats = (
                batch.audio_features if batch.audio_features is not None else self.encode_audio(batch.audio)
            )
            feats = feats.to(device).float() * audio_rows[:, None, None, None]
        audio = self.audio_condition(feats, f, r, b, device)

        sigma = self.sample_sigmas(b, generator).to(device)
        full_x0 = torch.cat([x0, refs], dim=2)
        noise = torch.randn(full_x0.shape, generator=generator).to(device)
        s = sigma.view(b, 1, 1, 1, 1)
        noisy = (1 - s) * full_x0 + s * noise
        if cfg.is_i2v:  # reference slots: pure noise in, zero velocity out (see ``ref_slot_loss``)
            noisy = torch.cat([noisy[:, :, :f], noise[:, :, f:]], dim=2)
        cond = Condition(context=text, audio=audio, refs=refs, ref_valid=valid)
        v, audio_feats = self.velocity(
            noisy, sigma * cfg.num_train_timesteps, cond, return_audio_features=True
        )

        target = noise - full_x0
        loss_flow = (
            F.mse_loss(v[:, :, :f].float(), target[:, :, :f], reduction="none").mean(dim=(1, 2, 3, 4)).mean()
        )
        loss_ref = ref_slot_loss(v[:, :, f:]) if cfg.is_i2v else loss_flow.new_zeros(())

        logits = self.mask_predictor(audio_feats[:, :f])  # [B, f, h, w] at latent resolution
        masks, fallback = face_masks(batch.face_boxes.to(device).float(), logits.shape[-2], logits.shape[-1])
        n_audio = int(audio_rows.sum())
        if n_audio:
            per_row = size_aware_bce(logits, masks)
            loss_mask = (per_row * audio_rows).sum() / n_audio
            fallback_frac = (fallback & audio_rows).float().sum() / n_audio
        else:  # keep the predictor in the graph (zero gradient) so DDP sees every parameter used
            loss_mask = logits.sum() * 0.0
            fallback_frac = torch.zeros((), device=device)
        # Per element, a reference slot weighs as much as a video frame; the video term is unchanged.
        loss = loss_flow + (r / f) * loss_ref + cfg.mask_loss_weight * loss_mask
        return {
            "loss": loss,
            "loss_flow": loss_flow.detach(),
            "loss_ref_slot": loss_ref.detach(),
            "loss_mask": loss_mask.detach(),
            "mask_fallback_frac": fallback_frac,
        }

    # ------------------------------------------------------------------------------ costing

    def latent_grid(self, frames: int, height: int, width: int, ref_slots: int = 1) -> tuple[int, int, int]:
        """Token grid (f + R, h, w) of one sample after patching."""
        cfg = self.config
        if (frames - 1) % cfg.vae_stride[0]:
            raise ValueError(f"frames must be 4k+1, got {frames}")
        f = 1 + (frames - 1) // cfg.vae_stride[0] + ref_slots
        pt, ph, pw = cfg.patch_size
        return f // pt, height // cfg.vae_stride[1] // ph, width // cfg.vae_stride[2] // pw

    def num_tokens(self, frames: int, height: int, width: int, ref_slots: int = 1) -> int:
        """DiT tokens per sample: 97 x 480 x 832 with one reference -> 26 * 30 * 52 = 40560."""
        return math.prod(self.latent_grid(frames, height, width, ref_slots))

    def flops_per_sample(self, frames: int, height: int, width: int, ref_slots: int = 1) -> float:
        """Model FLOPs of one training sample (forward + backward = 3 x forward), DiT only.

        Counts matmuls (2 FLOPs per multiply-add) of every block - projections, attention scores
        and values, text and audio cross-attention, FFN - plus patch embedding, text embedding,
        audio projection and head. Encoders are excluded (features are cached for training).
        """
        return 3.0 * dit_forward_flops(self.config, *self.latent_grid(frames, height, width, ref_slots))


def ref_slot_loss(v_ref: torch.Tensor) -> torch.Tensor:
    """i2v reference slots: MSE of the predicted velocity against zero.

    At inference (the release's ``generate.py``) those slots' noisy channels start as pure noise
    and then move by whatever the DiT predicts there, in every guidance branch. Training feeds them
    pure noise (whatever the timestep) and teaches zero velocity, so the sampler leaves them at
    their start noise (Euler and UniPC both keep x when v = 0) under any guidance, since all
    branches agree: the DiT then sees at every sampling step exactly what it saw in training, and
    the reference reaches it only through the conditioning channels, identical in both.
    """
    return v_ref.float().pow(2).mean(dim=(1, 2, 3, 4)).mean()


def _released_zero_latents(path: str, slots: int, h: int, w: int, *, required: bool) -> torch.Tensor | None:
    """The release's precomputed zero-video latents (zero_vae_129frame.pt [16, 33, 60, 104],
    zero_vae_720p_161frame.pt [16, 41, 90, 160]; a file or a folder holding them) sliced to
    ``slots`` latent frames as [1, 16, slots, h, w]. None (or, if ``required``, an error) when no
    file has this frame size and length."""
    from pathlib import Path

    p = Path(path)
    files = sorted(p.glob("zero_vae*.pt")) if p.is_dir() else [p]
    for f in files:
        z = torch.load(f, map_location="cpu", weights_only=True)
        z = z[0] if z.dim() == 5 else z
        if tuple(z.shape[-2:]) == (h, w) and z.shape[1] >= slots:
            return z[None, :, :slots].float()
    if required:
        raise ValueError(f"no zero-video latents of {slots} x {h} x {w} in {path}")
    return None


def dit_forward_flops(cfg: HuMoConfig, f: int, h: int, w: int) -> float:
    """Forward matmul FLOPs of the DiT on an (f, h, w) token grid (see ``HuMo.flops_per_sample``)."""
    d, lt, a = cfg.dim, cfg.text_len, cfg.audio_token_num
    n = f * h * w
    per_block = (
        2 * 4 * n * d * d  # self-attn q k v o
        + 2 * 2 * n * n * d  # self-attn scores + values
        + 2 * 2 * n * d * d
        + 2 * 2 * lt * d * d  # text cross-attn q o, k v
        + 2 * 2 * n * lt * d  # text attention
        + 2 * 2 * n * d * d
        + 2 * 2 * f * a * cfg.audio_token_dim * d  # audio q o, k v
        + 2 * 2 * n * a * d  # audio attention (16 tokens per frame)
        + 2 * 2 * n * d * cfg.ffn_dim  # FFN
    )
    patch = 2 * n * cfg.in_dim * math.prod(cfg.patch_size) * d
    head = 2 * n * d * cfg.out_dim * math.prod(cfg.patch_size)
    text = 2 * lt * (cfg.text_dim * d + d * d)
    audio_in = cfg.audio_window * cfg.audio_bands * cfg.audio_channels
    audio = (
        2
        * f
        * (
            audio_in * cfg.audio_intermediate_dim
            + cfg.audio_intermediate_dim**2
            + cfg.audio_intermediate_dim * a * cfg.audio_token_dim
        )
    )
    time = 2 * (cfg.freq_dim * d + d * d + d * 6 * d)
    return float(cfg.num_layers * per_block + patch + head + text + audio + time)


def build_humo(
    config: HuMoConfig | str,
    *,
    device: str | torch.device = "cpu",
    dtype: torch.dtype = torch.float32,
    weights_dir: str | None = None,
    with_encoders: bool = True,
) -> HuMo:
    """Build a HuMo model; ``weights_dir`` (released HuMo / Wan2.1 / Whisper folders) fills the
    encoder paths and loads the DiT checkpoint found there, printing the key report.

    with_encoders=False skips VAE / text / audio encoders (training on cached features, benchmarks).
    Encoders are kept in float32 on CPU-only builds and in ``dtype`` otherwise.
    """
    cfg = HuMoConfig.preset(config) if isinstance(config, str) else config
    dit_ckpt = None
    if weights_dir is not None:
        from humo_data.train.weights import resolve_weights

        found = resolve_weights(weights_dir, cfg)
        cfg = cfg.replace(**{k: v for k, v in found.items() if k != "dit" and getattr(cfg, k) is None})
        dit_ckpt = found.get("dit")
    if with_encoders and cfg.dim >= 1024:  # a real preset: random umT5-xxl / Whisper-large would be absurd
        absent = [
            k for k in ("vae_path", "text_encoder_path", "audio_encoder_path") if getattr(cfg, k) is None
        ]
        if absent:
            raise ValueError(
                f"preset {cfg.name!r} needs real encoders; missing {absent}: set them (or weights_dir), "
                "or build with with_encoders=False and train on cached features"
            )
    enc = {}
    if with_encoders:
        enc = {
            "vae": VideoVAE.build(cfg),
            "text_encoder": TextEncoder.build(cfg),
            "audio_encoder": AudioEncoder.build(cfg),
        }
    model = HuMo(cfg, **enc)
    if dit_ckpt is not None:
        from humo_data.train.weights import load_released

        load_released(model, dit_ckpt)
    return model.to(device=device, dtype=dtype)
