"""Exponential moving average of the trainable weights (the HuMo 1.7B release is an EMA state).

Only trainable parameters get a shadow copy (frozen ones never change, so their EMA is
themselves); ``ema_state(model)`` gives a full state dict with the shadows substituted, ready to
save beside the raw weights or to evaluate with.
"""

from __future__ import annotations

import torch
from torch import nn

from humo_data.train.config import EMAConfig


class EMA:
    def __init__(self, model: nn.Module, cfg: EMAConfig):
        self.cfg = cfg
        self.shadow: dict[str, torch.Tensor] = {
            n: p.detach().float().clone() for n, p in model.named_parameters() if p.requires_grad
        }

    @torch.no_grad()
    def update(self, model: nn.Module, step: int) -> None:
        """Call after the optimiser step that made ``step`` (1-based)."""
        if step % self.cfg.every:
            return
        decay = 0.0 if step <= self.cfg.start_step else self.cfg.decay
        params = dict(model.named_parameters())
        names = list(self.shadow)
        shadows = [self.shadow[n] for n in names]
        current = [params[n].detach().float() for n in names]
        torch._foreach_lerp_(shadows, current, 1.0 - decay)

    def state_dict(self) -> dict[str, torch.Tensor]:
        return self.shadow

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        missing = set(self.shadow) - set(state)
        if missing:
            raise KeyError(
                f"EMA state lacks {len(missing)} trainable parameter(s), e.g. {sorted(missing)[:3]}"
            )
        for n, shadow in self.shadow.items():
            shadow.copy_(_like(shadow, state[n]))

    def full_shadow(self) -> dict[str, torch.Tensor]:
        """Shadows as full CPU tensors; sharded (DTensor) shadows are all-gathered (every rank calls)."""
        return {
            n: (t.full_tensor() if hasattr(t, "full_tensor") else t).detach().cpu()
            for n, t in self.shadow.items()
        }

    def ema_state(
        self, full_state: dict[str, torch.Tensor], shadow: dict[str, torch.Tensor] | None = None
    ) -> dict[str, torch.Tensor]:
        """``full_state`` (a model state dict) with EMA values for the trainable entries."""
        shadow = shadow if shadow is not None else self.shadow
        return {k: (shadow[k].to(v.dtype).cpu() if k in shadow else v) for k, v in full_state.items()}


def _like(shadow: torch.Tensor, full: torch.Tensor) -> torch.Tensor:
    """A checkpoint's full tensor in the shadow's layout: this rank's shard when the shadow is a
    DTensor (FSDP2), else the tensor itself. Every rank holds the full tensor, so no collective."""
    if hasattr(shadow, "device_mesh"):
        from torch.distributed.tensor import distribute_tensor

        return distribute_tensor(
            full.to(shadow.dtype), shadow.device_mesh, shadow.placements, src_data_rank=None
        )
    return full
