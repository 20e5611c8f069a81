"""A/B/A on real faces: a source cut together with ffmpeg from two clips of person A around one of
person B, and a second source of person B cut from another part of the same recording.

A's clips take cross_shot references from A's other shot; B's clip gets nothing better than its
own frames: B's second source is the same recording (same set, clothes, light), which is never
another context, though it is the same dataset-wide identity; no reference ever shows the other
person. (tests/identity/test_identity_footage.py has a genuine cross_source: two photos.)
"""

from __future__ import annotations

import pyarrow as pa
import pytest

from humo_data.config import load_config
from humo_data.faces.config import FacesConfig
from humo_data.faces.stage import FaceStage
from humo_data.identity.config import IdentityConfig
from humo_data.identity.job import identity_table, run_identity
from humo_data.jobs.plan import cut_source
from tests.faces.face_rows import concat_clips
from tests.identity.stage_rows import features_from_stage
from tests.shared_media import media_file, needs_media

pytestmark = needs_media
PERSON_A = "sadtalker_WDA_AlexandriaOcasioCortez_000.mp4"
PERSON_B = "liveportrait_d10.mp4"


@pytest.fixture(scope="module")
def features(tmp_path_factory) -> tuple[pa.Table, dict[str, str]]:
    """Features of both sources (the real cutter, then the face stage) and the person of each clip."""
    tmp = tmp_path_factory.mktemp("aba")
    a, b = media_file(PERSON_A), media_file(PERSON_B)
    aba = concat_clips([(a, 0, 4), (b, 0, 4), (a, 4, 4)], tmp / "aba.mp4")
    bb = concat_clips([(b, 6, 8)], tmp / "bb.mp4")
    cfg = load_config("default", ["probe.require_audio=false"])
    cut = [cut_source(str(f), cfg) for f in (aba, bb)]
    columns = ["_kind", "clip_id", "source_id", "shot_index", "start_time", "end_time"]
    clips = [r for t in cut for r in t.select(columns).to_pylist() if r["_kind"] == "clip"]
    aba_id = cut[0].column("source_id")[0].as_py()
    assert sorted(r["shot_index"] for r in clips if r["source_id"] == aba_id) == [
        0,
        1,
        2,
    ]  # the two hard cuts
    person = {}
    for r in clips:
        middle = (r["start_time"] + r["end_time"]) / 2
        person[r["clip_id"]] = "B" if r["source_id"] != aba_id or 4 <= middle < 8 else "A"
    out = pa.concat_tables([FaceStage(FacesConfig())(t) for t in cut])
    live = out.filter(pa.compute.equal(out.column("_kind"), "clip"))
    assert live.column("_reject_reason").null_count == live.num_rows
    return features_from_stage(live), person


def _check_no_wrong_person(result: pa.Table, person: dict[str, str]) -> None:
    for r in result.to_pylist():
        for ref in r["reference_images"]:
            assert person[ref["source_clip_id"]] == person[r["clip_id"]], (
                r["clip_id"],
                ref["source_clip_id"],
            )


def test_aba_alone(features):
    table, person = features
    aba_id = table.column("source_id")[0].as_py()
    only_aba = table.filter(pa.compute.equal(table.column("source_id"), aba_id))
    out = {r["clip_id"]: r for r in identity_table(only_aba, IdentityConfig()).to_pylist()}
    _check_no_wrong_person(identity_table(only_aba, IdentityConfig()), person)
    a_clips = [c for c in out if person[c] == "A"]
    (b_clip,) = [c for c in out if person[c] == "B"]
    assert len(a_clips) == 2
    for c in a_clips:
        (other,) = [x for x in a_clips if x != c]
        assert out[c]["reference_kind"] == "cross_shot"
        assert {r["source_clip_id"] for r in out[c]["reference_images"]} == {other}
    assert out[a_clips[0]]["identity_id"] == out[a_clips[1]]["identity_id"] != out[b_clip]["identity_id"]
    # B: nothing from its own source but its own frames (a recorded last resort, not stage-1 material)
    assert out[b_clip]["reference_kind"] == "same_clip"
    assert {r["source_clip_id"] for r in out[b_clip]["reference_images"]} == {b_clip}


def test_second_source_of_b_is_the_same_recording(features):
    table, person = features
    result = identity_table(table, IdentityConfig())
    _check_no_wrong_person(result, person)
    out = {r["clip_id"]: r for r in result.to_pylist()}
    sources = dict(
        zip(table.column("clip_id").to_pylist(), table.column("source_id").to_pylist(), strict=True)
    )
    b_clips = [c for c in out if person[c] == "B"]
    assert len({sources[c] for c in b_clips}) == 2
    for c in b_clips:
        assert out[c]["reference_kind"] == "same_clip"
        assert {r["source_id"] for r in out[c]["reference_images"]} == {sources[c]}
    b_ids = {out[c]["identity_id"] for c in b_clips}
    a_ids = {out[c]["identity_id"] for c in out if person[c] == "A"}
    assert len(b_ids) == len(a_ids) == 1 and b_ids != a_ids


@pytest.mark.slow
def test_ray_pass_matches_in_memory(features):
    import ray

    table, _ = features
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, ignore_reinit_error=True)
    try:
        tables = ray.get(run_identity(ray.data.from_arrow(table), IdentityConfig()).to_arrow_refs())
    finally:
        ray.shutdown()
    got = pa.concat_tables([t for t in tables if t.num_rows])
    got = got.take(pa.compute.sort_indices(got, [("clip_id", "ascending")]))
    assert got.equals(identity_table(table, IdentityConfig()))
