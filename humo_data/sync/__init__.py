"""Audio-visual sync: scorers (SyncNet, an offline landmark/envelope scorer), gates and realignment.

``SyncStage`` is imported lazily so that ``humo_data.config`` can import ``sync.config`` cheaply.
"""

from __future__ import annotations

from typing import Any

__all__ = ["SyncStage"]


def __getattr__(name: str) -> Any:
    if name == "SyncStage":
        from humo_data.sync.stage import SyncStage

        return SyncStage
    raise AttributeError(name)
