"""Flow sampler: the released noise grid, exactness on straight paths, and UniPC accuracy on a
Gaussian whose probability-flow ODE has a closed form."""

from __future__ import annotations

import math

import pytest
import torch

from humo_data.train.sampler import FlowSampler, SamplerConfig, flow_sigmas


def test_released_grid_50_steps_shift_5():
    sigmas, timesteps = flow_sigmas(50, 5.0)
    assert len(sigmas) == 51 and len(timesteps) == 50 and sigmas[-1] == 0.0
    # s_0 = 0.999 (1 - alphas[0] of the 1000-step schedule), shifted: 5 s / (1 + 4 s)
    assert sigmas[0] == pytest.approx(5 * 0.999 / (1 + 4 * 0.999), abs=1e-7)
    s25 = 0.999 * 0.5
    assert sigmas[25] == pytest.approx(5 * s25 / (1 + 4 * s25), abs=1e-7)
    assert timesteps[0] == 999 and timesteps[25] == 833  # int(1000 * sigma), as the DiT sees them
    assert (sigmas[:-1] > sigmas[1:]).all()


@pytest.mark.parametrize("solver", ["euler", "unipc"])
def test_straight_path_is_solved_exactly(solver):
    """With the exact velocity of a single data point both solvers land on it."""
    x0 = torch.randn(2, 3, 4, generator=torch.Generator().manual_seed(0))
    noise = torch.randn(2, 3, 4, generator=torch.Generator().manual_seed(1))
    sampler = FlowSampler(SamplerConfig(solver=solver, steps=8, shift=3.0))
    out = sampler.sample(lambda x, t, i: (x - x0) / float(sampler.sigmas[i]), noise)
    assert torch.allclose(out, x0, atol=1e-4)


def _gaussian_case(steps: int, solver: str) -> float:
    """Data N(mu, s^2): v(x, sigma) = (x - E[x0 | x]) / sigma; the ODE is a known linear map."""
    mu, s = 1.5, 1.0  # unit-variance data, like normalised VAE latents
    sampler = FlowSampler(SamplerConfig(solver=solver, steps=steps, shift=5.0))

    def velocity(x, t, i):
        sig = float(sampler.sigmas[i])
        a = 1 - sig
        mean_x0 = mu + a * s * s / (a * a * s * s + sig * sig) * (x - a * mu)
        return (x - mean_x0) / sig

    start = torch.linspace(-2, 2, 9, dtype=torch.float64).reshape(9, 1)  # [batch, dim]
    sig0 = float(sampler.sigmas[0])
    exact = mu + s * (start - (1 - sig0) * mu) / math.sqrt((1 - sig0) ** 2 * s * s + sig0**2)
    out = sampler.sample(velocity, start).double()
    return float((out - exact).abs().max())


def test_unipc_beats_euler_and_converges():
    err_euler, err_unipc = _gaussian_case(20, "euler"), _gaussian_case(20, "unipc")
    print(f"20 steps: euler {err_euler:.2e}, unipc {err_unipc:.2e}")
    assert err_unipc < err_euler / 5  # second-order multistep vs first order
    assert _gaussian_case(50, "unipc") < _gaussian_case(20, "unipc") / 2 < err_euler


def test_deterministic_and_validated():
    noise = torch.randn(1, 4, generator=torch.Generator().manual_seed(0))
    s = FlowSampler(SamplerConfig(steps=5))
    f = lambda x, t, i: torch.sin(x) * t / 1000  # noqa: E731
    assert torch.equal(s.sample(f, noise), s.sample(f, noise))
    with pytest.raises(ValueError):
        SamplerConfig(steps=0)
    with pytest.raises(ValueError):
        SamplerConfig(solver="ddim")
