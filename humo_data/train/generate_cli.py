"""The ``generate`` command; torch and the model import only when it runs.

humo-data generate cases.json --preset tiny --output-dir out/ --frames 9 --height 64 --width 64 --steps 4
humo-data generate cases.json --checkpoint weights/ --preset humo-1.7b --output-dir out/
humo-data generate cases.json --checkpoint out/train-stage2 --output-dir renders/ --frames -1
"""

# ruff: noqa: UP045  (typer needs Optional[...] in annotations)
from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer


def register_generate(app: typer.Typer) -> None:
    """Add ``generate`` to the humo-data typer app."""

    @app.command()
    def generate(
        cases: Annotated[
            Path, typer.Argument(help="HuMo case JSON: {case: {img_paths, audio_path, prompt}}.")
        ],
        output_dir: Annotated[
            Path, typer.Option("--output-dir", "-o", help="Where {case}_seed{seed}.mp4 go.")
        ],
        checkpoint: Annotated[
            Optional[str],
            typer.Option(
                help="Training run folder (its latest checkpoint), its checkpoints/ folder, one step-N/ "
                "folder, or a released-weights folder."
            ),
        ] = None,
        preset: Annotated[
            Optional[str],
            typer.Option(
                help="Model preset: tiny, humo-1.7b, humo-17b (with --checkpoint: which model it is)."
            ),
        ] = None,
        seed: Annotated[int, typer.Option(help="Noise seed (release default 666666).")] = 666666,
        steps: Annotated[int, typer.Option(help="Sampling steps.")] = 50,
        frames: Annotated[
            int,
            typer.Option(
                help="Video frames, rounded down to 4k+1 as released (97 = 3.9 s at 25 fps); "
                "-1 = the audio's length."
            ),
        ] = 97,
        height: Annotated[int, typer.Option(help="Frame height (multiple of 16).")] = 480,
        width: Annotated[int, typer.Option(help="Frame width (multiple of 16).")] = 832,
        solver: Annotated[str, typer.Option(help="unipc (as released) or euler.")] = "unipc",
        shift: Annotated[float, typer.Option(help="Timestep shift.")] = 5.0,
        mode: Annotated[str, typer.Option(help="tia (text+image+audio) or ta (no reference image).")] = "tia",
        scale_t: Annotated[Optional[float], typer.Option(help="Text guidance (preset default).")] = None,
        scale_a: Annotated[Optional[float], typer.Option(help="Audio guidance (preset default).")] = None,
        scale_i: Annotated[Optional[float], typer.Option(help="Image guidance, 1.7B formula.")] = None,
        switch_t: Annotated[
            Optional[float], typer.Option(help="17B: timestep of the guidance switch.")
        ] = None,
        device: Annotated[str, typer.Option(help="cpu or cuda[:N].")] = "cpu",
        bf16: Annotated[bool, typer.Option(help="bf16 autocast (GPU).")] = False,
        noise: Annotated[
            str,
            typer.Option(
                help="Where the seeded start noise is drawn: cpu (same numbers on every machine) or "
                "device (as released: a generator on --device, so a seed reproduces a release "
                "render on the same GPU)."
            ),
        ] = "cpu",
        progress: Annotated[
            str,
            typer.Option(
                help="Sampling progress per case: auto (a bar on a terminal, else lines), bar, lines, off."
            ),
        ] = "auto",
        progress_every: Annotated[
            int, typer.Option(min=1, help="In lines mode, one line every N sampling steps.")
        ] = 10,
    ) -> None:
        """Generate videos with audio for HuMo case JSON (reads images/audio, writes MP4 with AAC)."""
        import torch

        from humo_data.train.generate import load_model, run_generate
        from humo_data.train.guidance import guidance_for
        from humo_data.train.progress import PROGRESS_MODES
        from humo_data.train.sampler import SamplerConfig

        if checkpoint is None and preset is None:
            typer.secho("give --checkpoint and/or --preset", fg=typer.colors.RED, err=True)
            raise typer.Exit(2)
        if noise not in ("cpu", "device"):
            typer.secho(f"--noise must be cpu or device, got {noise!r}", fg=typer.colors.RED, err=True)
            raise typer.Exit(2)
        if progress not in PROGRESS_MODES:
            typer.secho(
                f"--progress must be one of {', '.join(PROGRESS_MODES)}, got {progress!r}",
                fg=typer.colors.RED,
                err=True,
            )
            raise typer.Exit(2)
        model = load_model(checkpoint, preset, device=device)
        overrides = {"mode": mode}
        for key, val in {
            "scale_t": scale_t,
            "scale_a": scale_a,
            "scale_i": scale_i,
            "switch_t": switch_t,
        }.items():
            if val is not None:
                overrides[key] = val
        guidance = guidance_for(model.config, **overrides)
        paths = run_generate(
            cases,
            output_dir,
            model=model,
            seed=seed,
            frames=frames,
            height=height,
            width=width,
            sampler=SamplerConfig(solver=solver, steps=steps, shift=shift),
            guidance=guidance,
            autocast_dtype=torch.bfloat16 if bf16 else None,
            noise=noise,
            progress=progress,
            progress_every=progress_every,
        )
        for p in paths:
            typer.echo(str(p))
