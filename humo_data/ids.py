"""Deterministic ids: a rerun, a retried task or another machine produces the same ids, so rows
deduplicate by id and resume never doubles a clip."""

from __future__ import annotations

import hashlib
from typing import Any


def clip_id_for(source_id: str, fps: float, start_frame: int, num_frames: int) -> str:
    """sha256 of the source fingerprint + frame range at the output fps, 24 hex chars."""
    if not source_id:
        raise ValueError("a clip id needs the source's content fingerprint (source_id)")
    key = f"{source_id}|{fps:g}|{start_frame}|{num_frames}"
    return hashlib.sha256(key.encode()).hexdigest()[:24]


def reject_id_for(row: dict[str, Any]) -> str:
    """Stable id of a reject row: source, stage, reason and span."""
    key = "|".join(
        str(row.get(k))
        for k in ("source_id", "source_uri", "_reject_stage", "_reject_reason", "clip_id", "start_time")
    )
    return hashlib.sha256(key.encode()).hexdigest()[:24]
