"""``humo-data generate`` on the tiny preset (CPU): HuMo's case JSON with the release's example
image and audio in, playable MP4s with the configured frames/size and an AAC track out."""

from __future__ import annotations

import json
from pathlib import Path

import av
import numpy as np
import pytest
import soundfile as sf
import torch
import typer
from typer.testing import CliRunner

from humo_data.train.generate import Case, generate_case, load_audio_16k, load_model, read_cases
from humo_data.train.generate_cli import register_generate
from humo_data.train.guidance import guidance_for
from humo_data.train.sampler import SamplerConfig

torch.set_num_threads(2)
from tests.shared_media import MEDIA, needs_media  # noqa: E402

IMAGE, AUDIO = MEDIA / "humo_man_Jaime.png", MEDIA / "humo_audio1.wav"


def probe(path: Path) -> dict:
    with av.open(str(path)) as c:
        v, a = c.streams.video[0], c.streams.audio[0]
        frames = [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]
        info = {"vcodec": v.codec_context.name, "w": v.width, "h": v.height, "frames": len(frames),
                "acodec": a.codec_context.name, "rate": a.sample_rate}  # fmt: skip
    with av.open(str(path)) as c:
        info["audio_s"] = sum(f.samples for f in c.decode(audio=0)) / info["rate"]
    return info


@needs_media
def test_generate_cli_writes_playable_mp4s(tmp_path):
    wave, sr = sf.read(AUDIO, dtype="float32")
    sf.write(tmp_path / "short.wav", wave[: int(0.2 * sr)], sr)  # shorter than the video
    cases = {
        "case_1": {
            "img_paths": [str(IMAGE)],
            "audio_path": str(AUDIO),
            "prompt": "A man with a beard talks.",
        },
        "short": {"img_paths": [str(IMAGE)], "audio_path": "short.wav", "prompt": "A man talks."},  # relative
    }
    (tmp_path / "cases.json").write_text(json.dumps(cases))
    app = typer.Typer()
    register_generate(app)
    app.command("noop")(lambda: None)  # a second command keeps typer's subcommand layout
    args = ["generate", str(tmp_path / "cases.json"), "--preset", "tiny", "--output-dir", str(tmp_path / "out"),
            "--seed", "5", "--steps", "2", "--frames", "9", "--height", "64", "--width", "96"]  # fmt: skip
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    full, short = tmp_path / "out" / "case_1_seed5.mp4", tmp_path / "out" / "short_seed5.mp4"
    info = probe(full)
    assert info | {"audio_s": 0} == {
        "vcodec": "h264",
        "w": 96,
        "h": 64,
        "frames": 9,
        "acodec": "aac",
        "rate": 16000,
        "audio_s": 0,
    }
    assert info["audio_s"] == pytest.approx(9 / 25, abs=0.07)  # audio cut to the video (2.26 s > 0.36 s)
    info = probe(short)
    assert info["frames"] == 5  # video cut to the 0.2 s of audio: min(video, audio)
    assert info["audio_s"] == pytest.approx(0.2, abs=0.07)


@needs_media
def test_same_seed_same_video_and_no_reference_case():
    model = load_model(None, "tiny")
    case = Case("c", "A man talks.", [str(IMAGE)], str(AUDIO))
    kw = {
        "frames": 5,
        "height": 32,
        "width": 32,
        "sampler": SamplerConfig(steps=2),
        "guidance": guidance_for("tiny"),
    }
    a, wave = generate_case(model, case, seed=1, **kw)
    b, _ = generate_case(model, case, seed=1, **kw)
    c, _ = generate_case(model, case, seed=2, **kw)
    assert a.shape == (5, 32, 32, 3) and a.dtype == np.uint8
    assert np.array_equal(a, b) and not np.array_equal(a, c)
    assert len(wave) == len(load_audio_16k(str(AUDIO)))
    # text + audio only (mode "ta", no image): one null reference slot, euler solver
    d, _ = generate_case(
        model,
        Case("d", "A man.", [], str(AUDIO)),
        seed=1,
        **{
            **kw,
            "guidance": guidance_for("tiny", mode="ta"),
            "sampler": SamplerConfig(steps=2, solver="euler"),
        },
    )
    assert d.shape == a.shape


def test_case_json_errors(tmp_path):
    (tmp_path / "bad.json").write_text(json.dumps({"x": {"img_paths": []}}))
    with pytest.raises(ValueError, match="prompt"):
        read_cases(tmp_path / "bad.json")
    (tmp_path / "empty.json").write_text("[]")
    with pytest.raises(ValueError):
        read_cases(tmp_path / "empty.json")


def test_load_model_from_training_checkpoint(tmp_path):
    """A trainer checkpoint (output/checkpoints/step-N/ema.safetensors + latest, preset named in
    output/train_config.json) loads for generation with every DiT / mask-predictor weight."""
    from safetensors.torch import save_file

    trained = load_model(None, "tiny")
    with torch.no_grad():
        for p in trained.transformer.parameters():
            p.add_(0.01)
    state = {
        k: v.contiguous()
        for k, v in trained.state_dict().items()
        if k.startswith(("transformer.", "mask_predictor."))
    }
    step = tmp_path / "out" / "checkpoints" / "step-00000003"
    step.mkdir(parents=True)
    save_file(state, step / "ema.safetensors")
    (step.parent / "latest").write_text(step.name)
    (tmp_path / "out" / "train_config.json").write_text(json.dumps({"model": {"preset": "tiny"}}))
    loaded = load_model(str(step.parent), None)
    assert loaded.config.name == "tiny"
    for k, v in state.items():
        assert torch.equal(loaded.state_dict()[k], v), k
