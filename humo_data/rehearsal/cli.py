"""``humo-data rehearse``: the GPU profile as one job, before a cluster-day is spent on it.

humo-data rehearse -i videos/ -o out/                 # no GPU: tiny random weights, CPU, declared GPUs
humo-data rehearse -i videos/ -o out/ --real --set faces.model_dir=/weights/insightface ...
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer


def rehearse(
    input: Annotated[str, typer.Option("--input", "-i", help="Videos to curate (a few short ones).")],
    output: Annotated[str, typer.Option("--output", "-o", help="Output dataset directory (new).")],
    config: Annotated[str, typer.Option("--config", "-c", help="Profile to rehearse.")] = "gpu",
    set_: Annotated[
        list[str] | None, typer.Option("--set", "-s", help="Override: section.key=value.")
    ] = None,
    weights: Annotated[
        str | None, typer.Option(help="Where tiny weights are written (default: <output>.tiny-weights).")
    ] = None,
    real: Annotated[
        bool | None,
        typer.Option("--real/--tiny", help="Real weights on real devices (default: when torch sees a GPU)."),
    ] = None,
    gpus: Annotated[
        int | None, typer.Option(help="GPUs the local Ray declares (default: what the plan needs).")
    ] = None,
    report: Annotated[Path | None, typer.Option(help="Write the report JSON here too.")] = None,
) -> None:
    """Run a GPU profile end to end on a local Ray with declared GPUs and check it: every stage ran
    its real backend, weights recorded with sha256, model stages as actor pools, captions only on
    stage-1 candidates, the output valid. Without a GPU it runs on CPU with tiny random weights in
    each backend's layout and prints what a real run needs."""
    from humo_data.config import load_config
    from humo_data.rehearsal.report import real_run_needs, rehearse_and_report, torch_sees_gpu

    use_real = torch_sees_gpu() if real is None else real
    overrides = list(set_ or [])
    needs = real_run_needs(config)
    if use_real:
        cfg = load_config(config, ["ray.address=null", *overrides])
        missing = [w for w in needs["weights"] if not w["present"]]
        if missing:
            typer.secho("weights missing: " + ", ".join(f"{w['stage']}.{w['field']}={w['path']}" for w in missing),
                        fg=typer.colors.RED, err=True)  # fmt: skip
            raise typer.Exit(2)
        out = rehearse_and_report(input, output, None, real_cfg=cfg, num_gpus=gpus)
    else:
        if config != "gpu":
            typer.secho(
                "the tiny-weights rehearsal derives from configs/gpu.yaml only", fg=typer.colors.RED, err=True
            )
            raise typer.Exit(2)
        out = rehearse_and_report(input, output, weights or f"{output.rstrip('/')}.tiny-weights", overrides,
                                  num_gpus=gpus)  # fmt: skip
    out["real_run_needs"] = needs
    text = json.dumps(out, indent=2, default=str)
    if report:
        report.parent.mkdir(parents=True, exist_ok=True)
        report.write_text(text + "\n")
    typer.echo(text)
    failed = [k for k, v in out["checks"].items() if v != "ok"]
    if failed or not out["ok"]:
        typer.secho(
            f"rehearsal failed: {', '.join(failed) or 'run incomplete'}", fg=typer.colors.RED, err=True
        )
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    app.command("rehearse")(rehearse)
