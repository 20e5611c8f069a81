"""Units of the near-duplicate search: leader selection, keep order, shift search, stills, and the
open_clip appearance backend on a tiny random model loaded through open_clip's own loader."""

from __future__ import annotations

import numpy as np
import pytest

from humo_data.dataset_ops.config import DedupConfig
from humo_data.dataset_ops.keep import keep_rank, keep_ranks, why_kept
from humo_data.dataset_ops.matching import Match, choose_keepers, hamming, verify
from humo_data.dataset_ops.signatures import Signature
from tests.shared_media import media_file, needs_media


def _sig(motion: np.ndarray, phash: np.ndarray | None = None, cid: str = "x") -> Signature:
    if phash is None:
        phash = np.zeros(len(motion), np.uint64)
    return Signature(cid, cid, motion.astype(np.float32), phash.astype(np.uint64), None, 0.2, "phash")


def test_leader_selection_keeps_both_ends_of_a_chain():
    # A ~ B and B ~ C, A and C do not overlap: B goes (named after A), A and C stay
    ranks = [(0, "a"), (1, "b"), (2, "c")]
    m_ab, m_bc = Match(0, 1, 0.9, 0, 10, 0), Match(1, 2, 0.9, 0, 10, 0)
    decided = choose_keepers(ranks, [m_ab, m_bc])
    assert [(d.clip, d.kept) for d in decided] == [(1, 0)]


def test_keep_order_prefers_usable_then_picture_pixels_then_borders():
    meta = [
        {"clip_id": "c", "stage1": True, "source_width": 320, "source_height": 240},
        {"clip_id": "a", "stage1": False, "source_width": 1920, "source_height": 1080},
        {
            "clip_id": "b",
            "stage1": True,
            "source_width": 1280,
            "source_height": 720,
            "content_fraction": 0.75,
        },
        {"clip_id": "d", "stage1": True, "source_width": 1280, "source_height": 720, "content_fraction": 1.0},
    ]
    ranks = keep_rank(meta, ("stage1", "source_pixels", "content_fraction"))
    assert [meta[i]["clip_id"] for i in sorted(range(4), key=lambda i: ranks[i])] == ["d", "b", "c", "a"]


def _copy(cid: str, **over) -> dict:
    """Keep-order metadata of a 512x512 talking head (the original) or a copy with ``over`` changed."""
    row = {"clip_id": cid, "source_id": cid, "start_time": 0.0, "end_time": 3.4, "width": 480, "height": 480,
           "source_width": 512, "source_height": 512, "source_bits_per_pixel": 0.11, "source_duration": 7.0,
           "content_fraction": 1.0, "quality_sharpness": 117.0, "stage1": True, "stage2": False,
           "face_track": {"eye_distance_px": 116.0}}  # fmt: skip
    return {**row, **over}


def test_default_keep_order_ranks_picture_and_bits_before_the_flags():
    order = DedupConfig().keep_order
    copies = [
        _copy("orig"),
        # a CRF-34 re-encode passed a stage-2 gate the original failed: the flags come after quality
        _copy("crf34", source_bits_per_pixel=0.018, quality_sharpness=106.0, stage2=True),
        _copy("scaled", source_width=384, source_height=384, source_bits_per_pixel=0.08,
              face_track={"eye_distance_px": 116.0}),  # 3/4 scale: stored at 384, face 3/4 in the source
        _copy("pip", source_width=1024, source_height=1024, face_track={"eye_distance_px": 29.0}),
        # the same picture re-encoded once more, 1 s shorter, with the noise of another encode: ties
        # with the original on every measurement (within half a step of it), loses on source length
        _copy("trim1", source_bits_per_pixel=0.104, quality_sharpness=131.0, source_duration=6.0,
              face_track={"eye_distance_px": 117.5}),
    ]  # fmt: skip
    ranks = keep_rank(copies, order)
    best_first = [copies[i]["clip_id"] for i in sorted(range(len(copies)), key=lambda i: ranks[i])]
    # the picture-in-picture copy has the larger frame but half the face: last
    assert best_first == ["orig", "trim1", "crf34", "scaled", "pip"], best_first
    orig, crf = ranks[0], ranks[1]
    why = why_kept(copies[0], copies[1], orig, crf, order)
    assert why == "kept for bits_per_pixel (0.11 vs 0.018 bits per picture pixel)", why
    assert why_kept(copies[0], copies[4], orig, ranks[4], order).startswith(
        "kept for source_duration (7 vs 6"
    )
    # steps are relative to each duplicate group's best: a 240p group's best ties with nothing else
    small = [_copy("a", source_width=320, source_height=240), _copy("b", source_width=320, source_height=240,
                                                                    source_bits_per_pixel=0.05)]  # fmt: skip
    both = keep_ranks([*copies, *small], [0] * len(copies) + [1, 1], order)
    assert both[len(copies)][:4] == (0.0, 0.0, 0.0, 0.0) and both[len(copies) + 1][3] > 0


def test_verify_finds_a_shift_that_is_not_a_whole_number_of_bins():
    rng = np.random.default_rng(0)
    fine = np.stack([np.convolve(rng.gamma(1.5, 0.02, 400), np.ones(9) / 9, "same") for _ in range(10)], 1)
    a = fine[0:250:5]  # 50 bins
    b = fine[37:237:5] + rng.normal(0, 1e-3, (40, 10))  # starts 37 fine steps = 7.4 bins later
    m = verify(_sig(a), _sig(b), DedupConfig())
    assert m is not None and abs(m.shift - 7.4) <= 0.25 and m.similarity > 0.8
    other = fine[250:400:5]  # another window of the same "video": no overlap
    assert verify(_sig(a), _sig(other[:30]), DedupConfig()) is None


def test_a_still_matches_only_a_still():
    still = np.zeros((20, 10))
    moving = np.abs(np.sin(np.arange(200)).reshape(20, 10))
    ph = np.full(20, 12345, np.uint64)
    assert verify(_sig(still, ph), _sig(still, ph), DedupConfig()).static
    assert verify(_sig(still, ph), _sig(moving, ph), DedupConfig()) is None
    far = np.full(20, 12345 ^ 0xFFFF, np.uint64)
    assert verify(_sig(still, ph), _sig(still, far), DedupConfig()) is None
    assert hamming(np.array([0], np.uint64), np.array([0xFF], np.uint64)).tolist() == [8]


@needs_media
def test_open_clip_backend_signatures_and_verification(tmp_path):
    pytest.importorskip("open_clip")
    from humo_data.dataset_ops.appearance import make_embedder
    from humo_data.dataset_ops.neardup import find_near_duplicates
    from humo_data.dataset_ops.signatures import compute_signature
    from tests.dataset_ops.uploads import make_upload
    from tests.quality.tiny_models import TINY_CLIP, tiny_open_clip

    weights = tiny_open_clip(tmp_path / "tiny-clip")
    src = media_file("sadtalker_WDA_AlexandriaOcasioCortez_000.mp4")
    orig = make_upload(src, tmp_path / "orig.mp4", duration=4.0)
    copy = make_upload(src, tmp_path / "copy.mp4", duration=4.0, vf="crop=iw*0.9:ih*0.9")
    rows = []
    for threshold in (-1.0, 1.0):
        cfg = DedupConfig(
            backend="open_clip", open_clip_weights=str(weights), min_embedding_similarity=threshold
        )
        embedder = make_embedder(cfg)
        rows = [
            {**compute_signature(p.read_bytes(), cfg, embedder), "clip_id": p.stem, "source_id": p.stem}
            for p in (orig, copy)
        ]
        assert all(r["backend"] == "open_clip:tiny-clip" for r in rows)
        v = np.asarray(rows[0]["vector"])
        assert v.shape == (TINY_CLIP["embed_dim"],) and abs(np.linalg.norm(v) - 1) < 1e-4
        meta = [
            {"clip_id": p.stem, "source_id": p.stem, "start_time": 0.0, "end_time": 4.0} for p in (orig, copy)
        ]
        found = find_near_duplicates(rows, meta, cfg)
        assert not np.allclose(rows[0]["vector"], rows[1]["vector"])  # a crop embeds differently
        # the embedding check decides: anything passes at -1, nothing at 1.0 (the motion matches)
        assert len(found) == (1 if threshold < 0 else 0)
    again = compute_signature(orig.read_bytes(), cfg, make_embedder(cfg))
    assert np.allclose(again["vector"], rows[0]["vector"], atol=1e-5)
