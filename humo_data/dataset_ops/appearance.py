"""Appearance backends of the dedup signature (the motion series is always computed).

- ``phash`` (offline default): per-bin perceptual hashes + a mean-thumbnail vector; no model.
- ``open_clip``: the mean CLIP image embedding of three frames inside the content box, from local
  weights (``dedup.open_clip_weights``: a file with ``dedup.open_clip_arch``, or a folder with
  open_clip_config.json). Verification then compares embeddings instead of hashes, which survives
  stronger crops, colour grading and overlays than a 63-bit hash.

    embedder = make_embedder(cfg)          # None for phash
    row = compute_signature(video, cfg, embedder)
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from humo_data.dataset_ops.config import DedupConfig
from humo_data.media.frames import decode_frames, frames_from_clip
from humo_data.registry import Registry

EMBEDDERS: Registry[Any] = Registry("dedup appearance")
FRACTIONS = (0.25, 0.5, 0.75)


@EMBEDDERS.register("open_clip")
class OpenClipEmbedder:
    """open_clip image tower from a local path; torch/open_clip imported here only."""

    def __init__(self, cfg: DedupConfig):
        try:
            import open_clip
            import torch
        except ImportError as err:  # pragma: no cover - depends on the install
            raise ImportError(
                "dedup.backend=open_clip needs the models extra: pip install 'humo-data[models]'"
            ) from err
        path = Path(str(cfg.open_clip_weights).removeprefix("local-dir:"))
        if not path.exists():
            raise FileNotFoundError(
                f"dedup.open_clip_weights not found: {path} (weights load from local paths only)"
            )
        if path.is_dir():
            model, _, self.preprocess = open_clip.create_model_and_transforms(f"local-dir:{path}")
        else:
            model, _, self.preprocess = open_clip.create_model_and_transforms(
                cfg.open_clip_arch, pretrained=str(path)
            )
        self.model = model.eval()
        self.torch = torch
        self.name = f"open_clip:{cfg.open_clip_arch if not path.is_dir() else path.name}"

    def clip_vector(
        self, video: bytes, box: tuple[int, int, int, int], decoded_shape: tuple[int, int]
    ) -> np.ndarray | None:
        from PIL import Image

        frames = decode_frames(frames_from_clip(video, FRACTIONS, 25.0, fmt="png"))
        if not frames:
            return None
        images = []
        for f in frames:
            h, w = f.rgb.shape[:2]
            sy, sx = h / decoded_shape[0], w / decoded_shape[1]
            x0, y0, x1, y1 = box
            crop = f.rgb[
                int(y0 * sy) : max(int(y1 * sy), int(y0 * sy) + 2),
                int(x0 * sx) : max(int(x1 * sx), int(x0 * sx) + 2),
            ]
            images.append(self.preprocess(Image.fromarray(np.ascontiguousarray(crop))))
        with self.torch.inference_mode():
            emb = self.model.encode_image(self.torch.stack(images)).float()
            emb = self.torch.nn.functional.normalize(emb, dim=-1).mean(0)
            emb = self.torch.nn.functional.normalize(emb, dim=-1)
        return emb.cpu().numpy().astype(np.float32)


def make_embedder(cfg: DedupConfig) -> Any | None:
    """The configured appearance embedder (loads weights), or None for the offline phash backend."""
    if cfg.backend == "phash":
        return None
    return EMBEDDERS.get(cfg.backend)(cfg)
