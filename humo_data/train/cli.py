"""Trainer commands for the humo-data CLI: ``train``, ``features``, ``import humoset`` (and
``generate`` from generate_cli when present). Nothing here imports torch at module import:
each command imports its heavy modules when it runs, so ``humo-data --help`` stays fast.

    humo-data train --config stage1 --set data.sources=[out/] --set model.weights_dir=weights/
    humo-data train --config tiny_cpu --ray            # Ray Train TorchTrainer (DDP/FSDP)
    humo-data features --config stage2 --output out/features
    humo-data import humoset HuMoSet/ --output out/humoset
"""

# ruff: noqa: UP045  (typer needs Optional[...] in annotations)
from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Optional

import typer

ConfigOpt = Annotated[str, typer.Option("--config", "-c", help="Profile in configs/train/ or a YAML path.")]
SetOpt = Annotated[
    Optional[list[str]],
    typer.Option("--set", "-s", help="Override a config key: section.key=value (repeatable)."),
]


def _load(config: str, set_: list[str] | None):
    from humo_data.config_base import ConfigError
    from humo_data.train.config import load_train_config

    try:
        return load_train_config(config, list(set_ or []))
    except ConfigError as err:
        typer.secho(str(err), fg=typer.colors.RED, err=True)
        raise typer.Exit(2) from None


def register(app: typer.Typer) -> None:
    """Add the trainer commands to the humo-data typer app."""

    @app.command()
    def train(
        config: ConfigOpt = "tiny_cpu",
        set_: SetOpt = None,
        ray: Annotated[bool, typer.Option("--ray", help="Run on Ray Train workers (ray.* config).")] = False,
        progress: Annotated[
            Optional[str],
            typer.Option(
                help="Console progress (logging.progress): auto = a bar on a terminal, else a line "
                "every logging.every_steps steps; bar; lines; off."
            ),
        ] = None,
    ) -> None:
        """Train the two-stage HuMo model on triplet shards or HuMoSet folders."""
        extra = [f"logging.progress={progress}"] if progress is not None else []
        cfg = _load(config, [*(set_ or []), *extra])
        if ray:
            from humo_data.train.ray_train import run_ray_train

            result = run_ray_train(cfg)
            typer.echo(json.dumps(result, default=str))
            return
        from humo_data.train.loop import train as run

        result = run(cfg)
        typer.echo(
            json.dumps(
                {"steps": result.steps, "checkpoint": str(result.last_checkpoint), "metrics": result.metrics},
                default=str,
            )
        )

    @app.command()
    def features(
        output: Annotated[str, typer.Option("--output", "-o", help="Directory for features part-*.parquet.")],
        config: ConfigOpt = "tiny_cpu",
        set_: SetOpt = None,
        num_gpus: Annotated[float, typer.Option(help="GPUs per encoder actor (0 on CPU).")] = 0.0,
        actors: Annotated[int, typer.Option(help="Encoder actor pool size.")] = 1,
        address: Annotated[Optional[str], typer.Option(help="Ray address (default: local).")] = None,
    ) -> None:
        """Encode VAE latents, text embeddings and Whisper features once per clip (Ray Data)."""
        cfg = _load(config, set_)
        from humo_data.train.features_job import run_features

        summary = run_features(cfg, output, num_gpus=num_gpus, actors=actors, address=address)
        typer.echo(json.dumps(summary, default=str))

    import_app = typer.Typer(help="Import other dataset layouts into triplet shards.", no_args_is_help=True)

    @import_app.command("humoset")
    def import_humoset_cmd(
        folder: Annotated[
            Path, typer.Argument(help="HuMoSet folder: video/, reference_image/, video_caption.parquet.")
        ],
        output: Annotated[Path, typer.Option("--output", "-o", help="Output dataset directory.")],
        key_column: Annotated[
            Optional[str], typer.Option(help="Video id column of the caption parquet (auto-detected).")
        ] = None,
        caption_column: Annotated[Optional[str], typer.Option(help="Caption column (auto-detected).")] = None,
        require_audio: Annotated[bool, typer.Option(help="Skip videos without an audio track.")] = True,
        min_frames: Annotated[int, typer.Option(help="Skip videos with fewer frames.")] = 1,
        rows_per_shard: Annotated[int, typer.Option(help="Rows per triplet shard.")] = 64,
    ) -> None:
        """Turn a HuMoSet-layout folder into triplet shards, with a reason for every skipped video."""
        from humo_data.humoset.importer import import_humoset
        from humo_data.humoset.layout import HumosetLayoutError

        try:
            summary = import_humoset(
                folder, output, key_column=key_column, caption_column=caption_column,
                require_audio=require_audio, min_frames=min_frames, rows_per_shard=rows_per_shard,
            )  # fmt: skip
        except HumosetLayoutError as err:
            typer.secho(str(err), fg=typer.colors.RED, err=True)
            raise typer.Exit(2) from None
        typer.echo(json.dumps(summary.as_dict()))
        raise typer.Exit(0 if summary.rows else 1)

    app.add_typer(import_app, name="import")

    try:
        from humo_data.train.generate_cli import register_generate
    except ImportError:
        return
    register_generate(app)
