"""HuMo model (tiny preset, CPU): shapes, determinism, reference slots, loss masking, per-frame
audio locality, stage freezing, sizes of the real presets, FLOP count, config round trip."""

from __future__ import annotations

import math

import pytest
import torch

from humo_data.train.batch import TrainBatch
from humo_data.train.model import HuMo, HuMoConfig, build_humo, dit_forward_flops
from humo_data.train.model.encoders import VideoVAE
from humo_data.train.model.transformer import HuMoTransformer

torch.set_num_threads(2)
B, F, H, W = 2, 9, 64, 64  # 9 frames -> 3 latent frames of 8x8, 4x4 tokens each


@pytest.fixture(scope="module")
def model():
    m = build_humo("tiny")
    m.eval()
    return m


def make_batch(seed: int = 0, refs: int = 1) -> TrainBatch:
    g = torch.Generator().manual_seed(seed)
    return TrainBatch(
        video=torch.randint(0, 256, (B, F, H, W, 3), dtype=torch.uint8, generator=g),
        references=torch.randint(0, 256, (B, refs, H, W, 3), dtype=torch.uint8, generator=g),
        reference_valid=torch.tensor([[True] * refs, [False] * refs]),
        audio=torch.randn(B, F * 640, generator=g) * 0.1,
        has_audio=torch.tensor([True, True]),
        captions=["a man talks to the camera", ""],
        face_boxes=torch.tensor([[0.25, 0.2, 0.6, 0.7], [float("nan")] * 4]),
        clip_ids=["a", "b"],
    )


@pytest.fixture(scope="module")
def cached(model) -> TrainBatch:
    """make_batch() with every feature cached (the encoders run once for the module)."""
    batch = make_batch()
    batch.video_latents = model.encode_video(batch.video)
    batch.text_embeddings = model.encode_text(batch.captions)
    batch.audio_features = model.encode_audio(batch.audio)
    batch.extras["reference_latents"] = model.encode_references(batch.references, batch.reference_valid)
    return batch


def test_encoder_shapes(model):
    batch = make_batch()
    lat = model.encode_video(batch.video)
    assert lat.shape == (B, 16, 3, 8, 8)
    refs = model.encode_references(batch.references, batch.reference_valid)
    assert refs.shape == (B, 16, 1, 8, 8)
    assert refs[1].abs().sum() == 0 and refs[0].abs().sum() > 0  # padding slot is zeros
    text = model.encode_text(batch.captions)
    assert text.shape == (B, model.config.text_len, model.config.text_dim)
    # "" is the null text (Wan's negative prompt), zero past the prompt's tokens
    assert torch.allclose(text[1], model.encode_text([model.config.null_prompt])[0])
    n_tok = int(model.text_encoder.tokenizer(["a man talks to the camera"]).attention_mask[0].__len__())
    assert text[0, n_tok:].abs().sum() == 0 and text[0, :n_tok].abs().sum() > 0
    feats = model.encode_audio(batch.audio)
    assert feats.shape == (B, F, 5, model.config.audio_channels)


def test_training_loss_keys_determinism_and_backward(model, cached):
    batch = cached
    use = torch.tensor([True, True])
    a = model.training_loss(batch, use_audio=use, generator=torch.Generator().manual_seed(7))
    b = model.training_loss(batch, use_audio=use, generator=torch.Generator().manual_seed(7))
    c = model.training_loss(batch, use_audio=use, generator=torch.Generator().manual_seed(8))
    assert set(a) == {"loss", "loss_flow", "loss_ref_slot", "loss_mask", "mask_fallback_frac"}
    assert float(a["loss_ref_slot"]) == 0.0  # t2v: the clean reference overwrites the slot, no target
    assert torch.equal(a["loss"], b["loss"]) and not torch.equal(a["loss"], c["loss"])
    assert float(a["mask_fallback_frac"]) == 0.5  # row 1 has a NaN box
    assert torch.isfinite(a["loss"]) and float(a["loss_mask"]) > 0
    none = model.training_loss(
        batch, use_audio=torch.tensor([False, False]), generator=torch.Generator().manual_seed(7)
    )
    assert float(none["loss_mask"]) == 0.0 and float(none["mask_fallback_frac"]) == 0.0
    model.set_trainable(2)
    none["loss"].backward()
    assert model.mask_predictor.fc1.weight.grad is not None  # zero-grad path keeps DDP happy
    model.zero_grad(set_to_none=True)


def test_cached_features_match_encoding(model, cached):
    use = torch.tensor([True, False])
    direct = model.training_loss(make_batch(), use_audio=use, generator=torch.Generator().manual_seed(3))
    from_cache = model.training_loss(cached, use_audio=use, generator=torch.Generator().manual_seed(3))
    assert torch.allclose(direct["loss"], from_cache["loss"], atol=1e-5)


def test_reference_slots_t2v(model):
    noisy = torch.randn(B, 16, 4, 8, 8)
    refs = torch.randn(B, 16, 1, 8, 8)
    valid = torch.tensor([[True], [False]])
    x = model.model_input(noisy, refs, valid)
    assert torch.equal(x[:, :, :3], noisy[:, :, :3])  # video slots stay noisy
    assert torch.equal(x[0, :, 3:], refs[0])  # trailing slot: the clean reference replaces the noise
    assert x[1, :, 3:].abs().sum() == 0  # no reference: zero slot


def test_reference_slots_i2v():
    m = build_humo(HuMoConfig.preset("tiny", model_type="i2v", in_dim=36))
    noisy = torch.randn(1, 16, 4, 8, 8)
    refs = torch.randn(1, 16, 1, 8, 8)
    x = m.model_input(noisy, refs, torch.tensor([[True]]))
    assert x.shape[1] == 36
    assert torch.equal(x[:, :16], noisy)  # all slots noisy, reference goes in the condition channels
    assert torch.equal(x[:, 16:20, :3], torch.zeros(1, 4, 3, 8, 8)) and torch.equal(
        x[:, 16:20, 3:], torch.ones(1, 4, 1, 8, 8)
    )
    zero = m.zero_latents(4, 8, 8, torch.device("cpu"))
    assert torch.equal(x[:, 20:, :3], zero[:, :, :3]) and torch.equal(x[:, 20:, 3:], refs)
    null = m.model_input(noisy, refs, torch.tensor([[False]]))
    assert torch.equal(null[:, 20:], zero)  # no image: the zero-video latent in every slot
    out = m.training_loss(
        make_batch(refs=0), use_audio=torch.tensor([True, False]), generator=torch.Generator().manual_seed(0)
    )
    assert torch.isfinite(out["loss"])


def test_released_zero_video_latents_preferred_and_agree_with_the_vae(tmp_path):
    """As released, the precomputed zero-video file sliced to length is used whenever it is set,
    with or without a VAE; because the Wan VAE is causal, slicing a longer zero video's latents
    agrees with encoding the short one, so a user with both gets the same conditioning."""
    cfg = HuMoConfig.preset("tiny", model_type="i2v", in_dim=36)
    cpu = torch.device("cpu")
    vae = VideoVAE.build(cfg)  # the tiny random Wan VAE (real code path, causal like the release's)
    vae_only = HuMo(cfg, vae=vae)
    long = vae.encode(torch.zeros(1, 3, 17, 64, 64))[0]  # 5 latent frames (zero_vae_129frame has 33)
    torch.save(long, tmp_path / "zero_vae_129frame.pt")
    encoded = vae_only.zero_latents(4, 8, 8, cpu)
    both = HuMo(cfg.replace(zero_vae_path=str(tmp_path)), vae=vae)
    file_only = HuMo(cfg.replace(zero_vae_path=str(tmp_path)))
    for m in (both, file_only):
        got = m.zero_latents(4, 8, 8, cpu)
        assert torch.equal(got, long[None, :, :4])  # the file, sliced
        assert torch.allclose(got, encoded, atol=1e-5)  # ...agrees with the VAE's encoding
    # a file that differs from the VAE's encoding still wins while it fits (as released) ...
    torch.save(long + 1.0, tmp_path / "zero_vae_129frame.pt")
    both._zero_latents.clear()
    assert torch.equal(both.zero_latents(4, 8, 8, cpu), long[None, :, :4] + 1.0)
    # ... and a frame size the file lacks falls back to the VAE, or fails without one
    assert torch.allclose(both.zero_latents(2, 16, 16, cpu), vae_only.zero_latents(2, 16, 16, cpu), atol=1e-6)
    with pytest.raises(ValueError, match="no zero-video latents"):
        file_only.zero_latents(4, 16, 16, cpu)


def test_loss_ignores_reference_slots(model, cached):
    """Perturbing the prediction at the trailing reference slot leaves the loss unchanged; the
    same perturbation on a video frame changes it."""
    batch = cached
    use = torch.tensor([True, True])
    base = model.training_loss(batch, use_audio=use, generator=torch.Generator().manual_seed(5))["loss_flow"]

    def loss_with(frame: slice) -> float:
        def hook(_mod, _inp, out):
            v, feats = out
            v = v.clone()
            v[:, :, frame] += 100.0
            return v, feats

        h = model.transformer.register_forward_hook(hook)
        try:
            return float(
                model.training_loss(batch, use_audio=use, generator=torch.Generator().manual_seed(5))[
                    "loss_flow"
                ]
            )
        finally:
            h.remove()

    assert loss_with(slice(3, 4)) == pytest.approx(float(base), abs=1e-6)
    assert loss_with(slice(1, 2)) > float(base) + 1.0


def test_audio_attention_is_per_frame(model):
    """Changing the audio window of latent frame k changes the audio cross-attention output of
    frame k's tokens only (first block, before self-attention mixes frames)."""
    cfg = model.config
    tr = model.transformer
    x = torch.randn(1, 16, 4, 8, 8)
    ctx = torch.randn(1, 8, cfg.text_dim)
    audio = torch.randn(1, 4, cfg.audio_window, cfg.audio_bands, cfg.audio_channels)
    seen = []
    h = tr.blocks[0].audio_cross_attn_wrapper.audio_cross_attn.register_forward_hook(
        lambda m, i, o: seen.append(o)
    )
    try:
        with torch.no_grad():
            tr(x, torch.tensor([500.0]), ctx, audio)
            changed = audio.clone()
            changed[:, 2] += 1.0
            tr(x, torch.tensor([500.0]), ctx, changed)
    finally:
        h.remove()
    per_frame = (seen[0] - seen[1]).abs().reshape(4, -1).amax(dim=1)  # [frames]
    assert per_frame[2] > 1e-3
    assert torch.all(per_frame[[0, 1, 3]] == 0)


def test_stage_trainable_counts(model):
    cfg = model.config
    d, L = cfg.dim, cfg.num_layers
    self_attn = L * (4 * (d * d + d) + 2 * d)  # q k v o + RMSNorm q/k
    kv = cfg.audio_token_dim
    audio_attn = L * (2 * (d * d + d) + 2 * (kv * d + d) + 2 * d + 2 * d)  # q o, k v, norm_q/k, affine LN
    win = cfg.audio_window * cfg.audio_bands * cfg.audio_channels
    mid, tok = cfg.audio_intermediate_dim, cfg.audio_token_num
    proj = (win * mid + mid) + (mid * mid + mid) + (mid * tok * kv + tok * kv) + 2 * kv
    mask = 2 * d + (d * cfg.mask_hidden + cfg.mask_hidden) + (cfg.mask_hidden * 4 + 4)
    total = sum(p.numel() for p in model.parameters())
    s1 = model.set_trainable(1)
    print(f"stage 1: {s1}")
    assert s1 == {"trainable": self_attn, "frozen": total - self_attn}
    names = [n for n, p in model.named_parameters() if p.requires_grad]
    assert names and all(".self_attn." in n for n in names)
    s2 = model.set_trainable(2)
    print(f"stage 2: {s2}")
    assert s2["trainable"] == self_attn + audio_attn + proj + mask
    assert not any(
        p.requires_grad
        for n, p in model.named_parameters()
        if n.startswith(("vae.", "text_encoder.", "audio_encoder."))
    )
    with pytest.raises(ValueError):
        model.set_trainable(3)


def test_gradient_checkpointing_same_loss_and_grads():
    torch.manual_seed(0)
    plain = build_humo("tiny", with_encoders=False)
    ckpt = build_humo(HuMoConfig.preset("tiny", gradient_checkpointing=True), with_encoders=False)
    ckpt.load_state_dict(plain.state_dict())
    batch = make_batch()
    g = torch.Generator()
    batch.video_latents = torch.randn(B, 16, 3, 8, 8, generator=g.manual_seed(1))
    batch.text_embeddings = torch.randn(B, 5, 32, generator=g)
    batch.audio_features = torch.randn(B, F, 5, 32, generator=g)
    batch.extras["reference_latents"] = torch.randn(B, 16, 1, 8, 8, generator=g)
    grads = []
    for m in (plain, ckpt):
        m.set_trainable(2)
        out = m.training_loss(
            batch, use_audio=torch.tensor([True, False]), generator=torch.Generator().manual_seed(2)
        )
        out["loss"].backward()
        grads.append(m.transformer.blocks[0].self_attn.q.weight.grad.clone())
    assert torch.allclose(grads[0], grads[1], atol=1e-6)


def test_bf16_autocast_runs(model, cached):
    batch = cached
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = model.training_loss(
            batch, use_audio=torch.tensor([True, True]), generator=torch.Generator().manual_seed(0)
        )
    assert torch.isfinite(out["loss"])


@pytest.mark.parametrize(("preset", "billions"), [("humo-1.7b", 1.74), ("humo-17b", 17.06)])
def test_real_preset_sizes(preset, billions):
    """Module shapes of the real presets give the released model sizes (1.7B, 17B), on meta."""
    with torch.device("meta"):
        t = HuMoTransformer(HuMoConfig.preset(preset))
    n = sum(p.numel() for p in t.parameters())
    print(f"{preset}: {n / 1e9:.3f}B DiT parameters")
    assert n / 1e9 == pytest.approx(billions, abs=0.01)


def test_flops_match_flop_counter(model):
    from torch.nn.attention import SDPBackend, sdpa_kernel
    from torch.utils.flop_counter import FlopCounterMode

    cfg = model.config
    x, t = torch.randn(1, 16, 4, 8, 12), torch.tensor([500.0])
    ctx, audio = torch.randn(1, 5, cfg.text_dim), torch.randn(1, 4, 8, 5, cfg.audio_channels)
    with sdpa_kernel(SDPBackend.MATH), FlopCounterMode(display=False) as fc, torch.no_grad():
        model.transformer(x, t, ctx, audio)
    assert fc.get_total_flops() == dit_forward_flops(cfg, 4, 4, 6)
    assert model.num_tokens(97, 480, 832) == 26 * 30 * 52
    assert model.flops_per_sample(97, 480, 832) == 3 * dit_forward_flops(cfg, 26, 30, 52)
    big = dit_forward_flops(HuMoConfig.preset("humo-1.7b"), 26, 30, 52) * 3
    print(f"humo-1.7b 480x832x97 fwd+bwd: {big / 1e15:.3f} PFLOP per sample")
    assert 1.0e15 < big < 1.5e15
    with pytest.raises(ValueError):
        model.num_tokens(96, 480, 832)


def test_config_json_round_trip():
    for name in ("tiny", "humo-1.7b", "humo-17b"):
        cfg = HuMoConfig.preset(name)
        assert HuMoConfig.from_json(cfg.to_json()) == cfg
    with pytest.raises(ValueError):
        HuMoConfig.preset("tiny", model_type="i2v")  # i2v needs in_dim 36
    with pytest.raises(ValueError):
        HuMoConfig.from_dict({"dim": 64, "nope": 1})
    assert math.prod(HuMoConfig.preset("humo-17b").patch_size) == 4
    with pytest.raises(ValueError, match="needs real encoders"):
        build_humo("humo-1.7b")  # never a random umT5-xxl / Whisper-large


def test_encoders_load_from_local_paths(tmp_path, model):
    """Real-component code path: VAE (diffusers folder), umT5 + tokenizer (transformers folders) and
    Whisper (transformers folder) load from disk and reproduce the saved modules' outputs."""
    from transformers import WhisperConfig, WhisperFeatureExtractor, WhisperModel

    model.vae.model.save_pretrained(tmp_path / "vae")
    model.text_encoder.model.save_pretrained(tmp_path / "text_encoder")
    model.text_encoder.tokenizer.save_pretrained(tmp_path / "tokenizer")
    cfg = model.config
    wconf = WhisperConfig(d_model=cfg.audio_channels, encoder_layers=4, encoder_attention_heads=2, encoder_ffn_dim=64,
                          decoder_layers=1, decoder_attention_heads=2, decoder_ffn_dim=64, num_mel_bins=16,
                          max_source_positions=1500)  # fmt: skip
    torch.manual_seed(3)
    whisper = WhisperModel(wconf).eval()
    whisper.save_pretrained(tmp_path / "whisper")
    WhisperFeatureExtractor(feature_size=16).save_pretrained(tmp_path / "whisper")
    real = build_humo(
        cfg.replace(
            vae_path=str(tmp_path),
            text_encoder_path=str(tmp_path),
            audio_encoder_path=str(tmp_path / "whisper"),
        )
    )
    batch = make_batch()
    assert torch.allclose(real.encode_video(batch.video), model.encode_video(batch.video), atol=1e-5)
    assert torch.equal(real.encode_text(batch.captions), model.encode_text(batch.captions))
    feats = real.encode_audio(batch.audio[:1])
    assert feats.shape == (1, F, 5, cfg.audio_channels)  # 30 s Whisper window, 33 -> 5 band grouping scaled
    with torch.no_grad():
        from transformers import WhisperFeatureExtractor as FE

        mel = FE(feature_size=16)(
            batch.audio[0].numpy(), sampling_rate=16000, return_tensors="pt"
        ).input_features
        hidden = whisper.encoder(mel, output_hidden_states=True).hidden_states  # 5 states for 4 layers
    last = torch.nn.functional.interpolate(
        hidden[4][:, : 2 * F].transpose(1, 2), size=F, mode="linear", align_corners=True
    )
    assert torch.allclose(feats[0, :, 4], last[0].T, atol=1e-5)  # band 5 = last layer alone


def test_train_mode_keeps_encoders_in_eval(model):
    model.train()
    try:
        assert model.transformer.training and model.mask_predictor.training
        assert not any(m.training for m in (model.vae, model.text_encoder.model, model.audio_encoder.model))
    finally:
        model.eval()


@pytest.mark.parametrize("stage", [1, 2])
def test_tiny_learns_under_stage_freezing(cached, stage):
    """Gradients reach the stage's trainable set: the flow loss on a fixed batch falls."""
    torch.manual_seed(0)
    m = build_humo("tiny", with_encoders=False)
    m.set_trainable(stage)
    m.train()
    opt = torch.optim.AdamW(m.trainable_parameters(), lr=3e-3)
    hist = []
    for i in range(60):
        out = m.training_loss(
            cached, use_audio=torch.tensor([True, True]), generator=torch.Generator().manual_seed(i % 4)
        )
        out["loss"].backward()
        opt.step()
        opt.zero_grad()
        hist.append(float(out["loss_flow"]))
    first, last = sum(hist[:4]) / 4, sum(hist[-4:]) / 4
    print(f"stage {stage}: flow loss {first:.3f} -> {last:.3f}")
    assert last < 0.75 * first
