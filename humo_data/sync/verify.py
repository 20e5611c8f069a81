"""Which SyncNet weights may set ``sync_verified``: weights known to verify, never any file that
merely loads (random or barely trained weights score too, and their scores mean nothing).

Known verifiers:

- weights whose sha256 is listed in ``sync.verifier_sha256`` (e.g. the published syncnet_v2.model,
  once you list its digest);
- weights written by ``humo-data sync-train`` whose report beside them (``<weights>.json``) names
  the same sha256 and a held-out pair accuracy >= ``sync.min_heldout_accuracy`` on at least
  ``sync.min_heldout_pairs`` pairs.

    status = verifier_status(cfg)     # Verifier(verified=False, why="sha256 3fa2... is not ...")

The stage's provenance carries ``status`` into the manifest, so a dataset says why its clips are
or are not verified.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from humo_data.sync.config import SyncConfig

REPORT_SUFFIX = ".json"


@dataclass(frozen=True)
class Verifier:
    verified: bool
    why: str
    sha256: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def report_path(weights: str | Path) -> Path:
    """Where sync-train writes the held-out report of ``weights``."""
    return Path(str(weights) + REPORT_SUFFIX)


@lru_cache(maxsize=16)
def _sha256(path: str, size: int, mtime: float) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(8 << 20):
            h.update(block)
    return h.hexdigest()


def file_sha256(path: str | Path) -> str:
    st = Path(path).stat()
    return _sha256(str(path), st.st_size, st.st_mtime)


def verifier_status(config: SyncConfig) -> Verifier:
    """Whether ``config``'s scorer may set sync_verified, and why (or why not)."""
    if config.backend != "syncnet":
        return Verifier(False, f"{config.backend} locates offsets only; it cannot verify sync")
    if not config.weights or not Path(config.weights).is_file():
        return Verifier(False, f"no SyncNet weights file at {config.weights!r}")
    digest = file_sha256(config.weights)
    if digest in {s.strip().lower() for s in config.verifier_sha256}:
        return Verifier(True, "sha256 listed in sync.verifier_sha256", digest)
    report = report_path(config.weights)
    if not report.is_file():
        return Verifier(
            False,
            f"sha256 {digest[:12]}... is not in sync.verifier_sha256 and no sync-train report "
            f"({report.name}) records a held-out accuracy",
            digest,
        )
    try:
        info = json.loads(report.read_text())
    except (OSError, ValueError) as err:
        return Verifier(False, f"{report.name} is unreadable: {err}", digest)
    acc, pairs = info.get("heldout_accuracy"), int(info.get("heldout_pairs") or 0)
    if info.get("weights_sha256") != digest:
        return Verifier(False, f"{report.name} describes other weights (sha256 differs)", digest)
    if acc is None or acc < config.min_heldout_accuracy or pairs < config.min_heldout_pairs:
        return Verifier(
            False,
            f"held-out accuracy {acc} on {pairs} pairs (needs >= {config.min_heldout_accuracy:g} on >= "
            f"{config.min_heldout_pairs} pairs)",
            digest,
        )
    return Verifier(True, f"sync-train weights: held-out accuracy {acc:.3f} on {pairs} pairs", digest)
