"""The curation job, in phases under one manifest, each resumable:

1. **stream**   sources -> probe -> cut -> quality -> faces -> audio -> sync -> worker-side shards
2. **identity** grouped by source (and across sources): references for every clip
3. **captions** survivors only (committed rows), so a VLM never sees a rejected clip
4. **finish**   side tables merged into the shards, stage1/stage2 flags, counts, report

Local (starts a Ray cluster on this machine) or on a cluster, same code:

    humo-data curate --input videos/ --output out/ --config default
    ray job submit --working-dir . -- python pipelines/curate.py --input s3://b/videos --output s3://b/out --config gpu

One run at a time per output (a lease); rerun the same command after a crash, a ``kill -9`` or a
lost node: finished sources are skipped, committed rows are never written twice, and every phase
continues where it stopped.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from humo_data import stage_stats
from humo_data.config import CurateConfig
from humo_data.io.committer import Committer
from humo_data.io.dataset import Dataset
from humo_data.io.manifest import DatasetState, utc_now
from humo_data.io.run import check_output, dataset_run
from humo_data.io.sources import SourceRef, list_sources
from humo_data.io.store import Store
from humo_data.jobs.phases import run_captions_phase, run_identity_phase, run_reruns
from humo_data.jobs.plan import CurationPlan, stage_manifest_info
from humo_data.jobs.ray_log import RayOutput
from humo_data.jobs.stream import new_run_id, run_stream, stream_stage_infos
from humo_data.report.stages_section import stage_table


class ResumeConflict(RuntimeError):
    """The output holds a dataset cut with different settings; the message says what to do."""


@dataclass
class CurateSummary:
    sources_listed: int
    sources_skipped: int
    sources_processed: int
    wall_seconds: float
    manifest: dict[str, Any]
    output: str
    ok: bool = True
    new_clips: int = 0
    new_video_seconds: float = 0.0
    retryable: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    #: a systemic fault's message (every source rejected one way): the run failed, nothing kept
    fault: str | None = None
    #: the plan's stage names in order, and this run's stats (stages, phases) from the manifest
    stage_order: list[str] = field(default_factory=list)
    run_stats: dict[str, Any] = field(default_factory=dict)

    @property
    def video_seconds_per_second(self) -> float:
        return self.new_video_seconds / self.wall_seconds if self.wall_seconds else 0.0


def open_for_run(state: DatasetState, cfg: CurateConfig, notes: list[str]) -> bool:
    """Create the dataset state, or check that the output was cut the same way and note changed
    stages; returns whether the run resumes an earlier one."""
    config = cfg.model_dump(mode="json")
    if not state.exists:
        state.create(config, cfg.config_hash())
    else:
        previous = state.manifest.get("config", {})
        cut_before = state.manifest.get("stages", {}).get("clips", {}).get("hash")
        if cut_before is not None and cut_before != cfg.cut_hash():
            changed = [s for s in CurateConfig.CUT_SECTIONS if previous.get(s) != config.get(s)]
            raise ResumeConflict(
                f"{state.store.uri} was cut with other {'/'.join(changed) or 'cut'} settings (clip boundaries "
                "would differ). Rerun with the same probe/shots/clips/frames values to resume or add "
                "sources, or choose a new --output."
            )
        if state.manifest.get("config_hash") != cfg.config_hash():
            notes.append("config changed since the last run: changed stages rerun over committed rows")
        state.manifest["config"] = config
        state.manifest["config_hash"] = cfg.config_hash()
    state.manifest["status"] = "running"
    return bool(state.finished)


class PhaseClock:
    """Wall seconds of each phase of this run, as the driver sees them (recorded with the stats)."""

    def __init__(self) -> None:
        self.phases: dict[str, dict[str, float]] = {}

    @contextmanager
    def __call__(self, name: str) -> Iterator[None]:
        t0 = time.perf_counter()
        try:
            yield
        finally:
            entry = self.phases.setdefault(name, {"wall_seconds": 0.0})
            entry["wall_seconds"] += time.perf_counter() - t0


class Interrupted(RuntimeError):
    """Ctrl-C during a run: what is committed stays; the message says how to resume."""


def run_curate(input: str, output: str, cfg: CurateConfig, show_progress: bool = True, *,
               allow_nonempty_output: bool = False, verbose: bool = False) -> CurateSummary:  # fmt: skip
    """Curate ``input`` into ``output``. Everything that can be wrong with the command (the plan,
    its installs, the input, an output holding other files) is checked before anything is created.
    Ray's console output goes to ``OUT/_logs/<run>.log`` unless ``verbose``."""
    started = time.perf_counter()
    plan = CurationPlan.build(cfg)
    plan.preflight()
    refs = list_sources(input, cfg.sources)
    check_output(str(output), allow_nonempty_output)
    store = Store.open(str(output))
    run_id = new_run_id()
    with RayOutput(store, run_id, verbose) as ray_out:
        console = Console(file=ray_out.console_stream, stderr=verbose)
        try:
            summary = _run(refs, input, output, cfg, plan, store, run_id, console, show_progress, ray_out)
        except KeyboardInterrupt:  # not Ray's "execution failed" traceback: what stays, and what to do
            finished = DatasetState(store).finished  # what a rerun will skip (committed records)
            done = sum(1 for r in refs if r.uri in finished)
            raise Interrupted(
                f"interrupted: {done} sources committed, rerun the same command to resume"
            ) from None
        summary.wall_seconds = time.perf_counter() - started
        print_summary(summary, console)
    return summary


def _run(refs: list[SourceRef], input: str, output: str, cfg: CurateConfig, plan: CurationPlan, store: Store,
         run_id: str, console: Console, show_progress: bool, ray_out: RayOutput) -> CurateSummary:  # fmt: skip
    from humo_data.ray_compute import init_ray

    clock = PhaseClock()
    with dataset_run(store, run_id, str(input), lease_seconds=cfg.writer.lease_seconds,
                     open_state=lambda st, notes: open_for_run(st, cfg, notes)) as run:  # fmt: skip
        state, notes = run.state, run.notes
        todo: list[SourceRef] = [r for r in refs if r.uri not in state.finished]
        counts = state.manifest["counts"]
        clips_before, seconds_before = counts.get("triplets", 0), counts.get("video_seconds", 0.0)
        state.record([{"t": "stage", "name": n, "info": i} for n, i in stream_stage_infos(plan).items()])
        progress = Progress(
            TextColumn("[bold]curating"), BarColumn(), MofNCompleteColumn(), TextColumn("sources"),
            TextColumn("{task.fields[clips]} clips"), TimeElapsedColumn(), console=console,
            disable=not show_progress,
        )  # fmt: skip
        task = progress.add_task("curate", total=len(todo), clips=0)
        committer = Committer(
            state, row_group_rows=cfg.writer.row_group_rows, compression=cfg.writer.compression,
            compact_every_seconds=cfg.writer.compact_every_seconds,
            systemic_fault_min_sources=cfg.writer.systemic_fault_min_sources,
            on_source_processed=lambda uri: progress.update(task, advance=1),
            shard_stages=plan.stream_hashes(),
        )  # fmt: skip
        retryable: list[str] = []
        unfinished: list[str] = []
        fault = None
        with progress:
            if todo:
                ray_out.start()
                with clock("ray_start"):
                    started_line = init_ray(cfg.ray)
                if started_line:
                    console.print(
                        started_line + (f"; its log: {ray_out.shown}" if ray_out.shown else ""),
                        highlight=False,
                        soft_wrap=True,
                    )
                owners = {e["source_id"]: u for u, e in state.finished.items() if e.get("source_id")}
                owners.update({s.source_id: u for u, s in committer.sources.items() if s.source_id})
                with clock("stream"):
                    result = run_stream(
                        todo, plan, store, committer, run_id, owners,
                        on_batch=lambda: progress.update(task, clips=committer.clips_committed),
                    )  # fmt: skip
                fault = committer.settle(len(todo))
                committer.flush()
                retryable, unfinished = committer.retryable, result.unfinished
                notes += committer.notes
                if result.duplicates_dropped:
                    notes.append(f"{result.duplicates_dropped} duplicate row(s) from retried work dropped")
        complete = not retryable and not unfinished
        state.record([{"t": "phase", "name": "stream", "status": "complete" if complete else "incomplete",
                       "at": utc_now()}])  # fmt: skip
        later_stats: dict[str, Any] = {}
        if complete:
            ray_out.start()  # the later phases start Ray when the stream did not
            notes += run_later_phases(run.ds, plan, console, clock, later_stats)
        state.record([{"t": "stats", "run_id": run_id, "stages": later_stats, "phases": clock.phases}])
        state.manifest["status"] = "complete" if complete else "running"
    if cfg.writer.report:
        _write_report(str(output), console)
    m = state.manifest
    return CurateSummary(
        sources_listed=len(refs),
        sources_skipped=len(refs) - len(todo),
        sources_processed=len(todo),
        wall_seconds=0.0,
        manifest=m,
        output=str(output),
        ok=complete,
        new_clips=m["counts"].get("triplets", 0) - clips_before,
        new_video_seconds=m["counts"].get("video_seconds", 0.0) - seconds_before,
        retryable=retryable,
        notes=notes,
        fault=fault.message() if fault else None,
        stage_order=[i.name for i in plan.describe()],
        run_stats=next((r.get("stats") for r in reversed(m["runs"]) if r.get("run_id") == run_id), None)
        or {},
    )


def run_later_phases(ds: Dataset, plan: CurationPlan, console: Console, clock: PhaseClock | None = None,
                     stats: dict[str, Any] | None = None) -> list[str]:  # fmt: skip
    """Reruns of changed per-clip stages, identity, captions, then finish (each resumable); the
    stages' numbers are summed into ``stats`` and the phases' wall seconds into ``clock``."""
    from humo_data.jobs.finish import run_finish
    from humo_data.ray_compute import init_ray

    cfg = plan.config
    clock = clock or PhaseClock()
    stats = {} if stats is None else stats
    notes = []
    with clock("ray_start"):
        init_ray(cfg.ray)
    with console.status("[bold]later phases: reruns, identity, captions, finish"):
        with clock("reruns"):
            reran = run_reruns(ds, plan, stats)
        if reran:
            notes.append(f"reran over committed rows: {', '.join(reran)}")
        with clock("identity"):
            clips_with_faces = run_identity_phase(ds, cfg)
        if clips_with_faces is not None:
            notes.append("identity pass: references chosen")
            stage_stats.add(stats, {"identity": {"rows_in": clips_with_faces, "rows_out": clips_with_faces,
                                                 "seconds": clock.phases["identity"]["wall_seconds"]}})  # fmt: skip
        with clock("captions"):
            captioned = run_captions_phase(ds, plan, stats)
        if captioned:
            notes.append(f"captions: {captioned} shard(s) captioned")
        with clock("finish"):
            rewritten, finish_stats = run_finish(ds, cfg)
        stage_stats.add(stats, finish_stats)
        if rewritten:
            notes.append(f"finish: {rewritten} shard(s) merged and flagged")
    ds.state.record([{"t": "stage", "name": n, "info": i} for n, i in later_stage_infos(plan).items()])
    return notes


def later_stage_infos(plan: CurationPlan) -> dict[str, dict]:
    cfg = plan.config
    infos = {}
    if cfg.identity.enabled and cfg.faces.enabled:
        infos["identity"] = {"hash": cfg.identity.output_hash(), "backend": f"{cfg.faces.backend}-clusters"}
    for s in plan.captions:
        infos[s.name] = stage_manifest_info(s)
    if plan.captions_vllm:
        infos["captions"] = {"hash": cfg.captions.output_hash(), "backend": "vllm"}
    return infos


def _write_report(output: str, console: Console) -> None:
    try:
        from humo_data.report.html import write_report

        path = write_report(output)
        console.print(f"report: {path}")
    except Exception as err:  # noqa: BLE001 - a report failure must not fail a finished dataset
        console.print(f"[yellow]report not written: {err}[/yellow]")


def print_summary(s: CurateSummary, console: Console) -> None:
    c = s.manifest["counts"]
    table = Table(title=f"humo-data curate -> {s.output}", show_header=False)
    table.add_row("sources listed", str(s.sources_listed))
    table.add_row("skipped (done in an earlier run)", str(s.sources_skipped))
    table.add_row("processed now", str(s.sources_processed))
    table.add_row("clips written now / total", f"{s.new_clips} / {c.get('triplets', 0)}")
    table.add_row(
        "video seconds now / total", f"{s.new_video_seconds:.1f} / {c.get('video_seconds', 0.0):.1f}"
    )
    table.add_row("wall seconds", f"{s.wall_seconds:.1f}")
    table.add_row("video-seconds per second", f"{s.video_seconds_per_second:.2f}")
    subsets = c.get("subsets", {})
    if subsets:
        table.add_row("stage 1 / stage 2 rows", f"{subsets.get('stage1', 0)} / {subsets.get('stage2', 0)}")
    table.add_row("rejects (total)", str(c.get("rejects", 0)))
    for reason, n in sorted(c.get("rejects_by_reason", {}).items(), key=lambda kv: -kv[1]):
        table.add_row(f"  {reason}", str(n))
    if c.get("dropped_tails"):
        table.add_row(
            "short tails dropped", f"{c['dropped_tails']} ({c.get('dropped_tail_seconds', 0.0):.1f} s)"
        )
    if s.retryable:
        table.add_row("[yellow]retryable (rerun to retry)[/yellow]", str(len(s.retryable)))
    for note in s.notes:
        table.add_row("note", note)
    table.add_row("status", s.manifest["status"])
    console.print(table)
    stages = (s.run_stats or {}).get("stages") or {}
    if stages:
        console.print(stage_table(stages, s.stage_order, (s.run_stats or {}).get("phases") or {}))
