"""The same-footage check on synthetic features rows with known copies: motion alignment (footage.py)
and what the identity pass makes of it (passes.py). Real media: test_identity_footage.py."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.ndimage import gaussian_filter1d

from humo_data.identity.config import IdentityConfig
from humo_data.identity.footage import Aligner, Series, align, mapped_kind, series_from_clips, still_start
from humo_data.identity.job import identity_table
from tests.identity.synthetic import features_rows, features_table

FPS = 25
CLIP = 4.0


def _motion(seconds: float, seed: int) -> np.ndarray:
    """A talking-head-like per-frame motion: smoothed |noise| with a slow drift."""
    rng = np.random.default_rng(seed)
    n = int(seconds * FPS)
    fast = gaussian_filter1d(np.abs(rng.normal(size=n)), 1.5)
    return (0.004 + 0.01 * fast + 0.002 * np.sin(np.arange(n) / 40.0)).astype(np.float32)


def _clip_motion(base: np.ndarray, start: float, seconds: float, noise: float, seed: int) -> list[float]:
    """The cutter's _motion of a clip (one value per pair of frames) cut from a recording's motion."""
    i = int(round(start * FPS))
    piece = base[i : i + int(seconds * FPS) - 1]
    rng = np.random.default_rng(seed)
    return (piece * (1 + rng.normal(0, noise, len(piece)))).astype(np.float32).tolist()


def test_align_finds_a_trim_and_nothing_else():
    cfg = IdentityConfig()
    base = _motion(40, 0)
    a = series_from_clips(
        [(_clip_motion(base, s, CLIP, 0.0, 1), s, s + CLIP) for s in np.arange(0, 20, CLIP)], cfg
    )
    # a copy trimmed by 1.32 s, rescaled motion (another size / bitrate) and noisy
    trim = 1.32
    b = series_from_clips(
        [(_clip_motion(base, s + trim, CLIP, 0.15, 2), s, s + CLIP) for s in np.arange(0, 16, CLIP)], cfg
    )
    found = align(a, b, cfg)
    assert found is not None and abs(found.offset - trim) < 0.1 and found.correlation > 0.8
    other = series_from_clips([(_clip_motion(_motion(40, 7), 0, 12, 0.0, 3), 0.0, 12.0)], cfg)
    assert align(a, other, cfg) is None
    still = Series(0, np.zeros(200, np.float32), cfg.footage_step_seconds)
    assert align(a, still, cfg) is None and align(still, still, cfg) is None
    short = series_from_clips([(_clip_motion(base, 2.0, 2.0, 0.0, 4), 2.0, 4.0)], cfg)  # 2 s: too short
    assert align(a, short, cfg) is None
    # the batched aligner agrees with one-by-one alignment
    batch = Aligner([b, other, still], cfg).align(a)
    assert batch[1] is None and batch[2] is None and abs(batch[0].offset - found.offset) < 1e-9


def test_still_stretches_and_mapped_kinds():
    v = np.array([0.01, 0.0, 0.0, 0.0, 0.02, 0.0], np.float32)
    s = Series(10, v, 0.5)  # bins from 5.0 s
    assert still_start(s, 5.7, 1e-3) == 5.5 and still_start(s, 6.6, 1e-3) == 5.5
    assert (
        still_start(s, 5.2, 1e-3) is None
        and still_start(s, 7.3, 1e-3) is None
        and still_start(s, 7.6, 1e-3) == 7.5
    )
    assert mapped_kind(12.0, 10.0, 14.0, 5.0, 0.5) == "same_clip"
    assert mapped_kind(14.4, 10.0, 14.0, 5.0, 0.5) == "same_clip"
    assert mapped_kind(17.0, 10.0, 14.0, 5.0, 0.5) is None  # too close for same_shot
    assert mapped_kind(19.5, 10.0, 14.0, 5.0, 0.5) == "same_shot"


def _rows(copy_looks_alike: bool) -> tuple[list[dict], dict[str, float]]:
    """ann's recording X (16 s, one shot), an upload Y of it trimmed by 1 s, an upload Z of a later
    part of the same recording (no shared moments, same look), and another recording W of ann."""
    base, other = _motion(60, 0), _motion(60, 9)
    layout = {"X": (base, 0.0, 4), "Y": (base, 1.0, 4), "Z": (base, 30.0, 3), "W": (other, 0.0, 3)}
    rows = features_rows(
        [(s, [(0, k * CLIP, ["ann"]) for k in range(n)]) for s, (_, _, n) in layout.items()],
        clip_seconds=CLIP,
    )
    x_context = next(r for r in rows if r["source_id"] == "X")["crops"][0]["context"]
    for i, r in enumerate(rows):
        motion, trim, _ = layout[r["source_id"]]
        r["motion"] = _clip_motion(motion, r["start_time"] + trim, CLIP, 0.1, i)
        if r["source_id"] in ("Z",) or (r["source_id"] == "Y" and copy_looks_alike):
            for c in r["crops"]:  # the same set and clothes as X
                c["context"] = x_context
    return rows, {s: t for s, (_, t, _) in layout.items()}


@pytest.mark.parametrize("looks_alike", [True, False])
def test_copies_and_the_same_recording_are_never_cross_source(looks_alike):
    rows, trims = _rows(looks_alike)
    cfg = IdentityConfig(references_per_clip=4)
    out = identity_table(features_table(rows), cfg).to_pylist()
    source = {r["clip_id"]: r["source_id"] for r in rows}
    recording = {"X": "x", "Y": "x", "Z": "x", "W": "w"}
    start = {r["clip_id"]: r["start_time"] for r in rows}
    assert len({r["identity_id"] for r in out}) == 1
    for r in out:
        mine = source[r["clip_id"]]
        for ref in r["reference_images"]:
            if ref["kind"] == "cross_source":
                assert recording[ref["source_id"]] != recording[mine], (mine, ref["source_id"])
            if ref["source_id"] != mine and recording[ref["source_id"]] == recording[mine]:
                # a copy's crop (Y for X, X for Y), mapped through the trim: the clip's own moments
                # are same_clip, moments far enough away at best same_shot (when the context differs)
                t = ref["time"] + trims[ref["source_id"]] - trims[mine]
                t0, t1 = start[r["clip_id"]], start[r["clip_id"]] + CLIP
                assert ref["kind"] in ("same_clip", "same_shot")
                if ref["kind"] == "same_clip":
                    assert t0 - 0.5 <= t <= t1 + 0.5
                else:
                    assert not looks_alike and min(abs(t - t0), abs(t - t1)) >= cfg.min_gap_seconds - 0.5
        # never one moment twice: times on the recording's own timeline
        moments = sorted(
            (recording[ref["source_id"]], ref["time"] + trims[ref["source_id"]])
            for ref in r["reference_images"]
        )
        for (ka, ta), (kb, tb) in zip(moments, moments[1:], strict=False):
            assert ka != kb or tb - ta > 0.3, moments
    # X, Y and Z are one recording; only W is another one: X's, Y's and Z's clips take W as cross_source
    for r in out:
        if source[r["clip_id"]] != "W":
            assert r["reference_kind"] == "cross_source"
            assert {x["source_id"] for x in r["reference_images"] if x["kind"] == "cross_source"} == {"W"}


def test_a_different_looking_copy_is_caught_by_motion_alone():
    """A copy whose surroundings no longer match (a colour grade, a mirror, an overlay): the motion
    still says it is the same footage."""
    rows, _ = _rows(copy_looks_alike=False)
    out = {r["clip_id"]: r for r in identity_table(features_table(rows), IdentityConfig()).to_pylist()}
    x_clips = [r["clip_id"] for r in rows if r["source_id"] == "X"]
    kinds = {ref["kind"] for c in x_clips for ref in out[c]["reference_images"] if ref["source_id"] == "Y"}
    assert "cross_source" not in kinds
    # without the motion the same rows would call Y another recording
    for r in rows:
        r["motion"] = None
    blind = {r["clip_id"]: r for r in identity_table(features_table(rows), IdentityConfig()).to_pylist()}
    kinds = {ref["kind"] for c in x_clips for ref in blind[c]["reference_images"] if ref["source_id"] == "Y"}
    assert kinds == {"cross_source"}
