"""``_manifest.json``: the commit point of a dataset.

A shard exists for readers once the manifest lists it; the manifest is rewritten atomically after
every shard commit, with status ``running``, and a last time with ``complete``. Its JSON Schema is
schemas/manifest.v1.json.
"""

from __future__ import annotations

import importlib.metadata as md
import json
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from humo_data.io.atomic import atomic_write_json
from humo_data.schema import MANIFEST_VERSION, REJECTS_VERSION, TRIPLET_VERSION

MANIFEST_NAME = "_manifest.json"
TRACKED_PACKAGES = (
    "humo-data", "ray", "pyarrow", "av", "scenedetect-headless", "scenedetect", "numpy",
    "opencv-python-headless", "pydantic", "soundfile", "torch",
)  # fmt: skip


def utc_now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def package_versions() -> dict[str, str]:
    versions = {}
    for name in TRACKED_PACKAGES:
        try:
            versions[name] = md.version(name)
        except md.PackageNotFoundError:
            continue
    return versions


@dataclass
class Counts:
    sources_done: int = 0
    triplets: int = 0
    rejects: int = 0
    video_seconds: float = 0.0
    rejects_by_stage: Counter = field(default_factory=Counter)
    rejects_by_reason: Counter = field(default_factory=Counter)

    def to_json(self) -> dict[str, Any]:
        return {
            "sources_done": self.sources_done,
            "triplets": self.triplets,
            "rejects": self.rejects,
            "video_seconds": round(self.video_seconds, 3),
            "rejects_by_stage": dict(sorted(self.rejects_by_stage.items())),
            "rejects_by_reason": dict(sorted(self.rejects_by_reason.items())),
        }

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Counts:
        return cls(
            sources_done=d.get("sources_done", 0),
            triplets=d.get("triplets", 0),
            rejects=d.get("rejects", 0),
            video_seconds=d.get("video_seconds", 0.0),
            rejects_by_stage=Counter(d.get("rejects_by_stage", {})),
            rejects_by_reason=Counter(d.get("rejects_by_reason", {})),
        )


@dataclass
class Manifest:
    config: dict[str, Any]
    config_hash: str
    backends: dict[str, str]
    counts: Counts = field(default_factory=Counts)
    shards: dict[str, list[dict[str, Any]]] = field(default_factory=lambda: {"triplets": [], "rejects": []})
    runs: list[dict[str, Any]] = field(default_factory=list)
    status: str = "running"
    created_at: str = field(default_factory=utc_now)

    def to_json(self) -> dict[str, Any]:
        return {
            "format": "humo-data",
            "schema_versions": {
                "triplet": TRIPLET_VERSION,
                "rejects": REJECTS_VERSION,
                "manifest": MANIFEST_VERSION,
            },
            "status": self.status,
            "created_at": self.created_at,
            "updated_at": utc_now(),
            "config": self.config,
            "config_hash": self.config_hash,
            "packages": package_versions(),
            "backends": self.backends,
            "counts": self.counts.to_json(),
            "shards": self.shards,
            "runs": self.runs,
        }

    def save(self, root: Path) -> None:
        atomic_write_json(root / MANIFEST_NAME, self.to_json())

    @classmethod
    def load(cls, root: Path) -> Manifest | None:
        path = root / MANIFEST_NAME
        if not path.exists():
            return None
        d = json.loads(path.read_text())
        return cls(
            config=d["config"],
            config_hash=d["config_hash"],
            backends=d.get("backends", {}),
            counts=Counts.from_json(d.get("counts", {})),
            shards={
                "triplets": list(d["shards"].get("triplets", [])),
                "rejects": list(d["shards"].get("rejects", [])),
            },
            runs=list(d.get("runs", [])),
            status=d.get("status", "running"),
            created_at=d.get("created_at", utc_now()),
        )
