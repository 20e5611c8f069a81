"""The DiT against the release's own module tree: parameter names and shapes of both presets equal
the key -> shape lists derived from Phantom-video/HuMo's ``WanModel`` and model configs
(tests/train/data/README.md says how), and a state dict of exactly those keys and shapes loads
with an empty report."""

from __future__ import annotations

import gzip
import json
import math
from pathlib import Path

import pytest
import torch

from humo_data.train.model import HuMo, HuMoConfig
from humo_data.train.model.transformer import HuMoTransformer
from humo_data.train.weights import load_state

DATA = Path(__file__).parent / "data" / "release_dit_shapes.json.gz"
# Counts of the released checkpoints' DiT (tensors, parameters), as stated in issue 15.
RELEASED = {"humo-1.7b": (1193, 1_741_569_088), "humo-17b": (1583, 17_055_925_312)}


@pytest.fixture(scope="module")
def release() -> dict[str, dict[str, list[int]]]:
    with gzip.open(DATA, "rt") as fh:
        doc = json.load(fh)
    assert doc["source"]["repository"] == "Phantom-video/HuMo"
    return doc["presets"]


@pytest.mark.parametrize("preset", sorted(RELEASED))
def test_key_shape_list_matches_the_release_exactly(release, preset):
    want = release[preset]
    assert (len(want), sum(math.prod(s) for s in want.values())) == RELEASED[preset]
    with torch.device("meta"):
        ours = HuMoTransformer(HuMoConfig.preset(preset)).state_dict()
    got = {k: list(v.shape) for k, v in ours.items()}
    assert sorted(set(want) - set(got)) == [], "in the release, not in our DiT"
    assert sorted(set(got) - set(want)) == [], "in our DiT, not in the release"
    assert {k: (want[k], got[k]) for k in want if want[k] != got[k]} == {}, "shape differs"


@pytest.mark.parametrize("preset", sorted(RELEASED))
def test_a_release_shaped_state_dict_loads_with_an_empty_report(release, preset):
    """The loader's own path (prefixes, report) on the release's full key list, on meta tensors."""
    with torch.device("meta"):
        model = HuMo(HuMoConfig.preset(preset))
        state = {k: torch.empty(shape) for k, shape in release[preset].items()}
    report = load_state(model, state, source=f"release {preset}", verbose=False)
    assert report.ok, report.summary()
    assert report.loaded == RELEASED[preset][0]
    assert report.not_in_release and all(k.startswith("mask_predictor.") for k in report.not_in_release)
