"""The curation job: sources -> probe -> shots + clips -> (faces, identity, audio, sync, quality,
captions as they land) -> Parquet shards, rejects, manifest, ledger, report.

Local (starts a Ray cluster on this machine) or on a cluster, same code:

    humo-data curate --input videos/ --output out/ --config default
    ray job submit --working-dir . -- humo-data curate --input s3://b/videos --output s3://b/out --config gpu

Cheap CPU filters run first so model stages only see survivors. Each source is decoded once by
the cut stage; everything after it receives encoded clips (MBs, never raw frames). The driver
streams the results into the DatasetWriter, which commits shards atomically as they fill.
"""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from humo_data.clips.cutter import ClipCutStage, CutConfig
from humo_data.config import ClipsConfig, CurateConfig
from humo_data.io.dataset_writer import DatasetWriter
from humo_data.io.manifest import Manifest
from humo_data.io.sources import SourceRef, list_sources
from humo_data.media.probe import ProbeStage
from humo_data.stage import Stage


@dataclass
class CurateSummary:
    sources_listed: int
    sources_skipped: int
    sources_processed: int
    wall_seconds: float
    manifest: Manifest
    output: Path
    ok: bool = True
    new_clips: int = 0
    new_video_seconds: float = 0.0
    notes: list[str] = field(default_factory=list)

    @property
    def video_seconds_per_second(self) -> float:
        return self.new_video_seconds / self.wall_seconds if self.wall_seconds else 0.0


def codec_threads(cfg: CurateConfig, sources: int, cpus: int) -> ClipsConfig:
    """Resolve ``0`` (auto) codec threads: many sources -> one thread each (the most work per CPU),
    few long sources -> their share of the node, so a lone 2-hour file still uses every core."""
    in_flight = max(1, min(sources, cfg.ray.max_sources_in_flight, cpus))
    auto = max(1, cpus // in_flight)
    decode = cfg.clips.decode_threads or auto
    return cfg.clips.model_copy(
        update={"decode_threads": decode, "encode_threads": cfg.clips.encode_threads or decode}
    )


def build_stages(cfg: CurateConfig, clips: ClipsConfig | None = None) -> list[tuple[Stage, bool]]:
    """The stage list, in order, each with whether it runs as an actor pool (model stages)."""
    return [
        (ProbeStage(cfg.probe), False),
        (ClipCutStage(CutConfig(shots=cfg.shots, clips=clips or cfg.clips)), False),
    ]


def backends_used(cfg: CurateConfig) -> dict[str, str]:
    return {"probe": "pyav", "shots": cfg.shots.backend, "decode": "pyav", "encode": "pyav-libx264+aac"}


def run_curate(
    input: str, output: str | Path, cfg: CurateConfig, show_progress: bool = True
) -> CurateSummary:
    import ray

    from humo_data.ray_compute import init_ray, map_stage

    console = Console(stderr=True)
    started = time.perf_counter()
    refs = list_sources(input, cfg.sources)
    progress = Progress(
        TextColumn("[bold]curating"), BarColumn(), MofNCompleteColumn(), TextColumn("sources"),
        TextColumn("{task.fields[clips]} clips"), TimeElapsedColumn(), console=console,
        disable=not show_progress,
    )  # fmt: skip
    writer = DatasetWriter(output, cfg, backends_used(cfg), input)
    todo: list[SourceRef] = [r for r in refs if not writer.finished(r.uri)]
    triplets_before = writer.manifest.counts.triplets
    seconds_before = writer.manifest.counts.video_seconds
    task = progress.add_task("curate", total=len(todo), clips=0)
    writer.on_source_processed = lambda uri: progress.update(
        task,
        advance=1,
        clips=writer.manifest.counts.triplets + writer.triplets.pending_rows - triplets_before,
    )
    ok = True
    with progress:
        if todo:
            init_ray(cfg.ray)
            ctx = ray.data.DataContext.get_current()
            ctx.enable_progress_bars = False
            ctx.print_on_execution_start = False
            # Ray warns when fewer sources than the concurrency cap exist; expected for small inputs.
            warnings.filterwarnings("ignore", message="The maximum number of concurrent tasks")
            # Largest sources first: long files start early instead of running alone at the end.
            ordered = sorted(todo, key=lambda r: -r.size)
            ds = ray.data.from_items(
                [{"source_uri": r.uri, "_source_size": r.size, "_kind": "source"} for r in ordered],
                override_num_blocks=min(len(todo), 4096),
            )
            node_cpus = max(int(n["Resources"].get("CPU", 1)) for n in ray.nodes() if n["Alive"])
            clips_cfg = codec_threads(cfg, len(todo), node_cpus)
            for stage, actor in build_stages(cfg, clips_cfg):
                ds = map_stage(ds, stage, actor=actor, concurrency=cfg.ray.max_sources_in_flight)
            try:
                for batch in ds.iter_batches(batch_size=None, batch_format="pyarrow", prefetch_batches=1):
                    for row in batch.to_pylist():
                        writer.add(row)
            except Exception:
                ok = False
                writer.close(complete=False)
                raise
    manifest = writer.close(complete=ok)
    if cfg.writer.report:
        _write_report(Path(output), console)
    summary = CurateSummary(
        sources_listed=len(refs),
        sources_skipped=len(refs) - len(todo),
        sources_processed=len(todo),
        wall_seconds=time.perf_counter() - started,
        manifest=manifest,
        output=Path(output),
        ok=ok and manifest.status == "complete",
        new_clips=manifest.counts.triplets - triplets_before,
        new_video_seconds=manifest.counts.video_seconds - seconds_before,
    )
    print_summary(summary, console)
    return summary


def _write_report(out: Path, console: Console) -> None:
    try:
        from humo_data.report.html import write_report
    except ImportError:
        return
    try:
        path = write_report(out)
        console.print(f"report: {path}")
    except Exception as err:  # noqa: BLE001 - a report failure must not fail a finished dataset
        console.print(f"[yellow]report not written: {err}[/yellow]")


def print_summary(s: CurateSummary, console: Console) -> None:
    c = s.manifest.counts
    table = Table(title=f"humo-data curate -> {s.output}", show_header=False)
    table.add_row("sources listed", str(s.sources_listed))
    table.add_row("skipped (done in an earlier run)", str(s.sources_skipped))
    table.add_row("processed now", str(s.sources_processed))
    table.add_row("clips written now / total", f"{s.new_clips} / {c.triplets}")
    table.add_row("video seconds now / total", f"{s.new_video_seconds:.1f} / {c.video_seconds:.1f}")
    table.add_row("wall seconds", f"{s.wall_seconds:.1f}")
    table.add_row("video-seconds per second", f"{s.video_seconds_per_second:.2f}")
    table.add_row("rejects (total)", str(c.rejects))
    for reason, n in sorted(c.rejects_by_reason.items(), key=lambda kv: -kv[1]):
        table.add_row(f"  {reason}", str(n))
    table.add_row("status", s.manifest.status)
    console.print(table)
