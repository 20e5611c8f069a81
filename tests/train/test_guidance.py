"""Guidance presets against hand-computed values on small tensors (DESIGN.md section 5)."""

from __future__ import annotations

import pytest
import torch

from humo_data.train.guidance import GUIDANCE_PRESETS, combine, guidance_for, needed_branches
from humo_data.train.model import HuMoConfig

# distinct per-branch predictions (prime-ish so every weight shows in the result)
P = {"null": 1.0, "i": 2.0, "t": 3.0, "ti": 5.0, "ta": 7.0, "tia": 11.0}


def preds(names):
    return {n: torch.full((2, 3), P[n]) for n in names}


def test_cascade_1_7b():
    cfg = GUIDANCE_PRESETS["t2v"]
    names = needed_branches(cfg, 500.0)
    assert names == ["null", "t", "ta", "tia"]
    # null + 7.0 (t - null) + 7.5 (ta - t) + 4.0 (tia - ta) = 1 + 14 + 30 + 16
    assert torch.equal(combine(cfg, 500.0, preds(names)), torch.full((2, 3), 61.0))


def test_time_adaptive_17b_before_and_after_switch():
    cfg = GUIDANCE_PRESETS["i2v"]
    early = needed_branches(cfg, 990.0)
    assert early == ["i", "ti", "tia"]  # t > 980: the negative carries the reference image
    # i + 5.0 (ti - i) + 5.5 (tia - ti) = 2 + 15 + 33
    assert torch.equal(combine(cfg, 990.0, preds(early)), torch.full((2, 3), 50.0))
    late = needed_branches(cfg, 980.0)
    assert late == ["null", "ti", "tia"]
    # null + (5.0 - 2) (ti - null) + 5.5 (tia - ti) = 1 + 12 + 33
    assert torch.equal(combine(cfg, 980.0, preds(late)), torch.full((2, 3), 46.0))


def test_ta_mode_and_overrides():
    cfg = guidance_for("i2v", mode="ta")
    names = needed_branches(cfg, 999.0)
    assert names == ["null", "t", "ta"]
    # null + 5 (t - null) + 5.5 (ta - t) = 1 + 10 + 22
    assert torch.equal(combine(cfg, 999.0, preds(names)), torch.full((2, 3), 33.0))
    custom = guidance_for("i2v", scale_t=4.0, scale_a=2.0, switch_t=500.0)
    # t = 600 > 500: i + 4 (ti - i) + 2 (tia - ti) = 2 + 12 + 12
    assert torch.equal(
        combine(custom, 600.0, preds(needed_branches(custom, 600.0))), torch.full((2, 3), 26.0)
    )
    one = guidance_for("t2v", scale_t=1.0, scale_a=0.0, scale_i=0.0)
    assert torch.equal(combine(one, 10.0, preds(needed_branches(one, 10.0))), torch.full((2, 3), 3.0))  # = t
    with pytest.raises(ValueError):
        guidance_for("t2v", mode="tiaa")


def test_formula_follows_the_model_type_and_unknown_is_refused():
    """i2v -> time-adaptive (17B), t2v -> cascade (1.7B), whatever the preset is called: an i2v
    variant of the tiny preset gets the 17B formula, and a preset name or typo is refused."""
    assert guidance_for(HuMoConfig.preset("humo-17b")) == GUIDANCE_PRESETS["i2v"]
    assert guidance_for(HuMoConfig.preset("humo-1.7b")) == GUIDANCE_PRESETS["t2v"]
    assert guidance_for(HuMoConfig.preset("tiny")).formula == "cascade"
    tiny_i2v = HuMoConfig.preset("tiny", model_type="i2v", in_dim=36)
    assert tiny_i2v.name == "tiny" and guidance_for(tiny_i2v).formula == "time_adaptive"
    assert guidance_for(tiny_i2v, scale_a=2.0).scale_a == 2.0
    for bad in ("humo-17b", "tiny", "I2V", "custom"):
        with pytest.raises(ValueError, match="no guidance for model type"):
            guidance_for(bad)
