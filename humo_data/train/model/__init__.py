"""HuMo model: Wan2.1 DiT + HuMo audio/reference conditioning, frozen encoders, presets.

from humo_data.train.model import build_humo
model = build_humo("tiny")                      # CPU, random, seconds
counts = model.set_trainable(stage=1)           # self-attention only
out = model.training_loss(batch, use_audio=batch.has_audio)
"""

from humo_data.train.model.config import PRESETS, WAN_NEGATIVE_PROMPT, HuMoConfig
from humo_data.train.model.humo import STAGE_PATTERNS, Condition, HuMo, build_humo, dit_forward_flops

__all__ = [
    "PRESETS",
    "STAGE_PATTERNS",
    "WAN_NEGATIVE_PROMPT",
    "Condition",
    "HuMo",
    "HuMoConfig",
    "build_humo",
    "dit_forward_flops",
]
