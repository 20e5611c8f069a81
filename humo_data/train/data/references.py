"""Reference images fitted to the bucket the way HuMo's inference does it.

HuMo (generate.py, ``load_image_latent_ref_id``) resizes the image to fit inside (H, W) keeping its
aspect ratio (Lanczos), then pads it centred with white to exactly (H, W). Training must see the
same framing as inference, so the loader does the same.
"""

from __future__ import annotations

import io

import numpy as np
from PIL import Image, ImageOps


def fit_reference(image_bytes: bytes, height: int, width: int) -> np.ndarray:
    """PNG/JPEG bytes -> uint8 [H, W, 3], aspect kept, white padding. Raises on unreadable bytes."""
    with Image.open(io.BytesIO(image_bytes)) as img:
        img = ImageOps.exif_transpose(img).convert("RGB")
        if img.width / img.height > width / height:  # wider than the bucket: fit the width
            new_w, new_h = width, max(1, int(width / (img.width / img.height)))
        else:
            new_h, new_w = height, max(1, int(height * (img.width / img.height)))
        img = img.resize((new_w, new_h), Image.Resampling.LANCZOS)
        dw, dh = width - new_w, height - new_h
        img = ImageOps.expand(img, (dw // 2, dh // 2, dw - dw // 2, dh - dh // 2), fill=(255, 255, 255))
        return np.asarray(img, dtype=np.uint8).copy()
