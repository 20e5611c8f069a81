"""Flow-matching sampler with timestep shift: UniPC (as released) or Euler.

Noise levels follow HuMo's ``FlowUniPCMultistepScheduler(shift=1).set_timesteps(steps, shift=5)``:

    sigma_i = shift * s_i / (1 + (shift - 1) * s_i),  s = linspace(0.999, 0, steps + 1)[:-1],
    sigma_steps = 0,  timestep_i = int(1000 * sigma_i)   (the DiT sees the truncated integer)

The model predicts the velocity v = noise - x0, so x0 = x_t - sigma * v. UniPC (bh2, order 2,
predictor-corrector) is diffusers' ``UniPCMultistepScheduler`` in flow mode with these sigmas
placed in it; Euler is x <- x + (sigma_next - sigma) * v.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

import numpy as np
import torch
from pydantic import Field

from humo_data.config_base import StrictModel

VelocityFn = Callable[[torch.Tensor, torch.Tensor, int], torch.Tensor]
"""(x_t, timestep [1] float, step index) -> velocity like x_t."""


class SamplerConfig(StrictModel):
    solver: Literal["unipc", "euler"] = Field("unipc", description="Flow solver (HuMo release: UniPC).")
    steps: int = Field(50, ge=1, description="Denoising steps (release: 50).")
    shift: float = Field(5.0, gt=0, description="Timestep shift (release: 5.0).")
    num_train_timesteps: int = Field(1000, ge=1, description="Timestep scale of the DiT.")
    solver_order: int = Field(2, ge=1, le=3, description="UniPC order (release: 2).")


def flow_sigmas(steps: int, shift: float, num_train_timesteps: int = 1000) -> tuple[np.ndarray, np.ndarray]:
    """(sigmas [steps + 1] ending in 0, integer timesteps [steps]) exactly as released."""
    sigma_max = 1.0 - 1.0 / num_train_timesteps  # the release's sigma_max: 1 - alphas[0] = 0.999
    s = np.linspace(sigma_max, 0.0, steps + 1)[:-1]
    s = shift * s / (1 + (shift - 1) * s)
    timesteps = (s * num_train_timesteps).astype(np.int64)
    return np.concatenate([s, [0.0]]).astype(np.float32), timesteps


class FlowSampler:
    """Runs ``config.steps`` solver steps from noise; ``timesteps`` / ``sigmas`` are public for guidance."""

    def __init__(self, config: SamplerConfig | None = None) -> None:
        self.config = config or SamplerConfig()
        self.sigmas, self.timesteps = flow_sigmas(
            self.config.steps, self.config.shift, self.config.num_train_timesteps
        )

    def _unipc(self):
        from diffusers import UniPCMultistepScheduler

        c = self.config
        sched = UniPCMultistepScheduler(
            num_train_timesteps=c.num_train_timesteps,
            prediction_type="flow_prediction",
            use_flow_sigmas=True,
            flow_shift=c.shift,
            solver_order=c.solver_order,
            solver_type="bh2",
            predict_x0=True,
            lower_order_final=True,
            final_sigmas_type="zero",
        )
        sched.set_timesteps(c.steps)
        sched.sigmas = torch.from_numpy(self.sigmas.copy())  # the release's grid (see module docstring)
        sched.timesteps = torch.from_numpy(self.timesteps.copy())
        return sched

    @torch.no_grad()
    def sample(
        self, velocity: VelocityFn, noise: torch.Tensor, progress: Callable[[int, int], None] | None = None
    ) -> torch.Tensor:
        """Integrate from ``noise`` (sigma ~ 1) to x0; returns float32 latents like ``noise``."""
        x = noise.float()
        sched = self._unipc() if self.config.solver == "unipc" else None
        for i, t in enumerate(self.timesteps):
            tt = torch.tensor([float(t)], device=x.device)
            v = velocity(x, tt, i).float()
            if sched is not None:
                x = sched.step(v, int(t), x, return_dict=False)[0]
            else:
                x = x + (float(self.sigmas[i + 1]) - float(self.sigmas[i])) * v
            if progress is not None:
                progress(i + 1, len(self.timesteps))
        return x
