"""The contract between the trainer's data loader and its model.

The loader (humo_data/train/data/) produces ``TrainBatch``; the model
(humo_data/train/model/) consumes it. Either side may fill the optional cached fields; the
model encodes whatever is missing. Shapes use B = batch, F = video frames (4k+1, 25 fps),
R = reference images, S = audio samples at 16 kHz.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch


@dataclass
class TrainBatch:
    video: torch.Tensor | None
    """uint8 [B, F, H, W, 3] RGB frames at 25 fps, resized/cropped to the bucket (H, W)."""
    references: torch.Tensor
    """uint8 [B, R, H, W, 3] reference images fitted to (H, W), aspect kept, padded white; R may be 0."""
    reference_valid: torch.Tensor
    """bool [B, R]: False for padding slots of rows with fewer references."""
    audio: torch.Tensor
    """float32 [B, S] 16 kHz mono, S = F / 25 * 16000 samples; zeros where a row has no audio."""
    has_audio: torch.Tensor
    """bool [B]."""
    captions: list[str]
    """Length B; "" marks a caption dropped by text dropout (the model uses its null text)."""
    face_boxes: torch.Tensor
    """float32 [B, 4] main face box x0, y0, x1, y1 normalised to [0, 1] in the bucket frame;
    NaN where the row has no face box (the mask predictor then uses a full-frame mask, flagged)."""
    clip_ids: list[str]
    video_latents: torch.Tensor | None = None
    """Optional cached VAE latents [B, 16, 1 + (F - 1) / 4, H / 8, W / 8]."""
    text_embeddings: torch.Tensor | None = None
    """Optional cached text encoder states [B, L, D_text]."""
    audio_features: torch.Tensor | None = None
    """Optional cached Whisper band features [B, F, 5, D_whisper] at 25 fps."""
    extras: dict[str, object] = field(default_factory=dict)

    @property
    def batch_size(self) -> int:
        return len(self.clip_ids)

    def to(self, device: torch.device | str) -> TrainBatch:
        def move(x):
            return x.to(device) if isinstance(x, torch.Tensor) else x

        return TrainBatch(**{k: move(v) for k, v in self.__dict__.items()})
