"""Tiny randomly initialised open_clip models and aesthetic heads, saved the way real ones ship.

``tiny_open_clip(dir)`` writes ``open_clip_config.json`` + ``open_clip_model.safetensors`` (a
2-layer ViT and text tower, the package's own BPE tokenizer), loadable with ``local-dir:``;
``tiny_aesthetic_head(path, dim)`` writes LAION's MLP layout (layers.0/2/4/6/7) as a state dict.
"""

from __future__ import annotations

import json
from pathlib import Path

TINY_CLIP = {
    "embed_dim": 32,
    "vision_cfg": {"image_size": 64, "layers": 2, "width": 64, "patch_size": 16, "head_width": 32},
    "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 32, "heads": 2, "layers": 2},
}


def tiny_open_clip(folder: Path, seed: int = 0) -> Path:
    import open_clip
    import torch
    from safetensors.torch import save_file

    folder.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(seed)
    model = open_clip.CLIP(**TINY_CLIP)
    save_file(
        {k: v.contiguous() for k, v in model.state_dict().items()},
        str(folder / "open_clip_model.safetensors"),
    )
    preprocess = {"mean": [0.48145466, 0.4578275, 0.40821073], "std": [0.26862954, 0.26130258, 0.27577711]}
    (folder / "open_clip_config.json").write_text(
        json.dumps({"model_cfg": TINY_CLIP, "preprocess_cfg": preprocess})
    )
    return folder


def laion_mlp(dim: int):
    """improved-aesthetic-predictor's layer stack (dropouts between linear layers, no activation)."""
    import torch.nn as nn

    return nn.Sequential(
        nn.Linear(dim, 1024), nn.Dropout(0.2), nn.Linear(1024, 128), nn.Dropout(0.2),
        nn.Linear(128, 64), nn.Dropout(0.1), nn.Linear(64, 16), nn.Linear(16, 1),
    )  # fmt: skip


def tiny_aesthetic_head(path: Path, dim: int, seed: int = 0):
    """A random LAION-layout head saved at ``path`` (.safetensors or .pth); returns the torch module."""
    import torch

    torch.manual_seed(seed)
    mlp = laion_mlp(dim).eval()
    state = {f"layers.{k}": v for k, v in mlp.state_dict().items()}
    if path.suffix == ".safetensors":
        from safetensors.torch import save_file

        save_file({k: v.contiguous() for k, v in state.items()}, str(path))
    else:
        torch.save(state, str(path))
    return mlp
