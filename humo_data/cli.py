"""humo-data command line: curate, validate, inspect (+ train, features, import, generate with the
``train`` extra). Heavy modules import inside each command so ``--help`` stays fast.

    humo-data curate --input videos/ --output out/ --config default --set clips.max_seconds=8
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

app = typer.Typer(
    name="humo-data",
    help="Curate HuMo-style (text, reference images, audio, video) training data and train on it.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)

ConfigOpt = Annotated[str, typer.Option("--config", "-c", help="Profile name in configs/ or a YAML path.")]
SetOpt = Annotated[
    list[str] | None,
    typer.Option("--set", "-s", help="Override a config key: section.key=value (repeatable)."),
]


def _fail(message: str, code: int = 2) -> None:
    typer.secho(message, fg=typer.colors.RED, err=True)
    raise typer.Exit(code)


@app.command()
def curate(
    input: Annotated[
        str, typer.Option("--input", "-i", help="Directory, glob, .txt list or Parquet manifest of videos.")
    ],
    output: Annotated[str, typer.Option("--output", "-o", help="Output dataset directory.")],
    config: ConfigOpt = "default",
    set_: SetOpt = None,
    address: Annotated[str | None, typer.Option(help="Ray address (default: start a local cluster).")] = None,
    progress: Annotated[bool, typer.Option(help="Show a progress bar.")] = True,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Print the plan (stages, backends, resources) and stop.")
    ] = False,
    allow_nonempty_output: Annotated[
        bool,
        typer.Option(
            "--allow-nonempty-output",
            help="Write the dataset into an output folder (or prefix) that already holds other files.",
        ),
    ] = False,
    verbose: Annotated[
        bool, typer.Option("--verbose", "-v", help="Show Ray's own log lines here (default: OUT/_logs/).")
    ] = False,
) -> None:
    """Run the streaming curation job and write Parquet shards, rejects, manifest and report."""
    overrides = list(set_ or [])
    if address:
        overrides.append(f"ray.address={address}")
    if dry_run:
        plan(config, overrides)
        return
    cfg = _load_curate_config(config, overrides)
    from humo_data.io.lease import LeaseHeld
    from humo_data.io.sources import SourcesError
    from humo_data.io.store import StoreError
    from humo_data.jobs.curate import Interrupted, ResumeConflict, run_curate
    from humo_data.jobs.plan import PlanError
    from humo_data.ray_compute import ClusterUnavailable, ResourcePlanError

    try:
        summary = run_curate(
            input, output, cfg, show_progress=progress, allow_nonempty_output=allow_nonempty_output,
            verbose=verbose,
        )  # fmt: skip
    except Interrupted as err:
        _fail(str(err), code=130)
    except (
        SourcesError,
        ResumeConflict,
        ClusterUnavailable,
        LeaseHeld,
        StoreError,
        ResourcePlanError,
        PlanError,
        FileNotFoundError,  # a stage's preflight: a model or package it needs is not installed
    ) as err:
        _fail(str(err))
    if summary.fault:
        _fail(summary.fault, code=1)
    if summary.ok and cfg.dataset.after_curate:  # operations take the lease curate has released
        from humo_data.dataset_ops.chain import run_after_curate

        for note in run_after_curate(output, cfg.model_dump(mode="json")):
            typer.echo(note)
    raise typer.Exit(0 if summary.ok else 1)


def _load_curate_config(config: str, overrides: list[str]):
    from humo_data.config import ConfigError, load_config

    try:
        return load_config(config, overrides)
    except ConfigError as err:
        _fail(str(err))


@app.command()
def plan(config: ConfigOpt = "default", set_: SetOpt = None) -> None:
    """Print the curation plan of a config: every stage in order, how it runs (tasks or an actor pool
    and its resources), its backend, the weights it loads and what it reads and writes. Starts no
    Ray and loads no weights; a plan whose stages do not fit together fails here, naming the stage."""
    from rich.console import Console

    from humo_data.jobs.plan import CurationPlan, PlanError, plan_table

    cfg = _load_curate_config(config, list(set_ or []))
    try:
        built = CurationPlan.build(cfg)
    except PlanError as err:
        _fail(str(err))
    Console().print(plan_table(built, config))


@app.command()
def validate(
    dataset: Annotated[str, typer.Argument(help="Output of a curate run: a directory or a URI (s3://...).")],
) -> None:
    """Check a dataset against schemas/: columns, types, manifest counts, sha256 of each shard."""
    from humo_data.io.validate import validate_dataset

    problems = validate_dataset(dataset)
    if problems:
        for p in problems:
            typer.secho(f"  - {p}", fg=typer.colors.RED, err=True)
        _fail(f"{dataset}: {len(problems)} problem(s)", code=1)
    typer.secho(f"{dataset}: valid", fg=typer.colors.GREEN)


@app.command()
def inspect(
    dataset: Annotated[str, typer.Argument(help="Output of a curate run: a directory or a URI (s3://...).")],
    rows: Annotated[int, typer.Option(help="Sample rows to print.")] = 5,
    wide: Annotated[
        bool,
        typer.Option(
            "--wide", help="Full ids, source URIs and details, one line per clip (wider than a terminal)."
        ),
    ] = False,
) -> None:
    """Print a dataset's summary (counts, rejects by reason, durations) and a few rows. The tables
    fit the terminal (short clip ids, names cut with an ellipsis) unless --wide."""
    from rich.console import Console

    from humo_data.report.inspect import WIDE_COLUMNS, DatasetNotFound, print_inspection

    console = Console()
    if wide:  # full values on one line each, also when piped (rich assumes 80 columns then)
        console = Console(width=max(console.width, WIDE_COLUMNS))
    try:
        print_inspection(dataset, rows=rows, console=console, wide=wide)
    except DatasetNotFound as err:
        _fail(f"{err}\nPass the --output directory of a curate run (it holds _manifest.json).")


@app.command()
def report(
    dataset: Annotated[str, typer.Argument(help="Output of a curate run: a directory or a URI (s3://...).")],
) -> None:
    """(Re)write the HTML report (report/index.html): funnel, per-stage costs, histograms, galleries."""
    from humo_data.report.html import write_report
    from humo_data.report.inspect import DatasetNotFound

    try:
        typer.echo(f"report: {write_report(dataset)}")
    except DatasetNotFound as err:
        _fail(f"{err}\nPass the --output directory of a curate run (it holds _manifest.json).")


@app.command("sync-train")
def sync_train(
    dataset: Annotated[str, typer.Option("--dataset", "-d", help="A curated dataset (local or fsspec URI).")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Weights file to write (syncnet_v2 layout).")],
    steps: Annotated[int, typer.Option(help="Optimiser steps.")] = 2000,
    batch: Annotated[int, typer.Option(help="Pairs per step.")] = 32,
    lr: Annotated[float, typer.Option(help="Learning rate.")] = 1e-4,
    device: Annotated[str, typer.Option(help="torch device (cpu, cuda).")] = "cpu",
    init_weights: Annotated[str | None, typer.Option(help="Start from these SyncNet weights.")] = None,
    limit: Annotated[int | None, typer.Option(help="Use at most this many clips.")] = None,
) -> None:
    """Train the SyncNet sync backend on your own curated clips: positives from every talking clip with
    one visible speaker (audio as cut), negatives shifted or swapped; writes weights for
    sync.backend=syncnet and their held-out report beside them (<out>.json). Needs torch."""
    import json

    try:
        from humo_data.sync.train import candidates_from_dataset, train_syncnet
    except ImportError as err:
        _fail(f"sync-train needs torch: pip install -e '.[models]' ({err})")
    rows = candidates_from_dataset(dataset, limit=limit)
    try:
        report = train_syncnet(
            rows, out, steps=steps, batch=batch, lr=lr, device=device, init_weights=init_weights
        )
    except ValueError as err:
        _fail(str(err))
    typer.echo(json.dumps(report.as_dict(), default=str))


def _register_optional_commands() -> None:
    """Trainer commands live with the trainer; their modules import torch only when a command runs."""
    __import__("humo_data.dataset_ops.cli", fromlist=["register"]).register(
        app
    )  # dedup/split/export/remove/card
    __import__("humo_data.rehearsal.cli", fromlist=["register"]).register(app)  # rehearse (GPU profile)
    try:
        from humo_data.train.cli import register as register_train
    except ImportError:  # the trainer package is absent from a stripped install
        return
    register_train(app)


_register_optional_commands()


if __name__ == "__main__":
    app()
