"""What a rehearsal of the GPU profile proves, each check a list of problems (empty = passed):

- ``backends``: every stage's manifest entry names the backend the profile asks for, and the rows'
  ``*_backend`` columns never name an offline default (a fallback never passes for a real model);
- ``weights``: every weights path the profile names is in the manifest with its size and sha256;
- ``actor_pools``: every model stage is planned as an actor pool and one was started on Ray;
- ``gpu_resources``: every model stage that runs on a GPU device ('cuda' or 'auto') asks Ray for a
  GPU share, or on a cluster it would run on the CPU of a GPU node;
- ``captions``: the VLM captioned exactly the stage-1 candidates (rows with a reference of at least
  ``identity.min_reference_kind``), when the profile says ``only_stage1_candidates``;
- ``valid``: the dataset passes ``humo-data validate``.
"""

from __future__ import annotations

from typing import Any

import pyarrow.parquet as pq

from humo_data.config import CurateConfig
from humo_data.identity.config import KIND_RANK
from humo_data.io.dataset import open_dataset
from humo_data.io.validate import validate_dataset
from humo_data.jobs.plan import CurationPlan
from humo_data.jobs.provenance import weights_digest
from humo_data.rehearsal.profile import configured_weights


def offline_default_backends() -> set[str]:
    """Backend names of the offline defaults (a fresh CurateConfig), which a GPU run must not show."""
    d = CurateConfig()
    names = {d.faces.backend, d.sync.backend, d.captions.backend, d.audio.asr.backend,
             d.audio.separation.backend, d.audio.diarization.backend}  # fmt: skip
    return {n for n in names if n != "none"}


def _tokens(value: str) -> set[str]:
    """'silero-vad-v5+faster-whisper' -> {'silero-vad-v5', 'faster-whisper'}; 'transformers:x' -> {'transformers'}."""
    return {part.split(":")[0] for part in value.split("+")}


def check_backends(manifest: dict[str, Any], plan: CurationPlan, triplets: list[dict[str, Any]]) -> list[str]:
    problems = []
    for stage in (*plan.stream, *plan.captions):
        want = stage.provenance().get("backend")
        got = manifest.get("stages", {}).get(stage.name, {}).get("backend")
        if want and got != want:
            problems.append(f"{stage.name}: manifest says backend {got!r}, the profile asks for {want!r}")
    defaults = offline_default_backends()
    for row in triplets:
        for col, value in row.items():
            if col.endswith("_backend") and value and _tokens(value) & defaults:
                problems.append(f"{row['clip_id']}: {col}={value!r} is an offline default")
    return problems


def check_weights(manifest: dict[str, Any], plan: CurationPlan) -> list[str]:
    problems = []
    for stage in (*plan.stream, *plan.captions):
        recorded = {w["field"]: w for w in manifest.get("stages", {}).get(stage.name, {}).get("weights", [])}
        for field, path in configured_weights(plan).get(stage.name, {}).items():
            digest = weights_digest(path)
            entry = recorded.get(field)
            if entry is None:
                problems.append(f"{stage.name}.{field}: not in the manifest")
            elif digest is None:
                problems.append(f"{stage.name}.{field}: {path} is missing")
            elif (entry.get("path"), entry.get("sha256")) != (digest["path"], digest["sha256"]):
                problems.append(f"{stage.name}.{field}: manifest has {entry.get('path')} "
                                f"sha256 {entry.get('sha256')}, the file is {digest['sha256']}")  # fmt: skip
    return problems


def check_actor_pools(plan: CurationPlan, actors: dict[str, int] | None) -> list[str]:
    problems = []
    described = {i.name: i.runs_as for i in plan.describe()}
    for stage in (*plan.stream, *plan.captions):
        if not stage.weights():
            continue
        if described.get(stage.name) != "actor pool":
            problems.append(f"{stage.name}: loads a model but runs as {described.get(stage.name)!r}")
        if actors is not None and not actors.get(type(stage).__name__):
            problems.append(f"{stage.name}: no Ray actor ran {type(stage).__name__}")
    return problems


def check_gpu_resources(plan: CurationPlan) -> list[str]:
    problems = []
    for stage in (*plan.stream, *plan.captions):
        device = str(
            getattr(stage.config, "device", "") or getattr(getattr(stage.config, "asr", None), "device", "")
        )
        if stage.actor and (device == "auto" or device.startswith("cuda")) and not stage.resources.num_gpus:
            problems.append(
                f"{stage.name}: device {device!r} but resources.num_gpus=0: Ray gives its actors no GPU, so "
                f"on a GPU cluster it runs on the CPU (set {stage.name}.resources.num_gpus)"
            )
    return problems


def check_captions(cfg: CurateConfig, triplets: list[dict[str, Any]]) -> list[str]:
    if not (cfg.captions.enabled and cfg.captions.only_stage1_candidates and cfg.identity.enabled):
        return []
    need = KIND_RANK[cfg.identity.min_reference_kind]
    problems = []
    for row in triplets:
        candidate = KIND_RANK.get(row.get("reference_kind") or "", 0) >= need
        captioned = row.get("caption_backend") is not None
        if candidate != captioned:
            what = "captioned though not" if captioned else "not captioned though"
            problems.append(
                f"{row['clip_id']}: {what} a stage-1 candidate (reference {row.get('reference_kind')})"
            )
    return problems


def read_triplets(output: str) -> list[dict[str, Any]]:
    """The light columns of every committed triplet (ids, backends, references, captions, flags)."""
    ds = open_dataset(output)
    rows = []
    for entry in ds.shards("triplets"):
        schema = pq.read_schema(ds.store.open_read(entry["path"]))
        cols = [c for c in schema.names if c.endswith("_backend")]
        cols += ["clip_id", "reference_kind", "caption", "caption_reason", "stage1", "stage2"]
        table = pq.read_table(
            ds.store.open_read(entry["path"]), columns=[c for c in cols if c in schema.names]
        )
        rows += table.to_pylist()
    return rows


def check_rehearsal(
    output: str, cfg: CurateConfig, actors: dict[str, int] | None = None
) -> dict[str, list[str]]:
    """Every check on a finished run of ``cfg`` in ``output``; ``actors`` as ``run.stage_actors()``
    found them (None: the run's Ray cluster is gone, only the plan is checked)."""
    plan = CurationPlan.build(cfg)
    manifest = open_dataset(output).manifest
    triplets = read_triplets(output)
    return {
        "backends": check_backends(manifest, plan, triplets),
        "weights": check_weights(manifest, plan),
        "actor_pools": check_actor_pools(plan, actors),
        "gpu_resources": check_gpu_resources(plan),
        "captions": check_captions(cfg, triplets),
        "valid": validate_dataset(output),
    }
