"""An open_clip model loaded from local files only: image and text embeddings, L2-normalised.

Shared by the aesthetic backend (image embeddings under an MLP head) and the caption-frame
alignment stage (image vs text). Weights come from a path, never a hub:

    ClipModel("ViT-L-14", "/models/clip/open_clip_pytorch_model.bin")   # built-in arch + file
    ClipModel("ViT-L-14", "/models/clip/")  # folder with open_clip_config.json + weights

torch and open_clip are imported here, lazily, so the core install (no torch) never needs them.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from humo_data.devices import resolve_device


class ClipModel:
    def __init__(self, arch: str, weights: str, device: str = "auto"):
        try:
            import open_clip
            import torch
        except ImportError as err:  # pragma: no cover - depends on the install
            raise ImportError(
                "CLIP-based quality backends need the models extra: pip install 'humo-data[models]'"
            ) from err
        path = Path(weights[len("local-dir:") :] if weights.startswith("local-dir:") else weights)
        if not path.exists():
            raise FileNotFoundError(
                f"open_clip weights not found at {path} (weights load from local paths only)"
            )
        self.device = resolve_device(device, f"open_clip {arch}")
        if path.is_dir():  # open_clip_config.json + checkpoint: the folder names the architecture
            model, _, preprocess = open_clip.create_model_and_transforms(
                f"local-dir:{path}", device=self.device
            )
            self.tokenizer = open_clip.get_tokenizer(f"local-dir:{path}")
        else:
            model, _, preprocess = open_clip.create_model_and_transforms(
                arch, pretrained=str(path), device=self.device
            )
            self.tokenizer = open_clip.get_tokenizer(arch)
        self.model = model.eval()
        self.preprocess = preprocess
        self.torch = torch
        self.image_size = _image_size(preprocess)

    def embed_images(self, images: Sequence[np.ndarray], batch: int = 64) -> np.ndarray:
        """RGB uint8 frames -> (N, D) float32 unit vectors."""
        from PIL import Image

        out = []
        for i in range(0, len(images), batch):
            chunk = [
                self.preprocess(Image.fromarray(_shrink(im, self.image_size))) for im in images[i : i + batch]
            ]
            with self.torch.inference_mode():
                x = self.torch.stack(chunk).to(self.device)
                emb = self.model.encode_image(x).float()
                out.append(self.torch.nn.functional.normalize(emb, dim=-1).cpu().numpy())
        return np.concatenate(out) if out else np.zeros((0, 0), np.float32)

    def embed_texts(self, texts: Sequence[str]) -> np.ndarray:
        """Texts -> (N, D) float32 unit vectors (the tokenizer truncates at its context length)."""
        with self.torch.inference_mode():
            tokens = self.tokenizer(list(texts)).to(self.device)
            emb = self.model.encode_text(tokens).float()
            return self.torch.nn.functional.normalize(emb, dim=-1).cpu().numpy()


def _image_size(preprocess) -> int:
    for t in getattr(preprocess, "transforms", []):
        size = getattr(t, "size", None)
        if size:
            return int(size if isinstance(size, int) else max(size))
    return 224


def _shrink(rgb: np.ndarray, size: int) -> np.ndarray:
    """Downscale big frames with area interpolation before PIL (faster, no aliasing)."""
    import cv2

    h, w = rgb.shape[:2]
    scale = 2 * size / min(h, w)
    if scale >= 1:
        return rgb
    return cv2.resize(rgb, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=cv2.INTER_AREA)
