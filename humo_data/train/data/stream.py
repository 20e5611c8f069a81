"""The streaming, resumable training loader: a torch IterableDataset that yields ready TrainBatches.

Batches are built inside each DataLoader worker (``batch_size=None`` on the DataLoader), so every
batch comes from one worker's stream and carries that worker's position after its last row in
``batch.extras["cursor"]``. ``LoaderState`` keeps the latest cursor per global worker; saved in a
checkpoint and passed back, each worker resumes at its exact row. With ``num_workers <= 1`` a
resumed run sees exactly the batches the uninterrupted run would have; with more workers each
worker's stream continues exactly, but the DataLoader's round-robin restarts at worker 0.
With aspect buckets (``data.buckets``) a batch holds one bucket; samples waiting in partly filled
buckets are part of the cursor and rebuilt on resume, so none is lost or repeated.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, IterableDataset, get_worker_info

from humo_data.train.batch import TrainBatch
from humo_data.train.config import DataConfig
from humo_data.train.data.cached import FeatureIndex
from humo_data.train.data.sample import BadRow, Sample, SampleBuilder, SkipRow
from humo_data.train.data.units import Unit, epoch_units, plan_units, read_unit, row_order

log = logging.getLogger(__name__)


class DataError(RuntimeError):
    """A broken row with ``data.on_error=raise``: names the shard/folder, the row and the reason."""


class NoUsableRows(RuntimeError):
    """A whole pass over a worker's units produced no sample: say why instead of spinning forever."""


def collate(samples: list[Sample]) -> TrainBatch:
    cached = [s.cached for s in samples]
    all_cached = all(c is not None for c in cached)

    def stack(name: str) -> torch.Tensor | None:
        if not all_cached or any(getattr(c, name) is None for c in cached):
            return None
        return torch.from_numpy(np.stack([getattr(c, name) for c in cached]))

    video_latents = stack("video_latents")
    return TrainBatch(
        video=None if video_latents is not None else torch.from_numpy(np.stack([s.video for s in samples])),
        references=torch.from_numpy(np.stack([s.references for s in samples])),
        reference_valid=torch.from_numpy(np.stack([s.reference_valid for s in samples])),
        audio=torch.from_numpy(np.stack([s.audio for s in samples])),
        has_audio=torch.tensor([s.has_audio for s in samples], dtype=torch.bool),
        captions=[s.caption for s in samples],
        face_boxes=torch.from_numpy(np.stack([s.face_box for s in samples])),
        clip_ids=[s.clip_id for s in samples],
        video_latents=video_latents,
        text_embeddings=stack("text_embeddings"),
        audio_features=stack("audio_features"),
        extras={"frame_start": [s.start for s in samples]},
    )


class TripletStream(IterableDataset):
    """Endless stream of TrainBatches for one rank; epochs advance per worker."""

    def __init__(
        self,
        cfg: DataConfig,
        *,
        seed: int,
        rank: int = 0,
        world_size: int = 1,
        state: dict[str, Any] | None = None,
        units: list[Unit] | None = None,
    ):
        self.cfg = cfg
        self.seed = seed
        self.rank = rank
        self.world_size = world_size
        self.state = dict(state or {})
        self.units = units if units is not None else plan_units(cfg)
        if not self.units:
            raise NoUsableRows(f"no rows in {cfg.sources}")

    def _mine(self, epoch: int, gw: int, gn: int) -> list[Unit]:
        return epoch_units(self.units, self.seed, epoch, self.cfg.shuffle)[gw::gn]

    def _rebuild(self, builder: SampleBuilder, positions: list[list[int]], gw: int, gn: int):
        """Samples that sat in a partly filled bucket when the state was saved (they built then, so
        they build again, identically)."""
        cache: dict[tuple[int, int], tuple[list, list[int]]] = {}
        for e, ui, ri in positions:
            if (e, ui) not in cache:
                unit = self._mine(e, gw, gn)[ui]
                cache[(e, ui)] = (read_unit(unit, self.cfg), row_order(unit, self.seed, e, self.cfg.shuffle))
            rows, order = cache[(e, ui)]
            yield builder.build(rows[order[ri]], e), [e, ui, ri]

    def __iter__(self):
        info = get_worker_info()
        wid, nw = (info.id, info.num_workers) if info is not None else (0, 1)
        gw, gn = self.rank * nw + wid, self.world_size * nw
        cursor = self.state.get(str(gw), {"epoch": 0, "unit": 0, "row": 0})
        epoch, unit_i, row_i = cursor["epoch"], cursor["unit"], cursor["row"]
        features = FeatureIndex(self.cfg.features) if self.cfg.features else None
        builder = SampleBuilder(self.cfg, self.seed, features)
        # One pending list per bucket (H, W); a batch is one bucket. Positions are kept so a saved
        # state can rebuild the samples still waiting in partly filled buckets.
        pending: dict[tuple[int, int], list[tuple[Sample, list[int]]]] = {}
        for sample, pos in self._rebuild(builder, cursor.get("pending", []), gw, gn):
            pending.setdefault(sample.references.shape[1:3], []).append((sample, pos))
        counts: Counter[str] = Counter()
        while True:
            mine = self._mine(epoch, gw, gn)
            if not mine:
                return  # more workers than units: this one has nothing to do
            produced = 0
            for ui in range(unit_i, len(mine)):
                unit = mine[ui]
                rows = read_unit(unit, self.cfg)
                order = row_order(unit, self.seed, epoch, self.cfg.shuffle)
                for ri in range(row_i, len(order)):
                    row = rows[order[ri]]
                    try:
                        sample = builder.build(row, epoch)
                    except BadRow as bad:
                        where = f"{unit.kind} {unit.source} row group/chunk {unit.index} row {order[ri]}"
                        if self.cfg.on_error == "raise":
                            raise DataError(
                                f"{where} (clip_id {row.get('clip_id')}): {bad.reason}: {bad.detail}"
                            ) from bad
                        log.warning("skipping %s: %s %s", where, bad.reason, bad.detail)
                        counts[f"skip/{bad.reason}"] += 1
                        continue
                    except SkipRow as skip:
                        if skip.reason == "too_short" and self.cfg.short_clips == "error":
                            raise DataError(
                                f"{unit.kind} {unit.source} row group/chunk {unit.index} row {order[ri]} "
                                f"(clip_id {row.get('clip_id')}): too_short: {skip.detail}"
                            ) from skip
                        counts[f"skip/{skip.reason}"] += 1
                        continue
                    produced += 1
                    counts.update(f"note/{n}" for n in sample.notes)
                    key = sample.references.shape[1:3]
                    pending.setdefault(key, []).append((sample, [epoch, ui, ri]))
                    if len(pending[key]) == self.cfg.batch_size:
                        group = pending.pop(key)
                        batch = collate([s for s, _ in group])
                        waiting = [pos for g in pending.values() for _, pos in g]
                        batch.extras.update(
                            worker=gw,
                            cursor={"epoch": epoch, "unit": ui, "row": ri + 1, "pending": waiting},
                            counts=dict(counts),
                        )
                        counts = Counter()
                        yield batch
                row_i = 0
            if produced == 0 and unit_i == 0:
                raise NoUsableRows(
                    f"worker {gw}: a full pass over {len(mine)} unit(s) gave no sample; skips: {dict(counts)}"
                )
            epoch, unit_i = epoch + 1, 0


def _identity(x: TrainBatch) -> TrainBatch:
    return x


def make_loader(
    cfg: DataConfig, *, seed: int, rank: int = 0, world_size: int = 1, state: dict[str, Any] | None = None
) -> DataLoader:
    ds = TripletStream(cfg, seed=seed, rank=rank, world_size=world_size, state=state)
    return DataLoader(
        ds,
        batch_size=None,
        num_workers=cfg.num_workers,
        collate_fn=_identity,
        persistent_workers=cfg.num_workers > 0,
        prefetch_factor=2 if cfg.num_workers > 0 else None,
    )


@dataclass
class LoaderState:
    """Latest cursor per global worker + running counts of skips and notes (for logs)."""

    cursors: dict[str, dict[str, int]] = field(default_factory=dict)
    counts: Counter = field(default_factory=Counter)

    def observe(self, batch: TrainBatch) -> None:
        self.cursors[str(batch.extras["worker"])] = dict(batch.extras["cursor"])
        self.counts.update(batch.extras.get("counts", {}))

    def state_dict(self) -> dict[str, Any]:
        return {"cursors": self.cursors, "counts": dict(self.counts)}

    @classmethod
    def from_state(cls, state: dict[str, Any] | None) -> LoaderState:
        state = state or {}
        return cls(dict(state.get("cursors", {})), Counter(state.get("counts", {})))
