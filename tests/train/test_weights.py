"""Released-weight loading: tiny checkpoints written in Phantom-video/HuMo's key naming (and in
diffusers' Wan naming, produced by diffusers' own converter) load with an empty report; missing,
extra and mis-shaped keys are reported, never silent."""

from __future__ import annotations

import json

import pytest
import torch
from safetensors.torch import save_file

from humo_data.train.model import HuMoConfig, build_humo
from humo_data.train.model.encoders import _wan_t5_to_hf
from humo_data.train.weights import load_released, resolve_weights

torch.set_num_threads(2)


def released_keys(num_layers: int) -> list[str]:
    """Parameter names of the released ``WanModel`` (model_humo.py, insert_audio=True), by hand."""
    keys = [f"{m}.{p}" for m in ("patch_embedding", "text_embedding.0", "text_embedding.2", "time_embedding.0",
                                 "time_embedding.2", "time_projection.1", "head.head") for p in ("weight", "bias")]  # fmt: skip
    keys.append("head.modulation")
    for i in (1, 2, 3):
        keys += [f"audio_proj.audio_proj_glob_{i}.layer.weight", f"audio_proj.audio_proj_glob_{i}.layer.bias"]
    keys += ["audio_proj.audio_proj_glob_norm.layer.weight", "audio_proj.audio_proj_glob_norm.layer.bias"]
    for b in range(num_layers):
        p = f"blocks.{b}."
        for attn in ("self_attn", "cross_attn", "audio_cross_attn_wrapper.audio_cross_attn"):
            keys += [f"{p}{attn}.{x}.{w}" for x in "qkvo" for w in ("weight", "bias")]
            keys += [f"{p}{attn}.norm_q.weight", f"{p}{attn}.norm_k.weight"]
        keys += [
            f"{p}norm3.weight",
            f"{p}norm3.bias",
            f"{p}ffn.0.weight",
            f"{p}ffn.0.bias",
            f"{p}ffn.2.weight",
        ]
        keys += [f"{p}ffn.2.bias", f"{p}modulation"]
        keys += [
            f"{p}audio_cross_attn_wrapper.norm1_audio.weight",
            f"{p}audio_cross_attn_wrapper.norm1_audio.bias",
        ]
    return keys


@pytest.fixture(scope="module")
def released_state() -> dict[str, torch.Tensor]:
    """A tiny checkpoint in released naming with values unlike any fresh init."""
    donor = build_humo("tiny", with_encoders=False)
    g = torch.Generator().manual_seed(0)
    return {
        k.removeprefix("transformer."): torch.randn(v.shape, generator=g)
        for k, v in donor.state_dict().items()
        if k.startswith("transformer.")
    }


def fresh():
    return build_humo("tiny", with_encoders=False)


def assert_landed(model, state):
    own = model.state_dict()
    for k, v in state.items():
        assert torch.equal(own[f"transformer.{k}"], v), k


def test_module_names_are_the_released_ones(released_state):
    assert sorted(released_state) == sorted(released_keys(HuMoConfig.preset("tiny").num_layers))


def test_pth_checkpoint_loads_completely(tmp_path, released_state):
    path = tmp_path / "ema.pth"
    torch.save(released_state, path)
    model = fresh()
    report = load_released(model, path)
    assert report.ok, report.summary()
    assert report.loaded == len(released_state)
    assert report.not_in_release == [k for k in model.state_dict() if k.startswith("mask_predictor.")]
    assert_landed(model, released_state)


def test_sharded_safetensors_with_index(tmp_path, released_state):
    keys = sorted(released_state)
    shards = {"humo-00001-of-00002.safetensors": keys[::2], "humo-00002-of-00002.safetensors": keys[1::2]}
    weight_map = {}
    for name, ks in shards.items():
        save_file({k: released_state[k].contiguous() for k in ks}, tmp_path / name)
        weight_map.update(dict.fromkeys(ks, name))
    (tmp_path / "humo.safetensors.index.json").write_text(json.dumps({"weight_map": weight_map}))
    model = fresh()
    report = load_released(model, tmp_path)  # a folder: finds the index
    assert report.ok, report.summary()
    assert_landed(model, released_state)


def test_missing_extra_and_clip_keys_are_reported(tmp_path, released_state, capsys):
    state = dict(released_state)
    dropped = state.pop("blocks.1.ffn.0.weight")
    state["blocks.0.extra_proj.weight"] = torch.zeros(3)
    state["img_emb.proj.0.weight"] = torch.zeros(3)  # Wan2.1 I2V CLIP branch
    state["blocks.0.cross_attn.k_img.weight"] = torch.zeros(3)
    path = tmp_path / "partial.safetensors"
    save_file(state, path)
    model = fresh()
    before = model.state_dict()["transformer.blocks.1.ffn.0.weight"].clone()
    report = load_released(model, path)
    assert not report.ok
    assert report.missing == ["blocks.1.ffn.0.weight"]
    assert report.unexpected == ["blocks.0.extra_proj.weight"]
    assert sorted(report.clip_branch) == ["blocks.0.cross_attn.k_img.weight", "img_emb.proj.0.weight"]
    assert torch.equal(model.state_dict()["transformer.blocks.1.ffn.0.weight"], before)
    assert not torch.equal(before, dropped)
    err = capsys.readouterr().err
    assert "MISSING" in err and "blocks.1.ffn.0.weight" in err and "UNEXPECTED" in err


def test_shape_mismatch_t2v_into_i2v(tmp_path, released_state):
    path = tmp_path / "t2v.pth"
    torch.save(released_state, path)
    i2v = build_humo(HuMoConfig.preset("tiny", model_type="i2v", in_dim=36), with_encoders=False)
    report = load_released(i2v, path, verbose=False)
    assert [k for k, *_ in report.mismatched] == ["patch_embedding.weight"]
    assert report.mismatched[0][1][1] == 16 and report.mismatched[0][2][1] == 36
    assert report.missing == []


def test_diffusers_named_checkpoint(tmp_path, released_state):
    """diffusers' own converter renames released keys to WanTransformer3DModel names; we map back."""
    from diffusers.loaders.single_file_utils import convert_wan_transformer_to_diffusers

    converted = convert_wan_transformer_to_diffusers({k: v.clone() for k, v in released_state.items()})
    assert "condition_embedder.time_proj.weight" in converted and "blocks.0.attn1.to_q.weight" in converted
    save_file(
        {k: v.contiguous() for k, v in converted.items()}, tmp_path / "diffusion_pytorch_model.safetensors"
    )
    model = fresh()
    report = load_released(model, tmp_path / "diffusion_pytorch_model.safetensors")
    assert report.source_format == "diffusers"
    assert report.ok, report.summary()
    assert_landed(model, released_state)


def test_wrapped_and_own_checkpoints(tmp_path, released_state):
    torch.save({"state_dict": {f"module.{k}": v for k, v in released_state.items()}}, tmp_path / "wrapped.pt")
    model = fresh()
    assert load_released(model, tmp_path / "wrapped.pt").ok
    assert_landed(model, released_state)
    ours = {k: v for k, v in model.state_dict().items()}  # transformer.* + mask_predictor.*
    save_file(ours, tmp_path / "model.safetensors")
    other = fresh()
    report = load_released(other, tmp_path / "model.safetensors")
    assert report.ok and report.not_in_release == []
    for k, v in ours.items():
        assert torch.equal(other.state_dict()[k], v)


def test_resolve_weights_release_layout(tmp_path, released_state):
    root = tmp_path / "weights"
    (root / "HuMo" / "HuMo-1.7B").mkdir(parents=True)
    torch.save(released_state, root / "HuMo" / "HuMo-1.7B" / "ema.pth")
    wan = root / "Wan2.1-T2V-1.3B"
    (wan / "google" / "umt5-xxl").mkdir(parents=True)
    (wan / "Wan2.1_VAE.pth").write_bytes(b"")
    (wan / "models_t5_umt5-xxl-enc-bf16.pth").write_bytes(b"")
    (root / "whisper-large-v3").mkdir()
    (root / "HuMo" / "zero_vae_129frame.pt").write_bytes(b"")
    found = resolve_weights(root, HuMoConfig.preset("humo-1.7b"))
    assert found == {
        "dit": str(root / "HuMo" / "HuMo-1.7B" / "ema.pth"),
        "vae_path": str(wan / "Wan2.1_VAE.pth"),
        "text_encoder_path": str(wan / "models_t5_umt5-xxl-enc-bf16.pth"),
        "tokenizer_path": str(wan / "google" / "umt5-xxl"),
        "audio_encoder_path": str(root / "whisper-large-v3"),
        "zero_vae_path": str(root / "HuMo"),
    }


def test_wan_umt5_names_map_onto_transformers():
    """Wan's T5 encoder naming (t5.py: token_embedding, blocks.N.attn.q, ffn.gate.0, fc1, fc2,
    pos_embedding.embedding, norm) maps onto transformers' UMT5EncoderModel, values intact."""
    from transformers import UMT5Config, UMT5EncoderModel

    conf = UMT5Config(vocab_size=64, d_model=16, d_kv=8, d_ff=32, num_layers=2, num_heads=2,
                      feed_forward_proj="gated-gelu", dropout_rate=0.0)  # fmt: skip
    torch.manual_seed(0)
    ref = UMT5EncoderModel(conf).eval()
    hf = ref.state_dict()
    wan = {
        "token_embedding.weight": hf["shared.weight"],
        "norm.weight": hf["encoder.final_layer_norm.weight"],
    }
    for i in range(2):
        b, e = f"blocks.{i}.", f"encoder.block.{i}.layer."
        wan |= {
            f"{b}norm1.weight": hf[f"{e}0.layer_norm.weight"],
            f"{b}norm2.weight": hf[f"{e}1.layer_norm.weight"],
        }
        wan |= {f"{b}attn.{x}.weight": hf[f"{e}0.SelfAttention.{x}.weight"] for x in "qkvo"}
        wan[f"{b}pos_embedding.embedding.weight"] = hf[f"{e}0.SelfAttention.relative_attention_bias.weight"]
        wan[f"{b}ffn.gate.0.weight"] = hf[f"{e}1.DenseReluDense.wi_0.weight"]
        wan[f"{b}ffn.fc1.weight"] = hf[f"{e}1.DenseReluDense.wi_1.weight"]
        wan[f"{b}ffn.fc2.weight"] = hf[f"{e}1.DenseReluDense.wo.weight"]
    torch.manual_seed(1)
    model = UMT5EncoderModel(conf).eval()
    model.load_state_dict(_wan_t5_to_hf(wan), strict=True)
    ids = torch.tensor([[5, 9, 3, 1]])
    with torch.no_grad():
        assert torch.equal(model(input_ids=ids).last_hidden_state, ref(input_ids=ids).last_hidden_state)
