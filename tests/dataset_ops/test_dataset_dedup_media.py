"""Near-duplicates made from real clips collapse to one clip per window, and the clip that stays is
the original's; different windows of the same talking-head video (same person, same room) stay
distinct. No Ray: the real cutter cuts each upload and the streaming pass's quality and face stages
(jobs.plan.run_source: the plan's stream, audio and sync off) fill the columns the keep order reads, the real signatures decode
the stored clips, and the in-memory runner uses the same index, verification, grouping and
selection as the dedup job."""

from __future__ import annotations

import pytest

from humo_data.config import load_config
from humo_data.dataset_ops.config import DedupConfig
from humo_data.dataset_ops.neardup import META_COLUMNS, find_near_duplicates, reject_detail
from humo_data.dataset_ops.signatures import compute_signature
from humo_data.jobs.plan import run_source
from tests.dataset_ops.uploads import COPIES, make_upload
from tests.shared_media import media_file, needs_media

pytestmark = needs_media

SPEAKER = "sadtalker_WDA_AlexandriaOcasioCortez_000.mp4"  # one woman talking to camera, one shot, 8 s
OTHER = "latentsync_demo3_video.mp4"  # another person, portrait, 30 fps
SECONDS, WINDOW = 7.0, 3.5  # each original is cut into two 3.5-second windows


def _overlap(a: tuple[float, float], b: tuple[float, float]) -> float:
    """Overlap on the original video's timeline as a share of the shorter clip."""
    inter = max(0.0, min(a[1], b[1]) - max(a[0], b[0]))
    return inter / min(a[1] - a[0], b[1] - b[0])


@pytest.fixture(scope="module")
def clips(tmp_path_factory) -> list[dict]:
    """Every clip the cutter makes of the uploads, with its window on the original's timeline."""
    tmp = tmp_path_factory.mktemp("uploads")
    speaker = make_upload(media_file(SPEAKER), tmp / "speaker.mp4", duration=SECONDS)
    other = make_upload(media_file(OTHER), tmp / "other.mp4", duration=SECONDS, vf="scale=480:-2")
    uploads = [("speaker", "original", speaker, 0.0), ("other", "original", other, 0.0)]
    for name, how in COPIES:
        path = make_upload(speaker, tmp / f"speaker_{name}.mp4", **how)
        uploads.append(("speaker", name, path, how.get("trim", 0.0)))
    # a trim that is not a whole number of signature bins (0.2 s), plus a crop and a low bitrate
    path = make_upload(other, tmp / "other_trim_crop.mp4", trim=0.7, vf="crop=iw*0.9:ih*0.9", bitrate="300k")
    uploads.append(("other", "trim0.7_crop10", path, 0.7))
    cfg = load_config("default", [f"clips.max_seconds={WINDOW}", "audio.enabled=false", "sync.enabled=false"])
    out = []
    for video, copy, path, offset in uploads:
        table = run_source(str(path), cfg)
        for row in table.to_pylist():
            assert row["_kind"] != "clip" or not row["_reject_reason"], (copy, row["_reject_detail"])
            if row["_kind"] == "clip":
                out.append({**{k: row.get(k) for k in (*META_COLUMNS, "video")},
                            "family": video, "copy": copy,
                            "window": (row["start_time"] + offset, row["end_time"] + offset)})  # fmt: skip
    return out


def test_copies_collapse_to_one_clip_per_window_and_windows_stay_distinct(clips):
    cfg = DedupConfig()
    signatures = []
    for c in clips:
        sig = compute_signature(c["video"], cfg)
        assert sig is not None, c["copy"]
        signatures.append({**sig, "clip_id": c["clip_id"], "source_id": c["source_id"]})
    meta = [{k: v for k, v in c.items() if k != "video"} for c in clips]
    decisions = find_near_duplicates(signatures, meta, cfg)
    by_id = {c["clip_id"]: c for c in clips}
    gone = {g["clip_id"]: k["clip_id"] for g, k, _ in decisions}
    kept = [c for c in clips if c["clip_id"] not in gone]

    for family in ("speaker", "other"):
        originals = [c for c in clips if c["family"] == family and c["copy"] == "original"]
        survivors = [c for c in kept if c["family"] == family]
        assert len(originals) >= 2, "each original is cut into two or more windows"
        # one clip per window: as many survivors as the original has windows...
        assert len(survivors) == len(originals), [(c["copy"], c["window"]) for c in survivors]
        # ...and they are different windows (two windows of one talking head are not duplicates)
        for i, a in enumerate(survivors):
            for b in survivors[i + 1 :]:
                assert _overlap(a["window"], b["window"]) < 0.5, (a["copy"], b["copy"])
    for g, k, match in decisions:
        removed, keeper = by_id[g["clip_id"]], by_id[k["clip_id"]]
        assert removed["family"] == keeper["family"], "no clip matches another person's video"
        assert _overlap(removed["window"], keeper["window"]) >= 0.5, (removed["copy"], keeper["copy"], match)
        assert keeper["clip_id"] not in gone, "the named clip stays"
    removed_copies = {by_id[c]["copy"] for c in gone}
    assert {name for name, _ in COPIES} <= removed_copies | {
        by_id[k["clip_id"]]["copy"] for _, k, _ in decisions
    }
    # the original stays: every copy is worse (fewer bits, pixels or picture) or shorter
    assert {c["copy"] for c in kept} == {"original"}, [(c["family"], c["copy"], c["window"]) for c in kept]
    low_bits = [g for g, _, _ in decisions if by_id[g["clip_id"]]["copy"] in ("crf34", "bitrate")]
    assert low_bits and all("kept for bits_per_pixel" in reject_detail(k, g, m, cfg)
                            for g, k, m in decisions if g in low_bits)  # fmt: skip


def test_a_rerun_decides_the_same(clips):
    cfg = DedupConfig()
    rows = [
        {**compute_signature(c["video"], cfg), "clip_id": c["clip_id"], "source_id": c["source_id"]}
        for c in clips
    ]
    meta = [{k: v for k, v in c.items() if k != "video"} for c in clips]
    first = [(g["clip_id"], k["clip_id"]) for g, k, _ in find_near_duplicates(rows, meta, cfg)]
    second = [
        (g["clip_id"], k["clip_id"])
        for g, k, _ in find_near_duplicates(list(reversed(rows)), list(reversed(meta)), cfg)
    ]
    assert first == second and first
