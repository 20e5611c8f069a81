"""HuMo's classifier-free guidance, as released, with configurable scales and switch step.

Branch names list the conditions present: t = text, i = reference image, a = audio
(null text = Wan's negative prompt, null image = no reference, null audio = zero features).

The formula is chosen by the DiT's model type (``guidance_for``): i2v (HuMo-17B) -> time_adaptive,
t2v (HuMo-1.7B, and the t2v ``tiny``) -> cascade.

``time_adaptive`` (HuMo-17B, ``generate.py``; mode "tia")::

    t > switch_t:  eps = i    + s_t       * (ti - i)    + s_a * (tia - ti)   # image in the negative
    otherwise:     eps = null + (s_t - 2) * (ti - null) + s_a * (tia - ti)   # text + image guided

``cascade`` (HuMo-1.7B, ``generate_1_7B.py``; mode "tia")::

    eps = null + s_t * (t - null) + s_a * (ta - t) + s_i * (tia - ta)

Mode "ta" (no reference image), both formulas: eps = null + s_t * (t - null) + s_a * (ta - t).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal, NamedTuple

import torch
from pydantic import Field

from humo_data.config_base import StrictModel

if TYPE_CHECKING:
    from humo_data.train.model.config import HuMoConfig


class Branch(NamedTuple):
    text: bool
    image: bool
    audio: bool


BRANCHES: dict[str, Branch] = {
    "null": Branch(False, False, False),
    "i": Branch(False, True, False),
    "t": Branch(True, False, False),
    "ti": Branch(True, True, False),
    "ta": Branch(True, False, True),
    "tia": Branch(True, True, True),
}


class GuidanceConfig(StrictModel):
    formula: Literal["time_adaptive", "cascade"] = Field(
        ..., description="17B: time_adaptive; 1.7B: cascade."
    )
    mode: Literal["tia", "ta"] = Field(
        "tia", description="tia: text+image+audio; ta: text+audio, no reference."
    )
    scale_t: float = Field(..., description="Text guidance weight.")
    scale_a: float = Field(..., description="Audio guidance weight.")
    scale_i: float = Field(0.0, description="Image guidance weight (cascade only).")
    switch_t: float = Field(
        980.0, description="time_adaptive: above this timestep the negative carries the image."
    )
    late_text_offset: float = Field(
        -2.0, description="time_adaptive: text weight after the switch is scale_t + this."
    )


# The formula follows the model type, as released: the i2v DiT (HuMo-17B, ``generate.py``) is
# sampled time-adaptively, the t2v DiT (HuMo-1.7B, ``generate_1_7B.py``) with the cascade.
GUIDANCE_PRESETS: dict[str, GuidanceConfig] = {
    "i2v": GuidanceConfig(formula="time_adaptive", scale_t=5.0, scale_a=5.5, switch_t=980.0),
    # scripts/infer_tia_1_7B.sh passes scale_t=7.0 (its YAML default says 7.5); DESIGN.md: 7.0.
    "t2v": GuidanceConfig(formula="cascade", scale_t=7.0, scale_a=7.5, scale_i=4.0),
}


def guidance_for(model: HuMoConfig | str, **overrides) -> GuidanceConfig:
    """The guidance of a model type ("t2v" / "i2v", or a ``HuMoConfig``'s ``model_type``) with field
    overrides (e.g. scale_a=6.0, mode="ta"). Anything else is refused: a preset name or a typo must
    not silently get another model's formula."""
    model_type = model if isinstance(model, str) else model.model_type
    if model_type not in GUIDANCE_PRESETS:
        raise ValueError(
            f"no guidance for model type {model_type!r}; choose from {sorted(GUIDANCE_PRESETS)} "
            "(a HuMoConfig gives its own)"
        )
    base = GUIDANCE_PRESETS[model_type]
    return GuidanceConfig.model_validate({**base.model_dump(), **overrides}) if overrides else base


def needed_branches(cfg: GuidanceConfig, t: float) -> list[str]:
    """Branches the model must evaluate at timestep t (each one a DiT forward)."""
    if cfg.mode == "ta":
        return ["null", "t", "ta"]
    if cfg.formula == "cascade":
        return ["null", "t", "ta", "tia"]
    return ["i" if t > cfg.switch_t else "null", "ti", "tia"]


def combine(cfg: GuidanceConfig, t: float, preds: dict[str, torch.Tensor]) -> torch.Tensor:
    """Guided prediction from the branch predictions returned for ``needed_branches(cfg, t)``."""
    if cfg.mode == "ta":
        null, pt, pta = preds["null"], preds["t"], preds["ta"]
        return null + cfg.scale_t * (pt - null) + cfg.scale_a * (pta - pt)
    if cfg.formula == "cascade":
        null, pt, pta, ptia = preds["null"], preds["t"], preds["ta"], preds["tia"]
        return null + cfg.scale_t * (pt - null) + cfg.scale_a * (pta - pt) + cfg.scale_i * (ptia - pta)
    ti, tia = preds["ti"], preds["tia"]
    if t > cfg.switch_t:
        neg = preds["i"]
        return neg + cfg.scale_t * (ti - neg) + cfg.scale_a * (tia - ti)
    neg = preds["null"]
    return neg + (cfg.scale_t + cfg.late_text_offset) * (ti - neg) + cfg.scale_a * (tia - ti)
