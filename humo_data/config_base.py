"""What every config module shares: strict, frozen pydantic models hashable by output, and YAML
profiles with ``--set key=value`` overrides.

Each capability package (clips/, faces/, audio/, ...) defines its section in its own ``config.py``
on top of this module only; ``humo_data.config`` (the composition root) assembles the sections.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, ClassVar

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError


class StrictModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    #: fields that change where or how fast a job runs, never what it writes: left out of
    #: ``output_dump()`` and therefore out of every output hash (resume survives changing them)
    unhashed: ClassVar[frozenset[str]] = frozenset()

    def output_dump(self) -> dict[str, Any]:
        """The settings that change the output: this model minus ``unhashed`` fields and Resources,
        recursively."""
        out: dict[str, Any] = {}
        for name in type(self).model_fields:
            if name in self.unhashed:
                continue
            value = getattr(self, name)
            if isinstance(value, Resources):
                continue
            out[name] = value.output_dump() if isinstance(value, StrictModel) else _jsonable(value)
        return out

    def output_hash(self) -> str:
        """Short stable hash of what changes the output (stage settings), 16 hex chars."""
        return short_hash(self.output_dump())

    def config_hash(self) -> str:
        """Hash of the whole resolved config, every field included (trainer runs, provenance)."""
        return short_hash(self.model_dump(mode="json"))


def _jsonable(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if isinstance(value, (tuple, list)):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    return value


def short_hash(obj: Any) -> str:
    blob = json.dumps(obj, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


#: rows per call of a model stage's CPU default. Its backends work clip by clip on CPU (a clip's
#: stills already make the faces detector's batch), so a bigger batch only makes the first clip wait
#: for the batch to fill and the last ones drain through each stage in turn (1 vs 4/4/2 and 8 for the
#: quality tasks: ~10% faster in loaded interleaved pairs on 2 cores, within noise on a quiet
#: machine, peak RSS 3.3 -> 3.0 GiB; benchmarks/results/whole_job.json). GPU profiles batch.
CPU_BATCH_SIZE = 1


class Resources(StrictModel):
    """Ray resources of one stage: CPU stages run as tasks, model stages as (autoscaling) actor pools.
    Resources never enter an output hash: moving a run onto a bigger cluster keeps its resume."""

    num_cpus: float = Field(1.0, ge=0, description="CPUs reserved per task/actor.")
    num_gpus: float = Field(0.0, ge=0, description="GPUs per actor (fractions share a GPU).")
    concurrency: int | None = Field(
        None, ge=1, description="Max parallel tasks, or a fixed actor pool size; None lets Ray decide."
    )
    min_actors: int | None = Field(
        None,
        ge=1,
        description="Autoscaling actor pool: smallest size (with max_actors; overrides concurrency).",
    )
    max_actors: int | None = Field(None, ge=1, description="Autoscaling actor pool: largest size.")
    batch_size: int = Field(1, ge=1, description="Rows per call; explicit for GPU stages.")


# --- YAML profiles and overrides -----------------------------------------------------------------


class ConfigError(ValueError):
    """A config file or override is wrong; the message names the key."""


def configs_dir() -> Path:
    """configs/ (repo root); in a wheel the humo_data/_configs link is a real folder."""
    return Path(__file__).parent / "_configs"


def resolve_profile(
    name_or_path: str | Path, directory: Path | None = None, kind: str = "config profile"
) -> Path:
    """A path to a YAML file, or the name of a profile in ``directory`` (default configs/)."""
    directory = directory or configs_dir()
    p = Path(name_or_path)
    if p.suffix in (".yaml", ".yml") or p.exists():
        if not p.exists():
            raise ConfigError(f"config file not found: {p}")
        return p
    candidate = directory / f"{name_or_path}.yaml"
    if not candidate.exists():
        known = sorted(x.stem for x in directory.glob("*.yaml"))
        raise ConfigError(f"unknown {kind} {name_or_path!r}; known: {known}, or pass a YAML path")
    return candidate


def apply_override(data: dict[str, Any], assignment: str) -> None:
    """Apply ``a.b.c=value`` to nested dict ``data``; the value is parsed as YAML (8, true, [1, 2], text)."""
    if "=" not in assignment:
        raise ConfigError(f"override {assignment!r} must look like key.path=value")
    key, raw = assignment.split("=", 1)
    parts = [p for p in key.strip().split(".") if p]
    if not parts:
        raise ConfigError(f"override {assignment!r} has an empty key")
    node = data
    for part in parts[:-1]:
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            raise ConfigError(f"override {key!r}: {part!r} is not a section")
        node = child
    node[parts[-1]] = yaml.safe_load(raw) if raw.strip() else None


def _format_validation_error(err: ValidationError, origin: str) -> str:
    lines = [f"invalid config ({origin}):"]
    for e in err.errors():
        if not e["loc"]:  # a rule across sections: its message says everything (no dump of the input)
            lines.append(f"  {e['msg'].removeprefix('Value error, ')}")
            continue
        key = ".".join(str(x) for x in e["loc"])
        msg = "unknown key" if e["type"] == "extra_forbidden" else e["msg"]
        lines.append(
            f"  {key}: {msg}" + ("" if e["type"] == "extra_forbidden" else f" (got {e.get('input')!r})")
        )
    return "\n".join(lines)


def build_model(model_cls: type[StrictModel], data: dict[str, Any], origin: str) -> Any:
    try:
        return model_cls.model_validate(data)
    except ValidationError as err:
        raise ConfigError(_format_validation_error(err, origin)) from None


def load_yaml(path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as err:
        raise ConfigError(f"{path}: not valid YAML: {err}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: top level must be a mapping of sections")
    return data
