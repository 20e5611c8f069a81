"""The curation plan: every stage of a job, built once from the config, checked before anything runs.

    plan = CurationPlan.build(cfg)      # raises PlanError naming the stage and the column
    plan.stream                         # per-clip stages after the cutter, in order
    plan.describe()                     # what `humo-data plan` prints: stages, backends, resources

The order lives here and only here. To add a stage: write its module (a ``Stage`` with ``name``
= its config section, ``inputs``, ``outputs``) and add its class to ``STREAM_STAGES`` (per clip,
in the streaming pass) or ``CAPTION_STAGES`` (survivors only); give ``CurateConfig`` its section.

The check: every stage reads only columns an earlier stage or the source produces, writes only
columns of the working schema, and names are unique. At run time ``Stage.__call__`` holds the
same contract (a stage sees only its declared inputs, and an undeclared write fails).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa

from humo_data.audio.stage import AudioStage
from humo_data.captions.stage import CaptionStage
from humo_data.clips.cutter import ClipCutStage, cut_config
from humo_data.config import CurateConfig
from humo_data.config_base import Resources, short_hash
from humo_data.faces.stage import FaceStage
from humo_data.jobs.provenance import describe_weights
from humo_data.probe.stage import ProbeStage
from humo_data.quality import AestheticStage, CaptionAlignmentStage, FaceQualityStage, QualityStage
from humo_data.schema import rows_to_table, triplet_schema, work_schema
from humo_data.stage import Stage
from humo_data.sync.stage import SyncStage

#: the streaming pass after probe and cut, in order: cheap gates first so models see survivors
STREAM_STAGES: tuple[type[Stage], ...] = (
    QualityStage,
    AestheticStage,
    FaceStage,
    FaceQualityStage,
    AudioStage,
    SyncStage,
)
#: the survivors-only phase over committed rows, in order
CAPTION_STAGES: tuple[type[Stage], ...] = (CaptionStage, CaptionAlignmentStage)
#: what a source row carries into the stream (io/sources.py lists them)
SOURCE_COLUMNS = ("source_uri", "_source_size", "_kind", "source_meta")
#: what a stage rerun or the captions phase rebuilds from the stored clip (jobs/phases.py)
REBUILT_COLUMNS = ("_kind", "_frames", "_audio_pcm", "_audio_margin")


class PlanError(ValueError):
    """The stages of a config do not fit together; the message names the stage and the column."""


@dataclass(frozen=True)
class StageInfo:
    """One line of ``describe()``."""

    phase: str
    name: str
    runs_as: str
    backend: str | None = None
    resources: Resources | None = None
    reads: tuple[str, ...] = ()
    writes: tuple[str, ...] = ()
    weights: dict[str, str | None] = field(default_factory=dict)
    note: str | None = None


@dataclass
class CurationPlan:
    config: CurateConfig
    probe: ProbeStage
    cut: ClipCutStage
    stream: list[Stage]
    captions: list[Stage]
    #: captions run as a vLLM Ray Data processor (ray.data.llm) instead of a batch stage
    captions_vllm: bool = False
    #: stages the config left out, and why
    skipped: dict[str, str] = field(default_factory=dict)
    #: template captions written in the stream (no model, no survivors-only gate needed): the
    #: captions phase then has nothing to do for new rows, and still reruns changed ones
    captions_in_stream: bool = False

    @classmethod
    def build(cls, cfg: CurateConfig) -> CurationPlan:
        skipped: dict[str, str] = {}
        present: set[str] = {"probe", "clips"}
        stream = _enabled(STREAM_STAGES, cfg, present, skipped)
        captions_vllm = cfg.captions.enabled and cfg.captions.backend == "vllm"
        if captions_vllm:
            present.add("captions")
        captions = _enabled(
            CAPTION_STAGES, cfg, present, skipped, exclude={"captions"} if captions_vllm else set()
        )
        in_stream = [s for s in captions if s.name == "captions"] if template_captions_in_stream(cfg) else []
        plan = cls(cfg, ProbeStage(cfg.probe), ClipCutStage(cut_config(cfg)), stream + in_stream, captions,
                   captions_vllm, skipped, bool(in_stream))  # fmt: skip
        plan.check()
        return plan

    # --- the check ------------------------------------------------------------------------------
    def check(self) -> None:
        """Every stage's inputs come from an earlier stage or the source; outputs are schema
        columns; names are unique."""
        for group in ([self.probe, self.cut, *self.stream], self.captions):
            names = [s.name for s in group]
            dupes = sorted({n for n in names if names.count(n) > 1})
            if dupes:
                raise PlanError(f"stage names must be unique in a phase: {dupes} appear twice")
        check_stages([self.probe, self.cut, *self.stream], SOURCE_COLUMNS)
        committed = (*triplet_schema().names, *REBUILT_COLUMNS)
        check_stages(self.captions, committed)

    def preflight(self) -> None:
        """Each stage's own check that what it will load is installed (raises with what to do)."""
        for stage in (self.probe, self.cut, *self.stream, *self.captions):
            stage.preflight()

    # --- views --------------------------------------------------------------------------------
    @property
    def stream_names(self) -> list[str]:
        return [s.name for s in self.stream]

    @property
    def phase_stage_names(self) -> set[str]:
        """Stages a later phase owns (a stream stage of that name is that phase's work done early)."""
        return {s.name for s in self.captions}

    def stream_hashes(self) -> dict[str, str]:
        """Stage hashes a freshly streamed triplet shard reflects (recorded on the shard); captions
        written in the stream count as the captions phase done."""
        hashes = {s.name: s.output_hash() for s in self.stream if s.name not in self.phase_stage_names}
        if self.captions_in_stream:
            hashes["captions"] = captions_hash(self.config)
        return hashes

    def describe(self) -> list[StageInfo]:
        """Every stage and phase in order, with its backend, resources, weights and columns."""
        out = [
            _info("stream", self.probe, backend="pyav"),
            _info(
                "stream",
                self.cut,
                "tasks (one decode per source)",
                f"{self.config.clips.video_backend}+{self.config.shots.backend}",
            ),
            *(_info("stream", s) for s in self.stream),
            StageInfo("stream", "write", "tasks", "parquet", note="shards written on the workers"),
        ]
        if self.config.identity.enabled and self.config.faces.enabled:
            out.append(StageInfo("identity", "identity", "grouped by source, then across sources",
                                 f"{self.config.faces.backend}-clusters+{self.config.faces.context_backend}",
                                 reads=("features/faces",), writes=("identity_id", "reference_images", "reference_kind")))  # fmt: skip
        else:
            out.append(
                StageInfo(
                    "identity",
                    "identity",
                    "-",
                    note="off" if not self.config.identity.enabled else "needs faces (off)",
                )
            )
        if self.captions_vllm:
            c = self.config.captions
            out.append(StageInfo("captions", "captions", "vLLM engines (ray.data.llm)", f"vllm:{c.model_dir}",
                                 c.resources, writes=CaptionStage.outputs, weights={"model_dir": c.model_dir}))  # fmt: skip
        out += [_info("captions", s) for s in self.captions]
        out.append(StageInfo("finish", "finish", "tasks (one per rewritten shard)",
                             note="side tables merged; stage1/stage2 derived from the gate columns"))  # fmt: skip
        for name, why in self.skipped.items():
            out.append(StageInfo("-", name, "-", note=why))
        return out


def captions_hash(cfg: CurateConfig) -> str:
    """What the captions phase's output depends on: the captioner and the caption-frame score."""
    return short_hash(
        {"captions": cfg.captions.output_hash(), "alignment": cfg.caption_alignment.output_hash()}
    )


def template_captions_in_stream(cfg: CurateConfig) -> bool:
    """Template captions need no model and no survivors-only gate, so the stream writes them (and
    the captions phase, with its Ray start-up and a decode of every stored clip, is skipped), unless
    a caption-frame score must follow them or only stage-1 candidates are to be captioned."""
    c = cfg.captions
    return (
        c.enabled
        and c.backend == "template"
        and not c.only_stage1_candidates
        and not cfg.caption_alignment.enabled
    )


def _enabled(classes: tuple[type[Stage], ...], cfg: CurateConfig, present: set[str], skipped: dict[str, str],
             exclude: set[str] = frozenset()) -> list[Stage]:  # fmt: skip
    stages = []
    for stage_cls in classes:
        if stage_cls.name in exclude:
            continue
        section = getattr(cfg, stage_cls.name, None)
        if section is None:
            raise PlanError(
                f"stage {stage_cls.name!r} has no config section {stage_cls.name!r} in CurateConfig"
            )
        if not stage_cls.is_enabled(section):
            skipped[stage_cls.name] = "off"
            continue
        missing = [n for n in stage_cls.needs if n not in present]
        if missing:
            skipped[stage_cls.name] = f"needs {', '.join(missing)} (off)"
            continue
        stages.append(stage_cls(section))
        present.add(stage_cls.name)
    return stages


def check_stages(stages: list[Stage], available: tuple[str, ...]) -> None:
    """Walk ``stages`` in order: each must read only what ``available`` or an earlier one produces,
    and write only working-schema columns."""
    have = set(available)
    schema = set(work_schema().names)
    for stage in stages:
        missing = [c for c in stage.inputs if c not in have]
        if missing:
            raise PlanError(
                f"stage {stage.name!r} reads {', '.join(map(repr, missing))}, which no earlier stage or the "
                "source produces: declare it in the producing stage's outputs, or mark it optional_inputs"
            )
        unknown = [c for c in stage.outputs if c not in schema]
        if unknown:
            raise PlanError(
                f"stage {stage.name!r} writes {', '.join(map(repr, unknown))}, not in the working schema: "
                "add the column to schemas/ (triplet columns) or humo_data/schema.py (working columns)"
            )
        have |= set(stage.outputs)


def _info(phase: str, stage: Stage, runs_as: str | None = None, backend: str | None = None) -> StageInfo:
    runs_as = runs_as or ("actor pool" if stage.actor else "tasks")
    backend = backend or stage.provenance().get("backend")
    return StageInfo(
        phase, stage.name, runs_as, backend, stage.resources, stage.reads(), stage.outputs, stage.weights()
    )


def stage_manifest_info(stage: Stage) -> dict[str, Any]:
    """The manifest entry of a stage: hash, provenance fields and its weights' digests."""
    info: dict[str, Any] = {"hash": stage.output_hash(), **stage.provenance()}
    weights = describe_weights(stage.weights())
    if weights:
        info["weights"] = weights
    return info


def plan_table(plan: CurationPlan, title: str = "") -> Any:
    """``describe()`` for a terminal (``humo-data plan``): a table of the stages, then what each
    one reads and writes."""
    import os

    from rich.console import Group
    from rich.table import Table
    from rich.text import Text

    table = Table(title=f"curation plan{f' ({title})' if title else ''}")
    for col in ("phase", "stage", "runs as", "backend", "resources", "weights"):
        table.add_column(col, overflow="fold")
    lines = Text()
    for info in plan.describe():
        res = info.resources
        resources = ""
        if res is not None:
            resources = f"cpu {res.num_cpus:g} gpu {res.num_gpus:g} batch {res.batch_size}"
            if res.min_actors or res.max_actors:
                resources += f" actors {res.min_actors or 1}-{res.max_actors or res.min_actors or 1}"
        weights = "\n".join(
            f"{k}: {_short(v)}" + ("" if "://" in v or os.path.exists(v) else " (missing)")
            for k, v in info.weights.items() if v
        )  # fmt: skip
        runs_as = f"{info.runs_as} ({info.note})" if info.note else info.runs_as
        table.add_row(info.phase, info.name, runs_as, info.backend or "", resources, weights)
        if info.reads or info.writes:
            lines.append(f"{info.name}", style="bold")
            lines.append(
                f"  reads {', '.join(info.reads) or '-'}\n  writes {', '.join(info.writes) or '-'}\n"
            )
    return Group(table, Text("\ncolumns", style="bold underline"), lines)


def _short(path: str) -> str:
    """A weights path for a table cell: files shipped inside an installed package by package name."""
    parts = path.replace("\\", "/").split("/")
    if "site-packages" in parts:
        return "(installed) " + "/".join(parts[parts.index("site-packages") + 1 :])
    return path


def cut_source(uri: str, cfg: CurateConfig | None = None) -> pa.Table:
    """Probe and cut one file in this process: the working table later stages receive (clip rows
    with ``_frames``, ``_motion``, ``_audio_pcm``; reject rows; the ``done`` marker). For tests,
    notebooks and benchmarks of single stages; the job runs the same stages on Ray."""
    from humo_data.io.sources import source_size

    cfg = cfg or CurateConfig()
    source = {"source_uri": str(uri), "_kind": "source", "_source_size": source_size(str(uri))}
    rows = ProbeStage(cfg.probe).process([source])
    tables = list(ClipCutStage(cut_config(cfg))(rows_to_table(rows)))
    return pa.concat_tables(tables) if tables else rows_to_table([])


def run_source(uri: str, cfg: CurateConfig | None = None) -> pa.Table:
    """The streaming pass on one file in this process, every stage of the plan in order: the rows
    the job's shard writer would receive (measure a stage on these, not on rows built another way)."""
    plan = CurationPlan.build(cfg or CurateConfig())
    table = cut_source(uri, plan.config)
    for stage in plan.stream:
        table = stage(table)
    return table
