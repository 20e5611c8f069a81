"""Trainer loader on real re-encoded clips: shapes, alignment, determinism, resume, sharding, faults."""

from __future__ import annotations

import itertools

import numpy as np
import pyarrow.parquet as pq
import pytest
import torch
from conftest import REFERENCE, write_shard

from humo_data.train.config import DataConfig
from humo_data.train.data.audio import decode_audio_bytes
from humo_data.train.data.references import fit_reference
from humo_data.train.data.shards import ShardColumnError
from humo_data.train.data.stream import DataError, LoaderState, TripletStream, make_loader
from tests.shared_media import media_file

F, H, W = 9, 32, 48


def cfg_for(path, **kw) -> DataConfig:
    base = dict(sources=[str(path)], frames=F, height=H, width=W, batch_size=2, text_dropout=0.0)
    return DataConfig(**{**base, **kw})


def take(cfg: DataConfig, n: int, **kw):
    return list(itertools.islice(iter(TripletStream(cfg, seed=0, **kw)), n))


def test_batch_contract(triplet_dir, triplet_rows):
    by_id = {r["clip_id"]: r for r in triplet_rows}
    batches = take(cfg_for(triplet_dir), 4)
    for b in batches:
        assert b.video.dtype == torch.uint8 and b.video.shape == (2, F, H, W, 3)
        assert b.references.shape == (2, 1, H, W, 3) and b.reference_valid.dtype == torch.bool
        assert b.audio.shape == (2, round(F / 25 * 16000)) and b.audio.dtype == torch.float32
        for i, cid in enumerate(b.clip_ids):
            row = by_id[cid]
            assert bool(b.has_audio[i]) == row["has_audio"]
            assert bool(b.reference_valid[i, 0]) == bool(row["reference_images"])
            box = b.face_boxes[i]
            if row["face_track"] is None:
                assert torch.isnan(box).all()
            else:
                assert ((box >= 0) & (box <= 1)).all() and box[2] > box[0] and box[3] > box[1]
            if not row["has_audio"]:
                assert b.audio[i].abs().sum() == 0


def test_audio_is_the_rows_audio_cut_at_the_window(triplet_dir, triplet_rows):
    by_id = {r["clip_id"]: r for r in triplet_rows}
    b = next(b for b in take(cfg_for(triplet_dir, batch_size=1, clip_start="random"), 3) if b.has_audio.all())
    cid, start = b.clip_ids[0], b.extras["frame_start"][0]
    wave = decode_audio_bytes(by_id[cid]["audio"], 16000)
    s0 = round(start / 25 * 16000)
    expect = wave[s0 : s0 + b.audio.shape[1]]
    np.testing.assert_allclose(b.audio[0, : len(expect)].numpy(), expect, atol=1e-6)


def test_window_start_changes_frames_and_stays_in_clip(triplet_dir):
    a = take(cfg_for(triplet_dir, clip_start="start", shuffle=False, batch_size=1), 1)[0]
    assert a.extras["frame_start"] == [0]
    rnd = take(cfg_for(triplet_dir, clip_start="random", batch_size=1), 8)
    starts = [b.extras["frame_start"][0] for b in rnd]
    assert all(0 <= s <= 13 - F for s in starts) and len(set(starts)) > 1


def test_reference_is_fitted_and_padded_white():
    img = fit_reference(
        media_file(REFERENCE.name).read_bytes(), H, W
    )  # 816x896 portrait-ish -> fit height, pad sides
    assert img.shape == (H, W, 3)
    assert (img[:, 0] == 255).all() and (img[:, -1] == 255).all()  # padded columns
    assert (img[:, W // 2] != 255).any()  # content in the middle


def test_text_dropout_is_seeded_and_applied(triplet_dir):
    all_dropped = take(cfg_for(triplet_dir, text_dropout=1.0), 3)
    assert all(c == "" for b in all_dropped for c in b.captions)
    kept = take(cfg_for(triplet_dir, text_dropout=0.0), 3)
    assert all(c for b in kept for c in b.captions)
    half1 = [c for b in take(cfg_for(triplet_dir, text_dropout=0.5), 6) for c in b.captions]
    half2 = [c for b in take(cfg_for(triplet_dir, text_dropout=0.5), 6) for c in b.captions]
    assert half1 == half2 and "" in half1 and any(half1)


def test_deterministic_and_resumes_exactly(triplet_dir):
    cfg = cfg_for(triplet_dir, text_dropout=0.3)
    straight = take(cfg, 6)
    state = LoaderState()
    for b in straight[:3]:
        state.observe(b)
    resumed = take(cfg, 3, state=state.cursors)
    for a, b in zip(straight[3:], resumed, strict=True):
        assert a.clip_ids == b.clip_ids and a.captions == b.captions
        assert torch.equal(a.video, b.video) and torch.equal(a.audio, b.audio)


def test_ranks_see_disjoint_rows_that_cover_the_epoch(triplet_dir, triplet_rows):
    cfg = cfg_for(triplet_dir, batch_size=1)
    seen = []
    for rank in range(2):
        ids = []
        for b in TripletStream(cfg, seed=0, rank=rank, world_size=2):
            if b.extras["cursor"]["epoch"] > 0:
                break
            ids += b.clip_ids
        seen.append(set(ids))
    assert not seen[0] & seen[1]
    assert seen[0] | seen[1] == {r["clip_id"] for r in triplet_rows}


def test_dataloader_workers_cover_all_rows(triplet_dir, triplet_rows):
    loader = make_loader(cfg_for(triplet_dir, batch_size=1, num_workers=2), seed=0)
    ids = [b.clip_ids[0] for b in itertools.islice(iter(loader), 2 * len(triplet_rows))]
    assert set(ids) == {r["clip_id"] for r in triplet_rows}


def test_missing_column_names_shard_and_column(tmp_path, triplet_rows):
    shard = write_shard(tmp_path / "triplets" / "part-00000.parquet", triplet_rows[:2])
    table = pq.read_table(shard).drop_columns(["caption"])
    pq.write_table(table, shard)
    with pytest.raises(ShardColumnError, match=r"part-00000\.parquet.*'caption'"):
        TripletStream(cfg_for(tmp_path), seed=0)


def _faulty(tmp_path, triplet_rows, field, value):
    rows = [dict(r) for r in triplet_rows[:3]]
    bad = rows[1]
    if field == "reference_images":
        bad["reference_images"] = [
            dict(bad["reference_images"][0] if bad["reference_images"] else {}, image=value)
        ]
    else:
        bad[field] = value
    write_shard(tmp_path / "triplets" / "part-00000.parquet", rows)
    return bad["clip_id"]


@pytest.mark.parametrize(
    "field,value,reason",
    [("video", b"\x00\x00\x00\x18ftypmp42 truncated garbage", "corrupt_clip"),
     ("reference_images", b"not a png", "unreadable_reference"),
     ("audio", b"fLaC broken", "corrupt_audio")],
)  # fmt: skip
def test_bad_rows_raise_with_shard_and_row_or_are_skipped(tmp_path, triplet_rows, field, value, reason):
    bad_id = _faulty(tmp_path, triplet_rows, field, value)
    cfg = cfg_for(tmp_path, batch_size=1, shuffle=False)
    with pytest.raises(DataError, match=rf"part-00000\.parquet.*row 1 .*{bad_id}.*{reason}"):
        take(cfg, 3)
    batches = take(cfg_for(tmp_path, batch_size=1, shuffle=False, on_error="skip"), 2)
    assert bad_id not in [c for b in batches for c in b.clip_ids]
    assert batches[1].extras["counts"] == {f"skip/{reason}": 1}


def test_short_clips_are_skipped_with_a_reason(triplet_dir):
    from humo_data.train.data.stream import NoUsableRows

    with pytest.raises(NoUsableRows, match="too_short"):
        take(cfg_for(triplet_dir, frames=17), 1)  # fixture clips have 13 frames
    with pytest.raises(DataError, match=r"part-0000\d\.parquet.*too_short: 13 frames < 17"):
        take(cfg_for(triplet_dir, frames=17, short_clips="error"), 1)


def test_frames_must_be_4k_plus_1():
    with pytest.raises(ValueError, match="4k\\+1"):
        DataConfig(frames=96)


def test_row_filter_and_no_reference_count(triplet_dir, triplet_rows):
    stage2 = {r["clip_id"] for r in triplet_rows if r["stage2"]}
    got = take(cfg_for(triplet_dir, batch_size=1, row_filter="stage2"), len(stage2))
    assert {b.clip_ids[0] for b in got} == stage2
    state = LoaderState()
    for b in take(cfg_for(triplet_dir, batch_size=1), len(triplet_rows)):
        state.observe(b)
    assert state.counts["note/no_reference"] == sum(not r["reference_images"] for r in triplet_rows)


def test_reads_shards_through_fsspec(triplet_dir, triplet_rows):
    import fsspec

    fs = fsspec.filesystem("memory")
    for shard in sorted((triplet_dir / "triplets").glob("*.parquet")):
        fs.pipe(f"/bucket/ds/triplets/{shard.name}", shard.read_bytes())
    cfg = cfg_for("memory://bucket/ds", batch_size=1)
    ids = {b.clip_ids[0] for b in take(cfg, len(triplet_rows))}
    assert ids == {r["clip_id"] for r in triplet_rows}


def test_aspect_buckets_batch_one_shape_and_resume_with_waiting_samples(tmp_path, triplet_rows):
    """Square fixture clips and one portrait clip: buckets landscape / portrait; a batch is one bucket,
    and samples waiting in a partly filled bucket survive a save/resume."""
    from conftest import PORTRAIT, _frames, encode_mp4, triplet_row

    portrait = encode_mp4(_frames(PORTRAIT, 1.0, 13, (36, 64)))  # w x h = 36 x 64
    rows = [*triplet_rows, triplet_row("portrait0", portrait, frames=13, width=36, height=64, audio=None,
                                      caption="A person, portrait.", references=[])]  # fmt: skip
    write_shard(tmp_path / "triplets" / "part-00000.parquet", rows, row_group_rows=3)
    cfg = cfg_for(tmp_path, batch_size=2, buckets=[[32, 48], [48, 32]], text_dropout=0.2)
    straight = take(cfg, 8)
    shapes = {tuple(b.video.shape[2:4]) for b in straight}
    assert shapes == {(32, 48), (48, 32)}
    assert all(("portrait0" in b.clip_ids) == (tuple(b.video.shape[2:4]) == (48, 32)) for b in straight)
    cut = next(i for i, b in enumerate(straight) if b.extras["cursor"]["pending"]) + 1
    state = LoaderState()
    for b in straight[:cut]:
        state.observe(b)
    resumed = take(cfg, len(straight) - cut, state=state.cursors)
    for a, b in zip(straight[cut:], resumed, strict=True):
        assert a.clip_ids == b.clip_ids and torch.equal(a.video, b.video)


def test_external_media_rows_read_video_uri(tmp_path, triplet_rows):
    rows = [dict(r) for r in triplet_rows[:2]]
    for r in rows:
        path = tmp_path / "media" / f"{r['clip_id']}.mp4"
        path.parent.mkdir(exist_ok=True)
        path.write_bytes(r["video"])
        r["video"], r["video_uri"] = None, str(path)
    write_shard(tmp_path / "ds" / "triplets" / "part-00000.parquet", rows)
    (b,) = take(cfg_for(tmp_path / "ds", shuffle=False), 1)
    assert b.video.shape == (2, F, H, W, 3)
