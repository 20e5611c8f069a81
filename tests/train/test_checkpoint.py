"""Checkpoints: exact resume (same loss curve, weights, EMA), atomic layout, pruning, strict loading."""

from __future__ import annotations

import json

import pytest
import torch
from safetensors.torch import load_file

from humo_data.train.checkpoint import find_checkpoint, load_model_state
from humo_data.train.config import load_train_config
from humo_data.train.loop import build_model, resolve_device, train


def cfg_at(triplet_dir, out, *overrides: str):
    return load_train_config(
        "tiny_cpu",
        [
            f"data.sources=[{triplet_dir}]", f"output={out}", "stage=2", "model.trainable=all",
            "data.text_dropout=0.3", "task_mix.audio_start=0.5", "task_mix.audio_end=0.5",
            "checkpoint.every_steps=3", "checkpoint.keep_last=2", "logging.every_steps=1", "ema.decay=0.9",
            *overrides,
        ],
    )  # fmt: skip


def test_resume_repeats_the_uninterrupted_run(triplet_dir, tmp_path):
    straight = train(cfg_at(triplet_dir, tmp_path / "a", "schedule.max_steps=6"))
    first = train(cfg_at(triplet_dir, tmp_path / "b", "schedule.max_steps=3"))
    second = train(cfg_at(triplet_dir, tmp_path / "b", "schedule.max_steps=6"))  # resume=auto
    assert len(first.losses) == 3 and len(second.losses) == 3
    torch.testing.assert_close(
        torch.tensor(first.losses + second.losses), torch.tensor(straight.losses), rtol=1e-5, atol=1e-6
    )
    a = tmp_path / "a" / "checkpoints" / "step-00000006"
    b = tmp_path / "b" / "checkpoints" / "step-00000006"
    for name in ("model.safetensors", "ema.safetensors"):
        wa, wb = load_file(a / name), load_file(b / name)
        assert wa.keys() == wb.keys()
        for k in wa:
            torch.testing.assert_close(wa[k], wb[k], rtol=1e-5, atol=1e-6)
    sa = json.loads((a / "trainer_state.json").read_text())
    sb = json.loads((b / "trainer_state.json").read_text())
    assert sa["data"]["cursors"] == sb["data"]["cursors"]


def test_layout_pruning_and_latest(triplet_dir, tmp_path):
    out = tmp_path / "run"
    train(cfg_at(triplet_dir, out, "schedule.max_steps=7", "checkpoint.every_steps=2"))
    ck = out / "checkpoints"
    assert sorted(p.name for p in ck.glob("step-*")) == ["step-00000006", "step-00000007"]
    assert (ck / "latest").read_text() == "step-00000007"
    assert find_checkpoint("auto", ck) == ck / "step-00000007"
    assert find_checkpoint(str(ck), ck) == ck / "step-00000007"
    step = ck / "step-00000007"
    assert {p.name for p in step.iterdir()} >= {
        "model.safetensors", "ema.safetensors", "optimizer.pt", "rng.pt", "trainer_state.json", "humo_config.json",
    }  # fmt: skip
    weights = load_file(step / "model.safetensors")
    assert not any(k.startswith(("vae.", "text_encoder.", "audio_encoder.")) for k in weights)
    ema = load_file(step / "ema.safetensors")
    assert weights.keys() == ema.keys() and any(not torch.equal(weights[k], ema[k]) for k in weights)
    assert not list(ck.glob(".*.tmp"))


def test_half_written_checkpoint_is_ignored(triplet_dir, tmp_path):
    out = tmp_path / "run"
    train(cfg_at(triplet_dir, out, "schedule.max_steps=3"))
    ck = out / "checkpoints"
    (ck / ".step-00000006.tmp").mkdir()  # a crash mid-save: never renamed, latest untouched
    (ck / ".step-00000006.tmp" / "model.safetensors").write_bytes(b"partial")
    assert find_checkpoint("auto", ck) == ck / "step-00000003"
    result = train(cfg_at(triplet_dir, out, "schedule.max_steps=4"))
    assert result.steps == 4 and len(result.losses) == 1


def test_checkpoint_that_does_not_fit_fails_loudly(triplet_dir, tmp_path):
    cfg = cfg_at(triplet_dir, tmp_path / "run", "schedule.max_steps=1")
    train(cfg)
    state = load_file(tmp_path / "run" / "checkpoints" / "step-00000001" / "model.safetensors")
    state.pop(next(iter(state)))
    state["not.a.parameter"] = torch.zeros(1)
    with pytest.raises(KeyError, match="1 missing .* 1 unexpected"):
        load_model_state(build_model(cfg, resolve_device(cfg)), state)


@pytest.fixture(scope="module")
def trained_run(triplet_dir, tmp_path_factory):
    """A one-step tiny run: out/train_config.json, out/checkpoints/{latest, step-00000001/}."""
    out = tmp_path_factory.mktemp("gen") / "run"
    train(cfg_at(triplet_dir, out, "schedule.max_steps=1"))
    return out


@pytest.mark.parametrize("form", ["run", "checkpoints", "step"])
def test_generate_accepts_run_checkpoints_and_step_folders(trained_run, tmp_path, form):
    """``humo-data generate --checkpoint`` takes the run's output folder (as the README shows), its
    checkpoints/ folder or one step-N/ folder, and loads that step's EMA weights with every key."""
    from typer.testing import CliRunner

    from humo_data.cli import app
    from tests.shared_media import media_file

    image, audio = media_file("humo_man_Jaime.png"), media_file("humo_audio1.wav")
    cases = tmp_path / "cases.json"
    cases.write_text(json.dumps({"c": {"img_paths": [str(image)],
                                       "audio_path": str(audio), "prompt": "a man talks"}}))  # fmt: skip
    ck = {"run": trained_run, "checkpoints": trained_run / "checkpoints",
          "step": trained_run / "checkpoints" / "step-00000001"}[form]  # fmt: skip
    args = ["generate", str(cases), "--checkpoint", str(ck), "-o", str(tmp_path / "gen"), "--frames", "9",
            "--height", "32", "--width", "48", "--steps", "2"]  # fmt: skip
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 0, res.output
    assert "step-00000001/ema.safetensors (released names): loaded" in res.output
    assert "0 missing, 0 unexpected, 0 shape mismatches" in res.output
    assert list((tmp_path / "gen").glob("c_seed*.mp4"))


def test_generate_names_a_run_without_a_checkpoint(tmp_path):
    from humo_data.train.generate import load_model

    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "train_config.json").write_text(json.dumps({"model": {"preset": "tiny"}}))
    with pytest.raises(FileNotFoundError, match="without a complete checkpoint"):
        load_model(str(tmp_path / "run"), None)
