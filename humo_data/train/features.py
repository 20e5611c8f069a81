"""Encode each clip once: VAE latents, text embeddings and Whisper band features -> features/ shards.

``ShardEncoder`` is the per-actor worker of the ``humo-data features`` job (humo_data/train/features_job.py):
it builds the model's frozen encoders once, then for each triplet shard it is given streams the
rows exactly as the training loader would (same window, bucket and reference fitting; no text
dropout), encodes them in batches and writes ``part-<shard key>.parquet`` beside the others
(temporary name + rename, so a retried shard replaces its file). The null-text embedding goes to
``part-null-text.parquet`` under ``NULL_TEXT_ID``. Rows the loader would skip are counted.

The window is fixed at encode time (``data.clip_start``; ``start`` is the sensible choice for
caching), so training on cached features sees one window per clip instead of a fresh random one
each epoch: the price of running the encoders once.
"""

from __future__ import annotations

import hashlib
import os
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from humo_data.train.config import TrainConfig
from humo_data.train.data.cached import NULL_TEXT_ID, features_schema, pack


def shard_key(uri: str) -> str:
    return hashlib.sha256(uri.encode()).hexdigest()[:16]


def _write_atomic(rows: list[dict[str, Any]], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    pq.write_table(pa.Table.from_pylist(rows, schema=features_schema()), tmp, row_group_size=64)
    os.replace(tmp, path)


class ShardEncoder:
    """Callable over batches of ``{"shard": [uri, ...]}``; one instance per actor (GPU)."""

    def __init__(self, cfg_json: dict[str, Any], output: str, dtype: str = "float32", threads: int = 0):
        import torch

        from humo_data.train.loop import build_model, resolve_device

        if threads:
            torch.set_num_threads(threads)
        self.cfg = TrainConfig.model_validate(cfg_json)
        self.data = self.cfg.data.model_copy(update={"text_dropout": 0.0, "features": None, "shuffle": False})
        self.output = Path(output)
        self.dtype = np.dtype(dtype)
        self.device = resolve_device(self.cfg)
        self.model = build_model(self.cfg, self.device).eval()
        self._write_null_text()

    def _np(self, t) -> np.ndarray:
        return t.detach().float().cpu().numpy().astype(self.dtype)

    def _row(
        self, clip_id: str, start: int, hw: tuple[int, int], **arrays: np.ndarray | None
    ) -> dict[str, Any]:
        row: dict[str, Any] = {
            "clip_id": clip_id, "frame_start": start, "num_frames": self.data.frames, "height": hw[0],
            "width": hw[1], "dtype": self.dtype.name, "model_preset": self.cfg.model.preset,
        }  # fmt: skip
        for name in ("video_latents", "text_embeddings", "audio_features"):
            row[name], row[f"{name}_shape"] = pack(arrays.get(name))
        return row

    def _write_null_text(self) -> None:
        import torch

        with torch.no_grad():
            null = self._np(self.model.encode_text([""])[0])
        _write_atomic(
            [self._row(NULL_TEXT_ID, 0, (0, 0), text_embeddings=null)], self.output / "part-null-text.parquet"
        )

    def encode_shard(self, uri: str) -> dict[str, Any]:
        import torch

        from humo_data.train.data.sample import SampleBuilder, SkipRow
        from humo_data.train.data.stream import collate
        from humo_data.train.data.units import plan_units, read_unit

        data = self.data.model_copy(update={"sources": [uri]})
        builder = SampleBuilder(data, self.cfg.seed)
        counts: Counter[str] = Counter()
        rows: list[dict[str, Any]] = []
        pending: dict[tuple[int, int], list] = {}  # per bucket: a batch is one shape

        def flush(key: tuple[int, int]) -> None:
            group = pending.pop(key, [])
            if not group:
                return
            batch = collate(group).to(self.device)
            with torch.no_grad():
                lat = self.model.encode_video(batch.video)
                txt = self.model.encode_text(batch.captions)
                aud = self.model.encode_audio(batch.audio)
            for i, s in enumerate(group):
                arrays = {"video_latents": lat[i], "text_embeddings": txt[i], "audio_features": aud[i]}
                rows.append(self._row(s.clip_id, s.start, key, **{k: self._np(v) for k, v in arrays.items()}))

        for unit in plan_units(data):
            for row in read_unit(unit, data):
                try:
                    sample = builder.build(row, epoch=0)
                except SkipRow as skip:
                    counts[skip.reason] += 1
                    continue
                key = tuple(sample.video.shape[1:3])
                pending.setdefault(key, []).append(sample)
                if len(pending[key]) >= data.batch_size:
                    flush(key)
        for key in list(pending):
            flush(key)
        name = f"part-{shard_key(uri)}.parquet"
        if rows:
            _write_atomic(rows, self.output / name)
        return {"shard": uri, "file": name if rows else None, "rows": len(rows), "skipped": dict(counts)}

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, list[Any]]:
        out = [self.encode_shard(str(uri)) for uri in batch["shard"]]
        return {
            "shard": [o["shard"] for o in out],
            "rows": [o["rows"] for o in out],
            "skipped": [str(o["skipped"]) for o in out],
        }
