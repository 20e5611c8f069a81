"""i2v (17B) reference slots, training against inference. The release's sampler starts those slots'
noisy channels as pure noise and moves them by the DiT's own (guided) predictions; training feeds
them pure noise at every timestep and trains their velocity to zero, so during generation they stay
the start noise at every step and in every guidance branch: the DiT's inputs there are the same in
training and inference. t2v slots are overwritten by the clean reference at every step instead."""

from __future__ import annotations

import pytest
import torch

from humo_data.train.batch import TrainBatch
from humo_data.train.generate import Case, generate_case
from humo_data.train.guidance import guidance_for
from humo_data.train.model import HuMo, HuMoConfig, build_humo
from humo_data.train.sampler import SamplerConfig

torch.set_num_threads(2)
B = 2
I2V = HuMoConfig.preset("tiny", model_type="i2v", in_dim=36)


@pytest.fixture(scope="module")
def i2v() -> HuMo:
    torch.manual_seed(0)
    return build_humo(I2V).eval()  # tiny encoders: the VAE gives the zero-video latent


def batch(ref_seed: int) -> TrainBatch:
    g = torch.Generator().manual_seed(1)
    b = TrainBatch(
        video=None, references=torch.zeros(B, 1, 64, 64, 3, dtype=torch.uint8),
        reference_valid=torch.tensor([[True], [False]]), audio=torch.zeros(B, 9 * 640),
        has_audio=torch.tensor([True, True]), captions=["a", "b"],
        face_boxes=torch.tensor([[0.2, 0.2, 0.6, 0.7]] * B), clip_ids=["a", "b"],
        video_latents=torch.randn(B, 16, 3, 8, 8, generator=g), text_embeddings=torch.randn(B, 7, 32, generator=g),
        audio_features=torch.randn(B, 9, 5, 32, generator=g),
    )  # fmt: skip
    b.extras["reference_latents"] = torch.randn(
        B, 16, 1, 8, 8, generator=torch.Generator().manual_seed(ref_seed)
    )
    return b


def dit_inputs(model: HuMo, fn) -> list[torch.Tensor]:
    """Every DiT input x [B, in_dim, f + R, h, w] seen while ``fn`` runs."""
    seen: list[torch.Tensor] = []
    h = model.transformer.register_forward_pre_hook(lambda m, a: seen.append(a[0].detach().clone()))
    try:
        fn()
    finally:
        h.remove()
    return seen


def test_training_feeds_reference_slots_pure_noise(i2v):
    """Whatever the timestep and the reference, the slot's noisy channels are the drawn noise itself
    (the sampler's start state); the video slots are noised latents as usual."""
    use = torch.tensor([True, False])
    runs = {}
    for name, model, ref_seed in (
        ("base", i2v, 5),
        ("other_ref", i2v, 6),
        ("other_sigma", HuMo(I2V.replace(timestep_loc=3.0), vae=i2v.vae).eval(), 5),
    ):
        runs[name] = dit_inputs(
            model, lambda m=model, s=ref_seed: m.training_loss(batch(s), use_audio=use, generator=torch.Generator().manual_seed(7))
        )[0]  # fmt: skip
    g = torch.Generator().manual_seed(7)
    torch.randn(B, generator=g)  # the timestep draw comes first
    noise = torch.randn(B, 16, 4, 8, 8, generator=g)
    for x in runs.values():
        assert torch.equal(x[:, :16, 3:], noise[:, :, 3:])
    assert not torch.equal(
        runs["base"][:, :16, :3], runs["other_sigma"][:, :16, :3]
    )  # video slots: sigma shows
    assert not torch.equal(
        runs["base"][:, 20:, 3:], runs["other_ref"][:, 20:, 3:]
    )  # the ref reaches cond channels


def test_reference_slot_velocity_is_trained_to_zero(i2v):
    """The i2v loss grows with the predicted velocity at the reference slot (target 0), by R/f times
    its mean square; the video term (loss_flow) does not see it."""
    use = torch.tensor([True, True])

    def run(delta: float) -> dict[str, float]:
        def hook(_m, _a, out):
            v, feats = out
            v = v.clone()
            v[:, :, 3:] = delta
            return v, feats

        h = i2v.transformer.register_forward_hook(hook)
        try:
            out = i2v.training_loss(batch(5), use_audio=use, generator=torch.Generator().manual_seed(3))
        finally:
            h.remove()
        return {k: float(v) for k, v in out.items()}

    zero, two = run(0.0), run(2.0)
    assert zero["loss_ref_slot"] == 0.0 and two["loss_ref_slot"] == pytest.approx(4.0)
    assert two["loss_flow"] == zero["loss_flow"]
    assert two["loss"] - zero["loss"] == pytest.approx(4.0 / 3, rel=1e-5)  # R / f = 1 / 3


@pytest.mark.parametrize("solver", ["unipc", "euler"])
def test_generation_keeps_reference_slots_at_the_start_noise(i2v, tmp_path, solver):
    """A DiT that has learned the target (zero velocity at reference slots; anything elsewhere) under
    the release's time-adaptive guidance and sampler: every DiT call, in every branch and step, sees
    the start noise in the reference slot's noisy channels, as training showed it."""
    from PIL import Image

    Image.new("RGB", (40, 30), (200, 120, 90)).save(tmp_path / "ref.png")

    def learned(_m, _a, out):
        v, feats = out
        v = v.clone()
        v[:, :, 3:] = 0.0
        return v, feats

    h = i2v.transformer.register_forward_hook(learned)
    try:
        calls = dit_inputs(
            i2v,
            lambda: generate_case(
                i2v,
                Case("c", "a man talks", [str(tmp_path / "ref.png")], None),
                seed=11,
                frames=9,
                height=64,
                width=64,
                sampler=SamplerConfig(steps=3, solver=solver),
                guidance=guidance_for(I2V),
            ),  # fmt: skip
        )
    finally:
        h.remove()
    start = torch.randn(1, 16, 4, 8, 8, generator=torch.Generator().manual_seed(11))
    assert len(calls) == 3 * 3  # 3 steps x 3 branches (i / null, ti, tia)
    for x in calls:
        torch.testing.assert_close(x[:, :16, 3:], start[:, :, 3:], rtol=0, atol=1e-5)
    assert not torch.equal(calls[0][:, :16, :3], calls[-1][:, :16, :3])  # the video slots do move
