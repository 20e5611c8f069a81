"""Work units (a row group of a triplet shard, or a chunk of a HuMoSet folder) and their
deterministic assignment to (rank, DataLoader worker) per epoch.

Units are the shuffling and sharding granule: each epoch permutes the unit list with
(seed, epoch), and global worker g of G takes units g, g+G, g+2G, ... Rows inside a unit are
permuted with (seed, epoch, unit key). Position in the stream is therefore three integers
(epoch, unit index, row index) per global worker: that is the loader state saved in checkpoints.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

import numpy as np

from humo_data.humoset.layout import is_humoset, scan_humoset
from humo_data.train.config import DataConfig
from humo_data.train.data import columns as C
from humo_data.train.data.shards import list_shards, read_row_group, shard_info

HUMOSET_CHUNK = 16


@dataclass(frozen=True)
class Unit:
    kind: Literal["triplets", "humoset"]
    source: str  # shard URI, or HuMoSet root
    index: int  # row group, or chunk number
    num_rows: int

    @property
    def key(self) -> str:
        return f"{self.source}#{self.index}"


@lru_cache(maxsize=8)
def _humoset_entries(root: str) -> tuple:
    """One directory scan per process (a HuMoSet folder holds ~670K videos; units are chunks of it)."""
    return tuple(scan_humoset(root))


def _stable(text: str) -> int:
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "little")


def required_columns(cfg: DataConfig) -> tuple[str, ...]:
    req = C.REQUIRED + ((C.REFERENCES,) if cfg.max_references else ())
    if cfg.row_filter == "stage1":
        req += (C.STAGE1,)
    if cfg.row_filter == "stage2":
        req += (C.STAGE2,)
    return req


def read_columns(cfg: DataConfig) -> list[str]:
    return list(dict.fromkeys(required_columns(cfg) + C.OPTIONAL))


def plan_units(cfg: DataConfig) -> list[Unit]:
    """All units of all sources, in a stable order (driver side: reads footers, never media)."""
    if not cfg.sources:
        raise ValueError("data.sources is empty: name dataset directories, shards or HuMoSet folders")
    units: list[Unit] = []
    for source in cfg.sources:
        humoset = cfg.format == "humoset" or (
            cfg.format == "auto" and "://" not in source and is_humoset(source)
        )
        if humoset:
            n = len(_humoset_entries(source))
            units += [
                Unit("humoset", source, i, min(HUMOSET_CHUNK, n - i * HUMOSET_CHUNK))
                for i in range((n + HUMOSET_CHUNK - 1) // HUMOSET_CHUNK)
            ]
            continue
        shards = list_shards(source)
        if not shards:
            raise FileNotFoundError(f"no triplet shards found under {source}")
        for uri in shards:
            info = shard_info(uri, required_columns(cfg))
            units += [Unit("triplets", uri, rg, n) for rg, n in enumerate(info.row_group_rows) if n]
    return units


def epoch_units(units: list[Unit], seed: int, epoch: int, shuffle: bool) -> list[Unit]:
    if not shuffle:
        return list(units)
    order = np.random.default_rng([seed, epoch, 7]).permutation(len(units))
    return [units[i] for i in order]


def row_order(unit: Unit, seed: int, epoch: int, shuffle: bool) -> list[int]:
    if not shuffle:
        return list(range(unit.num_rows))
    return np.random.default_rng([seed, epoch, _stable(unit.key)]).permutation(unit.num_rows).tolist()


def read_unit(unit: Unit, cfg: DataConfig) -> list[dict[str, Any]]:
    """The unit's rows as dicts of triplet columns (only those the trainer reads)."""
    if unit.kind == "triplets":
        return read_row_group(unit.source, unit.index, read_columns(cfg)).to_pylist()
    entries = _humoset_entries(unit.source)[unit.index * HUMOSET_CHUNK : (unit.index + 1) * HUMOSET_CHUNK]
    return [humoset_row(e) for e in entries]


def humoset_row(entry: Any) -> dict[str, Any]:
    """A HuMoSet entry as a triplet-like row; audio comes from the video's own track at decode time."""
    video = Path(entry.video).read_bytes() if entry.video is not None else None
    refs = []
    for p in entry.references:
        try:
            refs.append({C.REF_IMAGE: Path(p).read_bytes()})
        except OSError:
            refs.append({C.REF_IMAGE: b""})
    return {
        C.CLIP_ID: entry.id, C.VIDEO: video, C.CAPTION: entry.caption, C.REFERENCES: refs,
        C.HAS_AUDIO: None, C.AUDIO: None, C.FACE_TRACK: None, C.STAGE1: True, C.STAGE2: True,
    }  # fmt: skip
