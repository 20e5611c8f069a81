"""Cached features: encode once (ShardEncoder / the Ray Data job), join by clip_id in the loader, and
train on them with the same loss as live encoding."""

from __future__ import annotations

import pytest
import torch

from humo_data.train.config import load_train_config
from humo_data.train.data.cached import NULL_TEXT_ID, FeatureIndex
from humo_data.train.data.stream import TripletStream
from humo_data.train.features import ShardEncoder


@pytest.fixture(scope="module")
def encoded(triplet_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("features")
    cfg = load_train_config(
        "tiny_cpu", [f"data.sources=[{triplet_dir}]", "data.clip_start=start", "data.batch_size=2"]
    )
    enc = ShardEncoder(cfg.model_dump(mode="json"), str(out))
    for shard in sorted((triplet_dir / "triplets").glob("*.parquet")):
        enc({"shard": [str(shard)]})
    return cfg, out, enc.model


def test_every_clip_and_the_null_text_are_cached(encoded, triplet_rows):
    cfg, out, model = encoded
    index = FeatureIndex(str(out))
    assert len(index) == len(triplet_rows) + 1
    null = index.get(NULL_TEXT_ID).text_embeddings
    torch.testing.assert_close(torch.from_numpy(null), model.encode_text([""])[0].float())
    c = index.get(triplet_rows[0]["clip_id"])
    assert c.video_latents.shape == (
        16,
        1 + (cfg.data.frames - 1) // 4,
        cfg.data.height // 8,
        cfg.data.width // 8,
    )


def test_training_on_cached_features_matches_live_encoding(encoded):
    cfg, out, model = encoded
    live_cfg = cfg.data.model_copy(update={"text_dropout": 0.0, "shuffle": False})
    live = next(iter(TripletStream(live_cfg, seed=0)))
    cached = next(iter(TripletStream(live_cfg.model_copy(update={"features": str(out)}), seed=0)))
    assert cached.video is None and cached.video_latents is not None and cached.clip_ids == live.clip_ids
    use_audio = live.has_audio
    with torch.no_grad():
        a = model.training_loss(live, use_audio=use_audio, generator=torch.Generator().manual_seed(3))
        b = model.training_loss(cached, use_audio=use_audio, generator=torch.Generator().manual_seed(3))
    for k in ("loss", "loss_flow", "loss_mask"):
        torch.testing.assert_close(a[k], b[k], rtol=1e-4, atol=1e-5)


def test_dropped_captions_use_the_cached_null_text_and_missing_clips_are_counted(encoded, tmp_path):
    cfg, out, _ = encoded
    data = cfg.data.model_copy(update={"text_dropout": 1.0, "features": str(out), "shuffle": False})
    b = next(iter(TripletStream(data, seed=0)))
    null = torch.from_numpy(FeatureIndex(str(out)).get(NULL_TEXT_ID).text_embeddings)
    assert b.captions == ["", ""] and all(torch.equal(t, null) for t in b.text_embeddings)
    # A features dir that lacks some clips: those rows are skipped with a reason, not encoded live.
    partial = tmp_path / "partial"
    partial.mkdir()
    one = sorted(out.glob("part-*.parquet"))
    for f in one:
        if "null" in f.name or f == one[0]:
            (partial / f.name).write_bytes(f.read_bytes())
    counts = {}
    for i, batch in enumerate(TripletStream(data.model_copy(update={"features": str(partial)}), seed=0)):
        for k, v in batch.extras["counts"].items():
            counts[k] = counts.get(k, 0) + v
        if i == 2:
            break
    assert counts.get("skip/no_cached_features", 0) > 0


@pytest.mark.slow
def test_ray_data_features_job_via_cli(triplet_dir, tmp_path):
    import json

    from typer.testing import CliRunner

    from humo_data.cli import app

    ray = pytest.importorskip("ray")
    if ray.is_initialized():  # an earlier in-process curate run may have left its cluster up
        ray.shutdown()
    ray.init(num_cpus=2, include_dashboard=False, object_store_memory=200 * 2**20)
    try:
        args = ["features", "--output", str(tmp_path / "feat"), "--config", "tiny_cpu", "--actors", "1",
                "--set", f"data.sources=[{triplet_dir}]", "--set", "data.clip_start=start"]  # fmt: skip
        res = CliRunner().invoke(app, args)
    finally:
        ray.shutdown()
    assert res.exit_code == 0, res.output
    summary = json.loads(res.output.strip().splitlines()[-1])
    assert summary["shards"] == 2 and summary["rows"] == 7
    assert len(FeatureIndex(str(tmp_path / "feat"))) == 8
