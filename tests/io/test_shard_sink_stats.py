"""The shard writer's per-batch stats count why sources were not decoded by NVDEC (clips.decoder)."""

from __future__ import annotations

import json

import pyarrow as pa

from humo_data.io.shard_sink import ShardSink
from humo_data.io.store import Store


def test_decoder_fallbacks_are_counted_per_source_by_reason(tmp_path):
    store = Store.open(str(tmp_path / "out"), create=True)
    prores = "prores: FFmpeg has no NVDEC decoder for it"
    done = [(f"/in/{i}.mov", reason) for i, reason in enumerate([prores, prores, None])]
    batch = pa.Table.from_pylist([
        {"_kind": "done", "source_uri": uri, "source_id": f"s{i}", "_expected_units": [],
         "_source_stats": {"frames": 10, "blank_frames": 0, "dropped_tails": 0, "dropped_tail_seconds": 0.0,
                           "decoder_fallback": reason}}
        for i, (uri, reason) in enumerate(done)
    ])  # fmt: skip
    records = ShardSink(store.spec(), "run0")(batch).to_pylist()
    stats = json.loads(next(r["json"] for r in records if r["t"] == "stats"))
    assert stats["clips"]["decoder_fallbacks"] == {prores: 2}
    assert [json.loads(r["json"])["stats"]["decoder_fallback"] for r in records if r["t"] == "done"] == [
        prores, prores, None,
    ]  # fmt: skip
