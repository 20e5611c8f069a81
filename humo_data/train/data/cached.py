"""Cached per-clip features (VAE latents, text embeddings, Whisper bands) keyed by clip_id.

``humo-data features`` writes ``<dir>/part-*.parquet`` with the columns below; the loader joins
them by clip_id so the expensive encoders run once per clip instead of once per epoch. A cached
row fixes the frame window (``frame_start``, ``num_frames``) and bucket it was computed for; the
loader then takes the same window so audio, boxes and latents stay aligned. The null-text
embedding (for captions dropped by text dropout) is stored under ``NULL_TEXT_ID``.

Arrays are stored as raw little-endian bytes plus shape and dtype, readable without humo-data:
``np.frombuffer(row["video_latents"], row["dtype"]).reshape(row["video_latents_shape"])``.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import fsspec
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

NULL_TEXT_ID = "__null_text__"
ARRAYS = ("video_latents", "text_embeddings", "audio_features")
FEATURES_VERSION = 1


def features_schema() -> pa.Schema:
    fields = [
        pa.field("clip_id", pa.string(), nullable=False),
        pa.field("frame_start", pa.int32()),
        pa.field("num_frames", pa.int32()),
        pa.field("height", pa.int32()),
        pa.field("width", pa.int32()),
        pa.field("dtype", pa.string()),
        pa.field("model_preset", pa.string()),
    ]
    for name in ARRAYS:
        fields += [pa.field(name, pa.binary()), pa.field(f"{name}_shape", pa.list_(pa.int32()))]
    return pa.schema(fields, metadata={b"humo_data.table": b"features", b"humo_data.version": b"1"})


def pack(arr: np.ndarray | None) -> tuple[bytes | None, list[int] | None]:
    if arr is None:
        return None, None
    return np.ascontiguousarray(arr).tobytes(), list(arr.shape)


def unpack(data: bytes | None, shape: list[int] | None, dtype: str) -> np.ndarray | None:
    if data is None or shape is None:
        return None
    return np.frombuffer(data, dtype=np.dtype(dtype)).reshape(shape).copy()


@dataclass
class CachedFeatures:
    frame_start: int
    num_frames: int
    height: int
    width: int
    video_latents: np.ndarray | None
    text_embeddings: np.ndarray | None
    audio_features: np.ndarray | None


class FeatureIndex:
    """clip_id -> (shard, row group, row) over a features directory; rows are read on demand."""

    def __init__(self, directory: str):
        fs, path = fsspec.core.url_to_fs(directory)
        self._fs = fs
        self._where: dict[str, tuple[str, int, int]] = {}
        for shard in sorted(fs.glob(f"{path.rstrip('/')}/part-*.parquet")):
            pf = pq.ParquetFile(fs.open(shard, "rb"))
            for rg in range(pf.metadata.num_row_groups):
                ids = pf.read_row_group(rg, columns=["clip_id"]).column(0).to_pylist()
                for i, cid in enumerate(ids):
                    self._where[cid] = (shard, rg, i)
        if not self._where:
            raise FileNotFoundError(f"no features shards (part-*.parquet) under {directory}")

    def __len__(self) -> int:
        return len(self._where)

    def __contains__(self, clip_id: str) -> bool:
        return clip_id in self._where

    @lru_cache(maxsize=2)  # noqa: B019 - one index per worker, lives as long as the worker
    def _row_group(self, shard: str, rg: int) -> pa.Table:
        return pq.ParquetFile(self._fs.open(shard, "rb")).read_row_group(rg)

    def get(self, clip_id: str) -> CachedFeatures | None:
        where = self._where.get(clip_id)
        if where is None:
            return None
        row = self._row_group(where[0], where[1]).slice(where[2], 1).to_pylist()[0]
        arrays = {n: unpack(row[n], row[f"{n}_shape"], row["dtype"]) for n in ARRAYS}
        return CachedFeatures(row["frame_start"], row["num_frames"], row["height"], row["width"], **arrays)
