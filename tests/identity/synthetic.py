"""Synthetic features rows (schema features_faces.v1) with known identities, for identity tests and
the identity benchmark: each person is a random direction, each track a noisy copy of it; each shot
has its own context vector.

    rows = features_rows([("src1", [(0, 0.0, ["ann"]), (1, 4.0, ["ann", "bob"])])], seed=0)
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import numpy as np

DIM = 128
PERSON_SCALE = 0.6  # distance between two random people ~ 0.6 * sqrt(2) ~ 0.85 (dlib: different >= 0.62)
TRACK_NOISE = 0.15  # track-to-track distance of one person ~ 0.15 * sqrt(2) ~ 0.21 (dlib: same <= 0.44)

Clip = tuple[int, float, Sequence[str]]  # (shot index, start time, people: main first)


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.linalg.norm(v)


def person_vector(name: str) -> np.ndarray:
    seed = int.from_bytes(hashlib.sha256(name.encode()).digest()[:4], "little")
    return (PERSON_SCALE * _unit(np.random.default_rng(seed).normal(size=DIM))).astype(np.float32)


def features_rows(
    sources: Sequence[tuple[str, Sequence[Clip]]],
    seed: int = 0,
    clip_seconds: float = 4.0,
    shard: str = "part-0",
) -> list[dict]:
    rng = np.random.default_rng(seed)
    rows = []
    for source_id, clips in sources:
        shot_context: dict[int, np.ndarray] = {}
        for ci, (shot, start, people) in enumerate(clips):
            ctx = shot_context.setdefault(shot, _unit(rng.normal(size=32)))
            tracks = [
                person_vector(p)
                + rng.normal(0, TRACK_NOISE / np.sqrt(DIM), DIM).astype(np.float32) * np.sqrt(2)
                for p in people
            ]
            crops = []
            for t in range(len(people)):
                for k in range(3 if t == 0 else 1):
                    c = _unit(ctx + rng.normal(0, 0.05, 32))
                    image = f"crop:{source_id}/{ci}/{people[t]}".encode()  # tests read the person back
                    crops.append({"track": t, "time": 0.5 + k, "image": image, "box": [10.0, 10.0, 60.0, 70.0],
                                  "yaw": float(rng.normal(0, 10)), "context": c.astype(np.float32).tolist()})  # fmt: skip
            clip_id = hashlib.sha256(f"{source_id}/{ci}".encode()).hexdigest()[:24]
            rows.append({
                "clip_id": clip_id, "source_id": source_id, "shot_index": shot, "start_time": start,
                "end_time": start + clip_seconds, "backend": "dlib", "context_backend": "histogram", "frames": [],
                "main_track": 0 if people else None,
                "main_embedding": tracks[0].tolist() if people else None,
                "track_embeddings": [t.tolist() for t in tracks], "crops": crops, "_shard": shard,
                "_people": list(people),
            })  # fmt: skip
    return rows


def person_of(image: bytes) -> str:
    """The person a synthetic crop shows."""
    return image.decode().rsplit("/", 1)[1]


def features_table(rows: list[dict]):
    """Rows -> the identity pass's input table (features_faces columns + _shard)."""
    import pyarrow as pa

    from humo_data.schema import feature_spec

    schema = feature_spec("faces").schema
    schema = pa.schema([*schema, pa.field("_shard", pa.string())])
    return pa.Table.from_pylist([{k: r.get(k) for k in schema.names} for r in rows], schema=schema)
