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
        "guidance": guidance_for("t2v"),
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
            "guidance": guidance_for("t2v", mode="ta"),
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


def test_frames_round_down_to_4k_plus_1_and_minus_one_is_the_audio_length():
    from humo_data.train.generate import resolve_frames

    assert [resolve_frames(n, None) for n in (1, 4, 5, 96, 97, 98, 100, 101)] == [
        1,
        1,
        5,
        93,
        97,
        97,
        97,
        101,
    ]
    assert resolve_frames(-1, 16000 * 2) == 49  # 2 s = 50 frames at 25 fps -> 49
    assert resolve_frames(-1, 640 * 97 + 639) == 97  # whole 25 fps frames only (samples // 640)
    with pytest.raises(ValueError, match="needs a case with an audio_path"):
        resolve_frames(-1, None)
    for bad in (0, -2):
        with pytest.raises(ValueError, match=">= 1 or -1"):
            resolve_frames(bad, 16000)


@needs_media
def test_generate_cli_frames_minus_one_and_device_noise(tmp_path):
    """``--frames -1`` renders the audio's length (0.5 s = 12 frames -> 9); ``--frames 12`` rounds
    down to 9 too; ``--noise device`` runs (on the CPU it draws the same numbers as ``cpu``)."""
    wave, sr = sf.read(AUDIO, dtype="float32")
    sf.write(tmp_path / "half.wav", wave[: sr // 2], sr)
    (tmp_path / "cases.json").write_text(
        json.dumps({"c": {"img_paths": [str(IMAGE)], "audio_path": "half.wav", "prompt": "A man talks."}})
    )
    app = typer.Typer()
    register_generate(app)
    app.command("noop")(lambda: None)
    frames = {}
    for name, extra in {
        "minus1": ["--frames", "-1"],
        "twelve": ["--frames", "12", "--noise", "device"],
    }.items():
        out = tmp_path / name
        args = ["generate", str(tmp_path / "cases.json"), "--preset", "tiny", "--output-dir", str(out),
                "--seed", "5", "--steps", "1", "--height", "32", "--width", "32", *extra]  # fmt: skip
        result = CliRunner().invoke(app, args)
        assert result.exit_code == 0, result.output
        frames[name] = probe(out / "c_seed5.mp4")["frames"]
    assert frames == {"minus1": 9, "twelve": 9}
    bad = CliRunner().invoke(app, [*args[:-2], "--noise", "gpu0"])
    assert bad.exit_code == 2 and "--noise must be cpu or device" in bad.output


def release_noise(shape: tuple[int, ...], seed: int, device: str) -> torch.Tensor:
    """The release's start noise, as written in humo/generate.py (inference)."""
    seed_g = torch.Generator(device=device)
    seed_g.manual_seed(seed)
    return torch.randn(*shape, dtype=torch.float32, device=device, generator=seed_g)


def test_noise_placement_matches_the_release_expression():
    from humo_data.train.generate import initial_noise

    shape = (16, 4, 6, 8)
    cpu = torch.device("cpu")
    assert torch.equal(initial_noise(shape, 666666, cpu, "device")[0], release_noise(shape, 666666, "cpu"))
    assert torch.equal(
        initial_noise(shape, 7, cpu, "cpu"),
        torch.randn(1, *shape, generator=torch.Generator().manual_seed(7)),
    )
    with pytest.raises(ValueError, match="placement"):
        initial_noise(shape, 7, cpu, "cuda")


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_device_noise_is_the_release_draw_on_cuda():
    from humo_data.train.generate import initial_noise

    shape, cuda = (16, 26, 60, 104), torch.device("cuda")
    on_device = initial_noise(shape, 666666, cuda, "device")[0]
    assert torch.equal(on_device, release_noise(shape, 666666, "cuda"))
    assert not torch.equal(on_device.cpu(), initial_noise(shape, 666666, cuda, "cpu")[0].cpu())
