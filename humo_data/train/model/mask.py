"""Focus-by-predicting (HuMo paper; not in the released inference code).

A small head reads the audio cross-attention outputs of the last blocks (averaged) and predicts
the face region of each latent frame; the size-aware BCE against face masks pushes the audio
path to attend to the face. Targets come from the curated main-face box of each row.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


class MaskPredictor(nn.Module):
    """[B, f, h, w, dim] token features -> face-mask logits [B, f, h*ph, w*pw] at latent resolution."""

    def __init__(self, dim: int, hidden: int, patch: tuple[int, int]) -> None:
        super().__init__()
        self.patch = patch
        self.norm = nn.LayerNorm(dim)
        self.fc1 = nn.Linear(dim, hidden)
        self.fc2 = nn.Linear(hidden, math.prod(patch))

    def forward(self, feats: torch.Tensor) -> torch.Tensor:
        b, f, h, w, _ = feats.shape
        ph, pw = self.patch
        x = self.fc2(F.gelu(self.fc1(self.norm(feats.to(self.fc1.weight.dtype)))))  # [B, f, h, w, ph*pw]
        x = x.reshape(b, f, h, w, ph, pw).permute(0, 1, 2, 4, 3, 5)
        return x.reshape(b, f, h * ph, w * pw).float()


def face_masks(boxes: torch.Tensor, height: int, width: int) -> tuple[torch.Tensor, torch.Tensor]:
    """boxes [B, 4] normalised x0, y0, x1, y1 (NaN = none) -> masks [B, height, width], fallback [B].

    A cell is inside when its centre is inside the box; a box smaller than one cell still marks
    the cell holding its centre. Rows without a box (or an empty one) get a full-frame mask and
    are flagged so the caller can report the fallback fraction.
    """
    b = boxes.shape[0]
    ys = (torch.arange(height, device=boxes.device) + 0.5) / height
    xs = (torch.arange(width, device=boxes.device) + 0.5) / width
    fallback = torch.isnan(boxes).any(dim=1)
    safe = torch.where(
        fallback[:, None], torch.tensor([0.0, 0.0, 1.0, 1.0], device=boxes.device), boxes
    ).clamp(0, 1)
    x0, y0, x1, y1 = (safe[:, i, None, None] for i in range(4))
    inside = (
        (xs[None, None] >= x0)
        & (xs[None, None] <= x1)
        & (ys[None, :, None] >= y0)
        & (ys[None, :, None] <= y1)
    )
    cy = ((y0 + y1) / 2 * height).long().clamp(0, height - 1).view(b)
    cx = ((x0 + x1) / 2 * width).long().clamp(0, width - 1).view(b)
    inside[torch.arange(b, device=boxes.device), cy, cx] = True
    return inside.float(), fallback


def size_aware_bce(logits: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
    """Per-row BCE over all frames and cells, weighted by (h*w) / sum(mask) of the row's mask.

    logits [B, f, h, w]; masks [B, h, w] (one box per clip, the same for every frame) -> [B].
    A small face therefore weighs as much as a large one.
    """
    target = masks[:, None].expand_as(logits)
    bce = F.binary_cross_entropy_with_logits(logits, target, reduction="none").mean(dim=(1, 2, 3))
    h, w = masks.shape[-2:]
    weight = (h * w) / masks.sum(dim=(1, 2)).clamp_min(1.0)
    return bce * weight
