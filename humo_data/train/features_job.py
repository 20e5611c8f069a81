"""Ray Data job: encode every clip of the training sources once (``humo-data features``).

One task row per triplet shard flows into an actor pool of ``ShardEncoder`` (model encoders
loaded once per actor; ``num_gpus`` per actor from the command line / config), each actor
streams its shard and writes ``<output>/part-<shard key>.parquet``. Media never enters the
object store: actors read shards themselves, so memory stays at one row group per actor.

    ray job submit --working-dir . -- humo-data features --config stage2 --output out/features --num-gpus 1 --actors 8
"""

from __future__ import annotations

from typing import Any

from humo_data.train.config import TrainConfig


def run_features(
    cfg: TrainConfig, output: str, *, num_gpus: float = 0.0, actors: int = 1, address: str | None = None,
    dtype: str = "float32",
) -> dict[str, Any]:  # fmt: skip
    import ray
    from ray.data import ActorPoolStrategy

    from humo_data.train.data.shards import list_shards
    from humo_data.train.features import ShardEncoder

    shards = [s for src in cfg.data.sources for s in list_shards(src)]
    if not shards:
        raise FileNotFoundError(f"no triplet shards under {cfg.data.sources}")
    if not ray.is_initialized():
        ray.init(address=address, include_dashboard=False, logging_level="WARNING")
    ds = ray.data.from_items([{"shard": s} for s in shards], override_num_blocks=len(shards))
    ds = ds.map_batches(
        ShardEncoder,
        fn_constructor_kwargs={"cfg_json": cfg.model_dump(mode="json"), "output": output, "dtype": dtype},
        batch_size=1,  # one shard per call: the actor streams it row group by row group
        compute=ActorPoolStrategy(size=actors),
        num_gpus=num_gpus,  # the encoders (VAE, umT5, Whisper) run on the actor's GPU
        num_cpus=1 if num_gpus == 0 else 0.5,  # decoding happens in the actor too
    )
    results = ds.take_all()
    return {
        "output": output,
        "shards": len(results),
        "rows": int(sum(r["rows"] for r in results)),
        "skipped": [r["skipped"] for r in results if r["skipped"] != "{}"],
    }
