"""Base pydantic models shared by every config module: strict, frozen, and hashable by output.

Capability packages (faces/, audio/, ...) define their config models in their own ``config.py``
on top of this module, so ``humo_data.config`` can compose them without import cycles.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field


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
