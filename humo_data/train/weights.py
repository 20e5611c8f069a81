"""Load released HuMo / Wan2.1 DiT checkpoints into ``HuMo`` and report every key that did not fit.

Our transformer keeps the release's module names (``humo/models/wan_modules/model_humo.py``), so
released keys map by prefix: ``blocks.0.self_attn.q.weight`` -> ``transformer.blocks.0.self_attn.q.weight``.
Also accepted: wrappers (``module.``, ``model.``, ``_orig_mod.``, ``model.diffusion_model.``), EMA
dicts, sharded safetensors with an index, and diffusers-format Wan transformers (renamed back).

The release loads with ``strict=False`` and only logs counts; here each missing, unexpected or
shape-mismatched key is printed (never silent) and returned in a ``LoadReport``.

    report = load_released(model, "weights/HuMo/HuMo-1.7B/ema.pth")
"""

from __future__ import annotations

import json
import logging
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

log = logging.getLogger(__name__)

_WRAPPERS = ("module.", "_orig_mod.", "model.diffusion_model.", "model.", "dit.", "transformer.")
# Wan2.1 I2V's CLIP image branch; HuMo-17B has no CLIP conditioning (its release drops these).
_CLIP_BRANCH = re.compile(r"^(img_emb\.|blocks\.\d+\.cross_attn\.(k_img|v_img|norm_k_img)\.)")
# Modules humo-data adds that no release has (focus-by-predicting is paper-only).
_OURS_ONLY = ("mask_predictor.",)

# diffusers WanTransformer3DModel names -> released WanModel names (inverse of diffusers'
# convert_wan_transformer_to_diffusers); applied in order to each key.
_DIFFUSERS_TO_RELEASED = [
    # diffusers' converter, run on HuMo keys, turns audio_cross_attn into audio_attn2: undo it first
    (r"audio_attn2", "audio_cross_attn"),
    (r"^condition_embedder\.time_embedder\.linear_1\.", "time_embedding.0."),
    (r"^condition_embedder\.time_embedder\.linear_2\.", "time_embedding.2."),
    (r"^condition_embedder\.text_embedder\.linear_1\.", "text_embedding.0."),
    (r"^condition_embedder\.text_embedder\.linear_2\.", "text_embedding.2."),
    (r"^condition_embedder\.time_proj\.", "time_projection.1."),
    (r"^condition_embedder\.image_embedder\.norm1\.", "img_emb.proj.0."),
    (r"^condition_embedder\.image_embedder\.ff\.net\.0\.proj\.", "img_emb.proj.1."),
    (r"^condition_embedder\.image_embedder\.ff\.net\.2\.", "img_emb.proj.3."),
    (r"^condition_embedder\.image_embedder\.norm2\.", "img_emb.proj.4."),
    (r"^scale_shift_table$", "head.modulation"),
    (r"^proj_out\.", "head.head."),
    (r"\.scale_shift_table$", ".modulation"),
    (r"\.attn1\.", ".self_attn."),
    (r"\.attn2\.", ".cross_attn."),
    (r"\.to_q\.", ".q."),
    (r"\.to_k\.", ".k."),
    (r"\.to_v\.", ".v."),
    (r"\.to_out\.0\.", ".o."),
    (r"\.add_k_proj\.", ".k_img."),
    (r"\.add_v_proj\.", ".v_img."),
    (r"\.norm_added_k\.", ".norm_k_img."),
    (r"\.ffn\.net\.0\.proj\.", ".ffn.0."),
    (r"\.ffn\.net\.2\.", ".ffn.2."),
    (r"\.norm2\.", ".norm3."),  # diffusers' norm2 is the affine pre-cross-attention norm (our norm3)
]


@dataclass
class LoadReport:
    """What a checkpoint load did. ``ok`` is True when every DiT key matched in name and shape."""

    path: str
    loaded: int = 0
    missing: list[str] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)
    mismatched: list[tuple[str, tuple[int, ...], tuple[int, ...]]] = field(default_factory=list)
    clip_branch: list[str] = field(default_factory=list)
    not_in_release: list[str] = field(default_factory=list)
    source_format: str = "released"

    @property
    def ok(self) -> bool:
        return not (self.missing or self.unexpected or self.mismatched)

    def summary(self, limit: int = 20) -> str:
        lines = [
            f"checkpoint {self.path} ({self.source_format} names): loaded {self.loaded} tensors, "
            f"{len(self.missing)} missing, {len(self.unexpected)} unexpected, {len(self.mismatched)} shape mismatches"
        ]

        def show(title: str, items: list) -> None:
            if items:
                lines.append(f"  {title} ({len(items)}):")
                lines.extend(f"    {x}" for x in items[:limit])
                if len(items) > limit:
                    lines.append(f"    ... {len(items) - limit} more")

        show("MISSING (left at their initial values)", self.missing)
        show("UNEXPECTED (in the checkpoint, not in the model; ignored)", self.unexpected)
        show("SHAPE MISMATCH (key, checkpoint, model; not loaded)", self.mismatched)
        show("ignored Wan I2V CLIP-branch keys (HuMo has no CLIP conditioning)", self.clip_branch)
        show("humo-data modules absent from any release (initialised fresh)", self.not_in_release)
        return "\n".join(lines)


def read_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """One file (.safetensors, .pth/.pt/.bin via ``torch.load(weights_only=True)``), a sharded
    ``*.safetensors.index.json``, or a folder holding one of those."""
    path = Path(path)
    if path.is_dir():
        for pattern in (
            "*.safetensors.index.json",
            "transformer/*.safetensors.index.json",
            "*.safetensors",
            "*.pth",
            "*.pt",
        ):
            hits = sorted(path.glob(pattern))
            if hits:
                if pattern.endswith(".safetensors"):
                    state: dict[str, torch.Tensor] = {}
                    for h in hits:
                        state.update(read_state_dict(h))
                    return state
                return read_state_dict(hits[0])
        raise FileNotFoundError(f"{path}: no checkpoint (*.safetensors[.index.json], *.pth) inside")
    if path.name.endswith(".index.json"):
        index = json.loads(path.read_text())
        state = {}
        for shard in sorted(set(index["weight_map"].values())):
            state.update(read_state_dict(path.parent / shard))
        return state
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        return load_file(str(path))
    obj = torch.load(str(path), map_location="cpu", weights_only=True, mmap=True)
    for key in ("state_dict", "ema", "model", "module"):
        if isinstance(obj, dict) and key in obj and isinstance(obj[key], dict):
            obj = obj[key]
    if not isinstance(obj, dict):
        raise ValueError(f"{path}: expected a state dict, got {type(obj).__name__}")
    return obj


def to_released_names(state: dict[str, torch.Tensor]) -> tuple[dict[str, torch.Tensor], str]:
    """Strip wrapper prefixes; rename diffusers-format keys. Returns (state, detected format)."""
    out = {}
    for k, v in state.items():
        changed = True
        while changed:
            changed = False
            for p in _WRAPPERS:
                if k.startswith(p) and not k.startswith("mask_predictor."):
                    k, changed = k[len(p) :], True
        out[k] = v
    if not any(k.startswith("condition_embedder.") or ".attn1." in k for k in out):
        return out, "released"
    renamed = {}
    for k, v in out.items():
        for pat, rep in _DIFFUSERS_TO_RELEASED:
            k = re.sub(pat, rep, k)
        renamed[k] = v
    return renamed, "diffusers"


def load_released(model: nn.Module, path: str | Path, *, verbose: bool = True) -> LoadReport:
    """Load a released HuMo / Wan2.1 DiT checkpoint into ``model`` (a ``HuMo``) and report.

    Tensors are cast to each parameter's dtype; shape mismatches are skipped and reported (e.g.
    Wan2.1-T2V weights into the 36-channel 17B patch embedding).
    """
    return load_state(model, read_state_dict(path), source=str(path), verbose=verbose)


def load_state(
    model: nn.Module, state: dict[str, torch.Tensor], *, source: str = "<state dict>", verbose: bool = True
) -> LoadReport:
    """``load_released`` for a state dict already in memory (any naming ``to_released_names`` knows)."""
    raw, fmt = to_released_names(state)
    report = LoadReport(path=source, source_format=fmt)
    own = {k: v for k, v in model.state_dict().items() if k.startswith(("transformer.", "mask_predictor."))}
    to_load: dict[str, torch.Tensor] = {}
    for k, v in raw.items():
        target = k if k.startswith(_OURS_ONLY) else f"transformer.{k}"
        if target not in own:
            (report.clip_branch if _CLIP_BRANCH.match(k) else report.unexpected).append(k)
        elif tuple(own[target].shape) != tuple(v.shape):
            report.mismatched.append((k, tuple(v.shape), tuple(own[target].shape)))
        else:
            to_load[target] = v.to(own[target].dtype)
    skipped = {k if k.startswith(_OURS_ONLY) else f"transformer.{k}" for k, *_ in report.mismatched}
    for k in own:
        if k in to_load or k in skipped:
            continue
        if k.startswith(_OURS_ONLY):
            report.not_in_release.append(k)
        else:
            report.missing.append(k.removeprefix("transformer."))
    model.load_state_dict(to_load, strict=False)
    report.loaded = len(to_load)
    if verbose:
        text = report.summary()
        (log.info if report.ok else log.warning)(text)
        print(text, file=sys.stderr)
    return report


_DIT_PATTERNS = {
    "humo-1.7b": ["HuMo-1.7B/ema.pth", "HuMo-1.7B/*.pth", "**/HuMo-1.7B/*.pth"],
    "humo-17b": ["HuMo-17B/*.safetensors.index.json", "**/HuMo-17B/*.safetensors.index.json"],
}
_COMMON_DIT = ["ema.pth", "*.safetensors.index.json", "diffusion_pytorch_model*.safetensors", "transformer"]


def resolve_weights(weights_dir: str | Path, cfg) -> dict[str, str]:
    """Find component paths in a released-weights folder (HuMo's README layout or diffusers layout).

    Looks for (first hit wins): the DiT checkpoint (HuMo-1.7B/ema.pth, HuMo-17B/ index, Wan2.1
    diffusion_pytorch_model*), the VAE (Wan2.1_VAE.pth or vae/), umT5 (models_t5_umt5-xxl-enc-bf16.pth
    + google/umt5-xxl tokenizer, or text_encoder/ + tokenizer/) and Whisper (whisper-large-v3/).
    """
    root = Path(weights_dir)
    if not root.exists():
        raise FileNotFoundError(f"weights_dir {root} does not exist")

    def first(patterns: list[str]) -> str | None:
        for p in patterns:
            hits = sorted(root.glob(p))
            if hits:
                return str(hits[0])
        return None

    found: dict[str, str] = {}
    dit = first(_DIT_PATTERNS.get(cfg.name, []) + _COMMON_DIT) if root.is_dir() else str(root)
    vae = first(["Wan2.1_VAE.pth", "**/Wan2.1_VAE.pth", "vae", "**/vae"])
    t5 = first(
        [
            "models_t5_umt5-xxl-enc-bf16.pth",
            "**/models_t5_umt5-xxl-enc-bf16.pth",
            "text_encoder",
            "**/text_encoder",
        ]
    )
    tok = first(["google/umt5-xxl", "**/google/umt5-xxl", "tokenizer", "**/tokenizer"])
    whisper = first(["whisper-large-v3", "**/whisper-large-v3", "audio_encoder"])
    zero_vae = first(
        ["zero_vae_129frame.pt", "**/zero_vae_129frame.pt", "zero_vae_720p_161frame.pt", "**/zero_vae_*.pt"]
    )
    for key, val in {
        "dit": dit,
        "vae_path": vae,
        "text_encoder_path": t5,
        "tokenizer_path": tok,
        "audio_encoder_path": whisper,
        "zero_vae_path": str(Path(zero_vae).parent) if zero_vae else None,
    }.items():
        if val is not None:
            found[key] = val
    print(f"weights in {root}: " + ", ".join(f"{k}={v}" for k, v in found.items()), file=sys.stderr)
    return found
