"""Dataset-level commands for the humo-data CLI: ``dedup``, ``split``, ``export``, ``remove``,
``card``. Each runs over a finished dataset under its lease, records itself in the manifest,
rewrites the dataset card and leaves ``humo-data validate`` passing. Heavy modules import when a
command runs.

    humo-data dedup out/                      # near-duplicate clips across sources -> rejects
    humo-data split out/ --set split.seed=1   # identity-disjoint train/validation/test shards
    humo-data export out/ --format humoset --output humoset/
    humo-data remove out/ --identity id-3f2a... [--dry-run]
    humo-data card out/                       # rewrite OUT/README.md (Hugging Face dataset card)
"""

# ruff: noqa: UP045  (typer needs Optional[...] in annotations)
from __future__ import annotations

import json
from typing import Annotated, Any, Optional

import typer

DatasetArg = Annotated[str, typer.Argument(help="A curated dataset: a directory or a URI (s3://...).")]
ConfigOpt = Annotated[
    Optional[str],
    typer.Option(
        "--config", "-c", help="Profile in configs/dataset/ or a YAML path (default: the dataset's own)."
    ),
]
SetOpt = Annotated[
    Optional[list[str]],
    typer.Option("--set", "-s", help="Override a key: section.key=value, e.g. dedup.min_similarity=0.85."),
]
AddressOpt = Annotated[
    Optional[str], typer.Option(help="Ray address (default: local, started only when needed).")
]


def _fail(message: str, code: int = 2) -> None:
    typer.secho(message, fg=typer.colors.RED, err=True)
    raise typer.Exit(code)


def _ops(dataset: str, config: str | None, set_: list[str] | None, address: str | None):
    from humo_data.config_base import ConfigError
    from humo_data.dataset_ops.config import load_ops_config
    from humo_data.io.dataset import DatasetNotFound, open_dataset

    try:
        manifest = open_dataset(dataset).manifest
    except DatasetNotFound as err:
        _fail(f"{err}\nPass the --output directory of a curate run (it holds _manifest.json).")
    overrides = list(set_ or []) + ([f"ray.address={address}"] if address else [])
    try:
        return load_ops_config(manifest, config, overrides)
    except ConfigError as err:
        _fail(str(err))


def _run(fn, *args: Any, **kwargs: Any) -> dict[str, Any]:
    """Run an operation; the errors a user can act on become a message and exit code 2."""
    from humo_data.dataset_ops.card import REPORT
    from humo_data.dataset_ops.common import DatasetNotReady
    from humo_data.dataset_ops.takedown import NothingToRemove
    from humo_data.io.dataset import DatasetNotFound
    from humo_data.io.lease import LeaseHeld
    from humo_data.io.store import Store, StoreError
    from humo_data.ray_compute import ClusterUnavailable

    try:
        store = Store.open(str(args[0]), create=False)
        had_report = store.exists(REPORT)
        result = fn(*args, **kwargs)
    except (DatasetNotFound, DatasetNotReady, LeaseHeld, NothingToRemove, StoreError, ClusterUnavailable,
            FileNotFoundError, ValueError) as err:  # fmt: skip
        _fail(str(err))
    if had_report and not store.exists(REPORT):  # the operation changed rows: draw the report again
        from humo_data.report.html import write_report

        write_report(str(args[0]))
    return result


def _print(summary: dict[str, Any]) -> None:
    for w in summary.get("warnings") or []:
        typer.secho(f"warning: {w}", fg=typer.colors.YELLOW, err=True)
    for n in summary.get("notes") or []:
        typer.secho(f"note: {n}", err=True)
    typer.echo(
        json.dumps(
            {k: v for k, v in summary.items() if k not in ("notes", "warnings")}, indent=2, default=str
        )
    )


def register(app: typer.Typer) -> None:
    """Add the dataset-level commands to the humo-data typer app."""

    @app.command()
    def dedup(
        dataset: DatasetArg, config: ConfigOpt = None, set_: SetOpt = None, address: AddressOpt = None
    ) -> None:
        """Remove near-duplicate clips across sources (re-uploads, re-encodes, crops, trims): the best copy stays."""
        from humo_data.dataset_ops.dedup import run_dedup

        _print(_run(run_dedup, dataset, _ops(dataset, config, set_, address)))

    @app.command()
    def split(
        dataset: DatasetArg, config: ConfigOpt = None, set_: SetOpt = None, address: AddressOpt = None
    ) -> None:
        """Assign identity-disjoint train/validation/test splits and write split-separated shards."""
        from humo_data.dataset_ops.splits import run_split

        _print(_run(run_split, dataset, _ops(dataset, config, set_, address)))

    @app.command()
    def export(
        dataset: DatasetArg,
        output: Annotated[str, typer.Option("--output", "-o", help="Target folder or URI (created).")],
        format: Annotated[str, typer.Option("--format", "-f", help="humoset or webdataset.")] = "humoset",
        subset: Annotated[Optional[str], typer.Option(help="stage1 (default), stage2 or all.")] = None,
        split: Annotated[Optional[str], typer.Option(help="Export one split only.")] = None,
        config: ConfigOpt = None,
        set_: SetOpt = None,
        address: AddressOpt = None,
    ) -> None:
        """Export the triplets as a HuMoSet folder or as WebDataset tar shards (streaming, resumable)."""
        from humo_data.dataset_ops.export import run_export

        if format not in ("humoset", "webdataset"):
            _fail(f"--format must be humoset or webdataset, got {format!r}")
        if subset not in (None, "stage1", "stage2", "all"):
            _fail(f"--subset must be stage1, stage2 or all, got {subset!r}")
        ops = _ops(dataset, config, set_, address)
        _print(_run(run_export, dataset, output, ops, format, subset, split))

    @app.command()
    def remove(
        dataset: DatasetArg,
        source: Annotated[
            Optional[str],
            typer.Option(
                help="A source_id, source URI, or local path as given to curate (relative to the "
                "working directory): every row of it goes."
            ),
        ] = None,
        identity: Annotated[
            Optional[str],
            typer.Option(help="An identity_id: every row and reference image showing the person goes."),
        ] = None,
        dry_run: Annotated[
            bool, typer.Option("--dry-run", help="Count what would go; write nothing.")
        ] = False,
        config: ConfigOpt = None,
        set_: SetOpt = None,
        address: AddressOpt = None,
    ) -> None:
        """Takedown: remove a source or a person (rows, reference images, face features) and record it."""
        from humo_data.dataset_ops.takedown import run_remove

        if (source is None) == (identity is None):
            _fail("give exactly one of --source or --identity")
        ops = _ops(dataset, config, set_, address)
        _print(_run(run_remove, dataset, ops, source=source, identity=identity, dry_run=dry_run))

    @app.command()
    def card(dataset: DatasetArg, config: ConfigOpt = None, set_: SetOpt = None) -> None:
        """Rewrite OUT/README.md, the Hugging Face dataset card (configs per split, license, counts)."""
        from humo_data.dataset_ops.card import run_card

        _print(_run(run_card, dataset, _ops(dataset, config, set_, None)))
