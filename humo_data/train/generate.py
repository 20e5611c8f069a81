"""``humo-data generate``: HuMo case JSON in, ``{case}_seed{seed}.mp4`` (H.264 + AAC) out.

Input is the release's format (examples/test_case.json)::

    {"case_1": {"img_paths": ["man.png"], "audio_path": "speech.wav", "prompt": "A man ..."}}

Per case: references fitted to the frame (aspect kept, white padding) and VAE-encoded to one latent
slot each (none -> one null slot); Whisper band features from the 16 kHz audio; text and null text
(Wan's negative prompt); then the flow sampler with the guidance of the model type (i2v: the 17B
time-adaptive formula, t2v: the 1.7B cascade), VAE decode of the video slots, and an MP4 whose
length is min(video, audio), as the release muxes it. As released, the frame count is rounded
down to 4k+1 and -1 means the audio's length; the start noise can be drawn on the device as the
release does (``noise="device"``) so a seed reproduces a release render on the same GPU.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Literal

import av
import numpy as np
import torch

from humo_data.train.checkpoint import LATEST
from humo_data.train.guidance import BRANCHES, GuidanceConfig, combine, guidance_for, needed_branches
from humo_data.train.model import Condition, HuMo, HuMoConfig, build_humo
from humo_data.train.progress import StepProgress
from humo_data.train.sampler import FlowSampler, SamplerConfig

FPS = 25
SAMPLE_RATE = 16000
NoisePlacement = Literal["cpu", "device"]


@dataclass
class Case:
    name: str
    prompt: str
    img_paths: list[str]
    audio_path: str | None


def read_cases(path: str | Path) -> list[Case]:
    """Parse a case JSON; relative media paths resolve against the JSON's folder."""
    path = Path(path)
    data = json.loads(path.read_text())
    if not isinstance(data, dict) or not data:
        raise ValueError(f"{path}: expected an object of cases {{name: {{img_paths, audio_path, prompt}}}}")

    def resolve(p: str) -> str:
        q = Path(p)
        return str(q if q.is_absolute() or q.exists() else path.parent / q)

    cases = []
    for name, spec in data.items():
        if not isinstance(spec, dict) or "prompt" not in spec:
            raise ValueError(f"{path}: case {name!r} needs at least a 'prompt'")
        imgs = [resolve(p) for p in spec.get("img_paths") or []]
        audio = spec.get("audio_path")
        cases.append(Case(name, str(spec["prompt"]), imgs, resolve(audio) if audio else None))
    return cases


def load_audio_16k(path: str) -> np.ndarray:
    """Any audio file -> float32 mono 16 kHz (PyAV decode + resample)."""
    chunks = []
    with av.open(path) as container:
        resampler = av.AudioResampler(format="flt", layout="mono", rate=SAMPLE_RATE)
        for frame in container.decode(audio=0):
            for out in resampler.resample(frame):
                chunks.append(out.to_ndarray().reshape(-1))
        for out in resampler.resample(None):
            chunks.append(out.to_ndarray().reshape(-1))
    if not chunks:
        raise ValueError(f"{path}: no audio samples")
    return np.concatenate(chunks).astype(np.float32)


def write_mp4(
    path: str | Path, frames: np.ndarray, audio: np.ndarray | None, fps: int = FPS, crf: int = 18
) -> Path:
    """uint8 [F, H, W, 3] + float32 mono 16 kHz -> H.264 yuv420p / AAC MP4 of min(video, audio) length."""
    path = Path(path)
    n = len(frames)
    if audio is not None:
        n = min(n, max(1, math.ceil(len(audio) * fps / SAMPLE_RATE)))
        audio = audio[: round(n * SAMPLE_RATE / fps)]
    h, w = frames.shape[1:3]
    tmp = path.with_name(f".{path.name}.tmp")
    with av.open(str(tmp), "w", format="mp4") as out:
        vs = out.add_stream("libx264", rate=Fraction(fps))
        vs.width, vs.height, vs.pix_fmt = w, h, "yuv420p"
        vs.codec_context.options = {"crf": str(crf), "preset": "veryfast"}
        a_s = out.add_stream("aac", rate=SAMPLE_RATE, layout="mono") if audio is not None else None
        for i in range(n):
            vf = av.VideoFrame.from_ndarray(np.ascontiguousarray(frames[i]), format="rgb24").reformat(
                format="yuv420p"
            )
            vf.pts = i
            out.mux(vs.encode(vf))
        out.mux(vs.encode(None))
        if a_s is not None:
            af = av.AudioFrame.from_ndarray(
                np.clip(audio, -1, 1).reshape(1, -1).astype(np.float32), format="flt", layout="mono"
            )
            af.sample_rate, af.pts = SAMPLE_RATE, 0
            out.mux(a_s.encode(af))
            out.mux(a_s.encode(None))
    tmp.replace(path)
    return path


def resolve_frames(frames: int, audio_samples: int | None, stride: int = 4) -> int:
    """Video frames as the release computes them: ``-1`` = the audio's length in 25 fps frames
    (16 kHz samples // 640), then rounded down to 4k+1 (Wan VAE temporal stride): 100 -> 97."""
    if frames == -1:
        if audio_samples is None:
            raise ValueError("frames=-1 (the audio's length) needs a case with an audio_path")
        frames = audio_samples // (SAMPLE_RATE // FPS)
    if frames < 1:
        raise ValueError(f"frames must be >= 1 or -1 (the audio's length), got {frames}")
    return stride * ((frames - 1) // stride) + 1


def initial_noise(
    shape: tuple[int, ...], seed: int, device: torch.device, placement: NoisePlacement = "cpu"
) -> torch.Tensor:
    """Seeded start latents [1, *shape] float32 on ``device``.

    "cpu": drawn by a CPU generator and moved, the same numbers on every machine. "device": the
    release's placement (``torch.randn(shape, device=device, generator=torch.Generator(device))``
    with ``shape`` = [16, f + R, h, w]), so a seed reproduces a release render on the same GPU
    model; CUDA and CPU generators give different numbers for the same seed.
    """
    if placement == "device":
        gen = torch.Generator(device=device).manual_seed(seed)
        return torch.randn(shape, dtype=torch.float32, device=device, generator=gen)[None]
    if placement != "cpu":
        raise ValueError(f"noise placement must be 'cpu' or 'device', got {placement!r}")
    return torch.randn(shape, dtype=torch.float32, generator=torch.Generator().manual_seed(seed))[None].to(
        device
    )


def _read_image(path: str, height: int, width: int) -> np.ndarray:
    from humo_data.train.data.references import fit_reference

    return fit_reference(Path(path).read_bytes(), height, width)


@torch.no_grad()
def generate_case(
    model: HuMo,
    case: Case,
    *,
    seed: int,
    frames: int,
    height: int,
    width: int,
    sampler: SamplerConfig,
    guidance: GuidanceConfig,
    autocast_dtype: torch.dtype | None = None,
    noise: NoisePlacement = "cpu",
    on_step: Callable[[int, int], None] | None = None,
) -> tuple[np.ndarray, np.ndarray | None]:
    """One case -> (uint8 video [frames, H, W, 3], 16 kHz audio or None).

    ``frames`` goes through ``resolve_frames`` (-1 = the audio's length, rounded down to 4k+1);
    ``noise`` is where the seeded start noise is drawn (``initial_noise``); ``on_step(i, steps)``
    runs after each sampling step.
    """
    cfg = model.config
    device = model.transformer.patch_embedding.weight.device
    wave = load_audio_16k(case.audio_path) if case.audio_path else None
    frames = resolve_frames(frames, None if wave is None else len(wave), cfg.vae_stride[0])
    f = 1 + (frames - 1) // cfg.vae_stride[0]
    h, w = height // cfg.vae_stride[1], width // cfg.vae_stride[2]

    use_image = guidance.mode == "tia" and bool(case.img_paths)
    if use_image:
        imgs = np.stack([_read_image(p, height, width) for p in case.img_paths])[None]
        valid = torch.ones(1, len(case.img_paths), dtype=torch.bool)
        refs = model.encode_references(torch.from_numpy(imgs).to(device), valid)
    else:
        refs = torch.zeros(1, cfg.z_dim, 1, h, w, device=device)
        valid = torch.zeros(1, 1, dtype=torch.bool)
    r = refs.shape[2]
    no_image = torch.zeros(1, r, dtype=torch.bool)

    feats = model.encode_audio(torch.from_numpy(wave)[None].to(device)) if wave is not None else None
    audio_on = model.audio_condition(feats, f, r, 1, device)
    audio_off = torch.zeros_like(audio_on)
    text_on = model.encode_text([case.prompt])
    text_off = model.null_text(1)

    def condition(name: str) -> Condition:
        b = BRANCHES[name]
        return Condition(
            context=text_on if b.text else text_off,
            audio=audio_on if b.audio else audio_off,
            refs=refs,
            ref_valid=(valid if b.image else no_image).to(device),
        )

    conds = {name: condition(name) for name in BRANCHES}

    def velocity(x: torch.Tensor, t: torch.Tensor, _i: int) -> torch.Tensor:
        tv = float(t)
        with torch.autocast(
            device.type, dtype=autocast_dtype or torch.bfloat16, enabled=autocast_dtype is not None
        ):
            preds = {
                n: model.velocity(x, t.to(device), conds[n])[0].float() for n in needed_branches(guidance, tv)
            }
        return combine(guidance, tv, preds)

    start = initial_noise((cfg.z_dim, f + r, h, w), seed, device, noise)
    latents = FlowSampler(sampler).sample(velocity, start, progress=on_step)
    video = model.vae.decode(latents[:, :, :f]) if model.vae is not None else None
    if video is None:
        raise RuntimeError("generate needs the VAE (build the model with encoders)")
    pix = ((video[0].permute(1, 2, 3, 0) + 1) * 127.5).round().clamp(0, 255).to(torch.uint8).cpu().numpy()
    return pix[:frames], wave


def resolve_checkpoint(path: str | Path) -> Path:
    """A training run's output folder (``out/train-stage2``), its ``checkpoints/`` folder or one
    ``step-N/`` folder -> the step folder to load (``latest`` where a folder names one). Anything
    else comes back unchanged (a released-weights folder)."""
    ck = Path(path)
    if (ck / "checkpoints" / LATEST).exists():
        ck = ck / "checkpoints"
    if (ck / LATEST).exists():
        ck = ck / (ck / LATEST).read_text().strip()
    return ck


def load_model(
    checkpoint: str | None, preset: str | None, *, device: str = "cpu", dtype: torch.dtype = torch.float32
) -> HuMo:
    """Model for generation.

    - ``--preset`` alone: a fresh model of that preset (random for ``tiny``).
    - a humo-data training run: its output folder, ``checkpoints/`` or one ``step-N/``; config
      from ``humo_config.json`` there or ``--preset``; weights from ema.safetensors (else
      model.safetensors) of the latest (or named) step.
    - a released-weights folder (HuMo README layout): ``--preset`` picks humo-1.7b / humo-17b.
    """
    if checkpoint is None:
        return build_humo(preset or "tiny", device=device, dtype=dtype)
    ck = resolve_checkpoint(checkpoint)
    ours = [ck / n for n in ("ema.safetensors", "model.safetensors") if (ck / n).exists()]
    if not ours:
        if (
            (ck / "train_config.json").exists()
            or (ck / "checkpoints").is_dir()
            or ck.name.startswith("step-")
        ):
            raise FileNotFoundError(
                f"{checkpoint}: a training run without a complete checkpoint (no checkpoints/latest "
                "or step-N/ema.safetensors)"
            )
        return build_humo(preset or "humo-1.7b", device=device, dtype=dtype, weights_dir=str(ck))
    cfg = _checkpoint_config(ck, preset)
    from humo_data.train.weights import load_released

    model = build_humo(cfg, device="cpu", dtype=torch.float32)
    report = load_released(model, ours[0])
    if not report.ok:
        raise ValueError(f"{ours[0]} does not fit {cfg.name}:\n{report.summary()}")
    return model.to(device=device, dtype=dtype)


def _checkpoint_config(ck: Path, preset: str | None) -> HuMoConfig:
    """A training checkpoint's model: ``humo_config.json`` beside it, else ``--preset``, else the
    preset named in the run's ``train_config.json`` (output/ -> checkpoints/ -> step-N/)."""
    for folder in (ck, ck.parent):
        if (folder / "humo_config.json").exists():
            return HuMoConfig.from_json((folder / "humo_config.json").read_text())
    if preset is not None:
        return HuMoConfig.preset(preset)
    for folder in (ck, ck.parent, ck.parent.parent):
        if (folder / "train_config.json").exists():
            model = json.loads((folder / "train_config.json").read_text()).get("model") or {}
            if model.get("preset"):
                return HuMoConfig.preset(model["preset"])
    raise ValueError(f"{ck}: no humo_config.json or train_config.json; pass --preset to name the model")


def run_generate(
    cases_json: str | Path,
    output_dir: str | Path,
    *,
    model: HuMo,
    seed: int = 666666,
    frames: int = 97,
    height: int = 480,
    width: int = 832,
    sampler: SamplerConfig | None = None,
    guidance: GuidanceConfig | None = None,
    autocast_dtype: torch.dtype | None = None,
    noise: NoisePlacement = "cpu",
    progress: str = "off",
    progress_every: int = 10,
) -> list[Path]:
    """Generate every case of ``cases_json`` into ``output_dir``; returns the MP4 paths.

    progress: sampling-step progress per case on stdout (``StepProgress`` modes: auto, bar,
    lines every ``progress_every`` steps, off)."""
    out_dir = Path(output_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    guidance = guidance or guidance_for(model.config)
    sampler = sampler or SamplerConfig()
    paths = []
    for case in read_cases(cases_json):
        label = f"generate {case.name}"
        with StepProgress(label, sampler.steps, every=progress_every, mode=progress) as bar:
            video, wave = generate_case(
                model, case, seed=seed, frames=frames, height=height, width=width,
                sampler=sampler, guidance=guidance, autocast_dtype=autocast_dtype, noise=noise,
                on_step=lambda i, _n: bar.update(i),
            )  # fmt: skip
        paths.append(write_mp4(out_dir / f"{case.name}_seed{seed}.mp4", video, wave))
    return paths
