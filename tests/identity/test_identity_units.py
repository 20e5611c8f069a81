"""Identity pass on synthetic features (known people): clustering without chaining, the
dataset-wide index, reference kinds and ranking, determinism."""

from __future__ import annotations

import random

import numpy as np
import pytest

from humo_data.identity import references as refs
from humo_data.identity.cluster import cluster_tracks
from humo_data.identity.config import IdentityConfig
from humo_data.identity.index import link_identities
from humo_data.identity.job import identity_table
from tests.identity.synthetic import features_rows, features_table, person_of


def test_clusters_do_not_chain():
    chain = np.array([[0.3 * i, 0.0] for i in range(10)])  # neighbours 0.3 apart, ends 2.7 apart
    for max_exact in (4000, 2):  # average linkage, centroid assignment
        labels = cluster_tracks(chain, np.arange(10), 0.55, max_exact=max_exact)
        assert labels.max() >= 3
        for lab in set(labels.tolist()):
            members = chain[labels == lab]
            assert np.ptp(members[:, 0]) <= 0.6 + 1e-9


def test_two_faces_of_one_clip_are_two_identities():
    emb = np.zeros((4, 8))  # identical twins: indistinguishable, but seen together in clip 0
    labels = cluster_tracks(emb, np.array([0, 0, 1, 2]), 0.5)
    assert labels[0] != labels[1]
    assert labels[2] == labels[3]


def test_index_never_merges_two_identities_of_one_source_nor_chains():
    x = np.array([[0.0, 0], [0.3, 0], [0.6, 0], [0.9, 0], [5, 5], [5.1, 5]], np.float32)
    keys, sources = list("abcdef"), ["s1", "s2", "s3", "s4", "s5", "s5"]
    ids = link_identities(keys, sources, x, [3, 1, 1, 1, 1, 1], 0.5)
    assert ids["a"] == ids["b"] and ids["a"] != ids["c"]  # c is 0.6 from leader a
    assert ids["c"] == ids["d"]
    assert ids["e"] != ids["f"]  # close, but one source's two people
    perm = list(range(6))
    random.Random(0).shuffle(perm)
    again = link_identities(
        [keys[i] for i in perm],
        [sources[i] for i in perm],
        x[perm],
        [[3, 1, 1, 1, 1, 1][i] for i in perm],
        0.5,
    )
    assert again == ids


_TIMES = iter(range(10**6))


def _cand(kind, clip, emb, ctx=None, yaw=0.0, source="s", time=None):
    return refs.Candidate(
        kind,
        clip,
        source,
        float(next(_TIMES) * 10 if time is None else time),  # distinct moments unless given
        b"x",
        [0, 0, 1, 1],
        yaw,
        None if ctx is None else np.asarray(ctx),
        np.asarray(emb),
    )


def test_select_orders_kinds_filters_strangers_and_spreads_clips():
    cfg = IdentityConfig(references_per_clip=3)
    target = refs.Target("t", "s", np.zeros(2), [np.array([1.0, 0.0])], [0.0])
    cands = [
        _cand("same_clip", "t", [0, 0], [1, 0]),
        _cand("same_shot", "n", [0.1, 0], [0, 1]),  # different context: allowed
        _cand("same_shot", "m", [0.1, 0], [1, 0]),  # same context: not a same_shot reference
        _cand("cross_shot", "x", [0.2, 0], [1, 0]),
        _cand("cross_shot", "x", [0.2, 0], [0, 1]),
        _cand("cross_shot", "y", [0.2, 0], [1, 0]),
        _cand("cross_shot", "z", [3.0, 0], [0, 1]),  # a stranger: too far
    ]
    out = refs.select(target, refs.CandidateSet(cands), cfg, max_distance=0.55, scale=0.55)
    assert [r["kind"] for r in out] == ["cross_shot", "cross_shot", "cross_shot"]
    # the best context of clip x first, then clip y (one per clip), then x's second crop
    assert [r["source_clip_id"] for r in out] == ["x", "y", "x"]
    assert out[0]["context_similarity"] == 0.0
    assert all(r["source_clip_id"] != "z" for r in out)
    assert 0 < out[0]["similarity"] < 1
    cfg4 = IdentityConfig(references_per_clip=4)
    out = refs.select(
        target, refs.CandidateSet([c for c in cands if c.kind != "cross_shot"]), cfg4, 0.55, 0.55
    )
    assert [(r["kind"], r["source_clip_id"]) for r in out] == [("same_shot", "n"), ("same_clip", "t")]


def _by_clip(out):
    return {r["clip_id"]: r for r in out.to_pylist()}


def test_reference_kinds_within_and_across_sources():
    rows = features_rows([
        ("src1", [(0, 0.0, ["ann"]), (0, 4.0, ["ann"]), (1, 8.0, ["ann", "bob"]), (2, 12.0, ["bob"]),
                  (0, 30.0, ["cid"]), (0, 34.0, ["cid"]), (0, 40.0, ["cid"]), (3, 50.0, [])]),
        ("src2", [(0, 0.0, ["bob"]), (0, 4.0, ["bob"])]),
    ])  # fmt: skip
    # cid's clips lie in one shot; the last one (6 s after the first ends) moved to a new set
    for c in rows[6]["crops"]:
        c["context"] = [0.0] * 31 + [1.0]
    cfg = IdentityConfig(references_per_clip=2)
    out = _by_clip(identity_table(features_table(rows), cfg))
    assert len(out) == len(rows)
    ids = [r["clip_id"] for r in rows]
    ann0, ann1, ann_bob, bob, cid0, cid_near, cid_far, faceless, bob2a, bob2b = (out[i] for i in ids)
    assert ann0["reference_kind"] == "cross_shot"
    assert {r["source_clip_id"] for r in ann0["reference_images"]} == {ids[2]}  # ann in shot 1
    # bob's main-face clip: another recording of bob (src2) ranks first ...
    assert bob["reference_kind"] == "cross_source"
    assert {r["source_id"] for r in bob["reference_images"]} == {"src2"}
    # ... and without it, bob's other appearance in src1 (a second face in another shot) is cross_shot
    alone = _by_clip(identity_table(features_table([r for r in rows if r["source_id"] == "src1"]), cfg))
    assert alone[ids[3]]["reference_kind"] == "cross_shot"
    assert alone[ids[3]]["reference_images"][0]["source_clip_id"] == ids[2]
    assert ann_bob["identity_id"] == ann0["identity_id"] != bob["identity_id"]
    # src2's bob clips find bob in src1 through the dataset-wide index
    assert bob2a["identity_id"] == bob["identity_id"]
    assert bob2a["reference_kind"] == "cross_source"
    assert {r["source_id"] for r in bob2a["reference_images"]} == {"src1"}
    # cid: one shot only; the far clip in a new context is a same_shot reference, the near one is not
    assert [(r["kind"], r["source_clip_id"]) for r in cid0["reference_images"]] == [("same_shot", ids[6])] * 2
    # the near clip: under min_gap_seconds from both others -> only its own frames, recorded as such
    assert [r["kind"] for r in cid_near["reference_images"]] == ["same_clip", "same_clip"]
    assert {r["source_clip_id"] for r in cid_near["reference_images"]} == {ids[5]}
    assert faceless["identity_id"] is None and faceless["reference_images"] == []
    assert {r["_shard"] for r in out.values()} == {"part-0"}
    assert all(r["reference_backend"] == "dlib+histogram" for r in out.values() if r["identity_id"])


def test_no_reference_shows_another_person_and_reruns_agree():
    rng = random.Random(3)
    people = [f"p{i}" for i in range(12)]
    sources = []
    for s in range(20):
        cast = rng.sample(people, 3)
        clips = [(rng.randrange(3), 4.0 * k, rng.sample(cast, rng.choice([1, 1, 2]))) for k in range(8)]
        sources.append((f"src{s:02d}", clips))
    rows = features_rows(sources, seed=1)
    main = {r["clip_id"]: (r["_people"] or [None])[0] for r in rows}
    cfg = IdentityConfig()
    table = features_table(rows)
    out = identity_table(table, cfg)
    kinds = {}
    for r in out.to_pylist():
        for ref in r["reference_images"]:
            assert person_of(ref["image"]) == main[r["clip_id"]]
            kinds[ref["kind"]] = kinds.get(ref["kind"], 0) + 1
    assert kinds.get("cross_source", 0) > 0  # everyone has another recording: the best kind
    alone = identity_table(features_table([r for r in rows if r["source_id"] == "src00"]), cfg)
    local = [ref for r in alone.to_pylist() for ref in r["reference_images"]]
    assert any(ref["kind"] == "cross_shot" for ref in local)
    assert all(
        person_of(ref["image"]) == main[r["clip_id"]]
        for r in alone.to_pylist()
        for ref in r["reference_images"]
    )
    # one dataset-wide id per person
    ids = {}
    for r in out.to_pylist():
        ids.setdefault(main[r["clip_id"]], set()).add(r["identity_id"])
    assert all(len(v) == 1 for v in ids.values())
    assert len({next(iter(v)) for v in ids.values()}) == len(ids)
    shuffled = table.take(np.random.default_rng(0).permutation(table.num_rows))
    assert identity_table(shuffled, cfg).equals(out)


@pytest.mark.parametrize("k", [1, 4])
def test_k_references(k):
    rows = features_rows([("s", [(0, 0.0, ["ann"]), (1, 8.0, ["ann"]), (2, 16.0, ["ann"])])])
    out = identity_table(features_table(rows), IdentityConfig(references_per_clip=k))
    assert all(len(r["reference_images"]) == k for r in out.to_pylist())
