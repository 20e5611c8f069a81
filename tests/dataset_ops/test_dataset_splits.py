"""Identity-disjoint splits: one person in several sources never lands in two splits, fractions hold
within a tolerance, the split-separated shards validate and load as splits with `datasets`, and a
rerun after new sources moves no earlier row. Synthetic datasets (real shards and manifest, tiny
placeholder media); the real-media chain is in test_dataset_ops_e2e.py."""

from __future__ import annotations

from collections import defaultdict

import pytest

from humo_data.dataset_ops.config import load_ops_config
from humo_data.dataset_ops.splits import assign, hash_split, run_split
from humo_data.io.dataset import open_dataset
from humo_data.io.splits import split_pattern
from humo_data.io.validate import validate_dataset
from tests.dataset_ops.synthetic import synthetic_rows, write_dataset

PEOPLE = 400


def _ops(*overrides: str):
    return load_ops_config(None, None, ["in_process_max_shards=100000", *overrides])


def _rows(out) -> list[dict]:
    return (
        open_dataset(str(out))
        .read("triplets", columns=["clip_id", "source_id", "identity_id", "split"])
        .to_pylist()
    )


@pytest.fixture(scope="module")
def split_dataset(tmp_path_factory):
    out = tmp_path_factory.mktemp("splits") / "out"
    rows, sources_of = synthetic_rows(PEOPLE)
    write_dataset(out, rows)
    summary = run_split(str(out), _ops())
    return out, rows, sources_of, summary


def test_no_person_and_no_source_in_two_splits(split_dataset):
    out, rows, sources_of, summary = split_dataset
    assert validate_dataset(str(out)) == []
    after = _rows(out)
    assert len(after) == len(rows) and all(r["split"] for r in after)
    splits_of_identity, splits_of_source = defaultdict(set), defaultdict(set)
    for r in after:
        splits_of_source[r["source_id"]].add(r["split"])
        if r["identity_id"]:
            splits_of_identity[r["identity_id"]].add(r["split"])
    assert all(len(s) == 1 for s in splits_of_identity.values())
    assert all(len(s) == 1 for s in splits_of_source.values())
    # people seen in several sources are the case that matters
    assert sum(len(s) > 1 for s in sources_of.values()) > PEOPLE // 3
    # every shard holds one split, named for it
    for entry in open_dataset(str(out)).shards("triplets"):
        assert entry["path"].startswith("triplets/part-split-")


def test_fractions_within_tolerance(split_dataset):
    out, rows, _, summary = split_dataset
    sizes = summary["sizes"]
    total = sum(v["clips"] for v in sizes.values())
    ids = sum(v["identities"] for v in sizes.values())
    for name, target in {"train": 0.9, "validation": 0.05, "test": 0.05}.items():
        assert abs(sizes[name]["clips"] / total - target) < 0.04, (name, sizes)
        assert abs(sizes[name]["identities"] / ids - target) < 0.04, (name, sizes)
    assert summary["moved_clips"] == 0 and not summary["warnings"], summary["warnings"]


def test_splits_load_with_datasets(split_dataset, tmp_path, monkeypatch):
    datasets = pytest.importorskip("datasets")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    out, _, _, summary = split_dataset
    card = (out / "README.md").read_text()
    assert card.startswith("---\n") and split_pattern("validation") in card
    loaded = datasets.load_dataset(str(out), cache_dir=str(tmp_path / "hf"))
    assert set(loaded) == {"train", "validation", "test"}
    for name, ds in loaded.items():
        assert ds.num_rows == summary["sizes"][name]["clips"]
        assert set(ds["split"]) == {name}


def test_rerun_after_new_sources_moves_no_earlier_row(tmp_path):
    out = tmp_path / "out"
    rows, sources_of = synthetic_rows(120, seed=3)
    write_dataset(out, rows)
    run_split(str(out), _ops())
    before = {r["clip_id"]: r["split"] for r in _rows(out)}
    # new sources: people already split (one new source each) and new people
    known = sorted(sources_of)[:20]
    extra = [r for r in synthetic_rows(30, seed=4, prefix="n")[0]]
    from tests.dataset_ops.synthetic import clip_row

    extra += [clip_row(f"x{i:04d}", 0, identity) for i, identity in enumerate(known)]
    write_dataset(out, extra, run_id="r1more")
    summary = run_split(str(out), _ops())
    assert validate_dataset(str(out)) == []
    after = {r["clip_id"]: r for r in _rows(out)}
    assert all(after[c]["split"] == s for c, s in before.items())
    split_of = {r["identity_id"]: r["split"] for c, r in after.items() if c in before and r["identity_id"]}
    for i, identity in enumerate(known):
        assert after[f"x{i:04d}-c000"]["split"] == split_of[identity]
    assert summary["moved_clips"] == 0


def test_a_new_link_between_two_split_people_moves_the_minority_and_says_so():
    # person A (train, 3 clips) and person B (test, 1 clip) turn out to share a source
    pairs = {("s1", "A", "train"): 3, ("s2", "B", "test"): 1, ("s3", "A", None): 1, ("s3", "B", None): 1}
    from collections import Counter

    from humo_data.dataset_ops.config import SplitConfig

    a = assign(Counter(pairs), SplitConfig())
    assert a.split_for("s2", "B", "identity+source") == "train"
    assert a.moved_clips == 1 and a.warnings


def test_group_hash_is_seeded_and_stable():
    from humo_data.dataset_ops.config import SplitConfig

    cfg = SplitConfig()
    names = [hash_split(f"id-{i}", cfg) for i in range(2000)]
    assert names == [hash_split(f"id-{i}", cfg) for i in range(2000)]
    assert abs(names.count("test") / 2000 - 0.05) < 0.02
    other = [hash_split(f"id-{i}", SplitConfig(seed=1)) for i in range(2000)]
    assert other != names
