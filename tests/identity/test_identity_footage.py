"""Same footage is not another context (issue 21), on real media through the real pipeline.

- ``humo-data curate`` (default config: no dedup) on one talking video uploaded as nine separate
  files (the original, the copies of tests/dataset_ops/uploads.py: CRF 34, 150 kbit/s, scaled to 3/4,
  a 10% crop, a letterbox, the first second trimmed; the audio shifted 0.4 s; re-containered to MKV) plus the A/B/A edit in tests/data: no clip
  takes a cross_source or cross_shot reference from a copy, no reference list shows one moment twice,
  and A's clips still take cross_shot references from A's other shot (other moments of A).
- Two different photos of one person (facerec_obama / obama2, biden / biden2), each a source of its
  own, through the cutter, the face stage and the identity pass: each is the other's cross_source
  reference, with a context similarity below every same-footage pair's.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from humo_data.config import load_config
from humo_data.faces.config import FacesConfig
from humo_data.faces.stage import FaceStage
from humo_data.identity.config import IdentityConfig
from humo_data.identity.job import identity_table
from humo_data.identity.references import Candidate, CandidateSet
from humo_data.io.dataset import open_dataset
from humo_data.jobs.plan import cut_source
from humo_data.media.ffmpeg import run_ffmpeg, safe_path
from tests.dataset_ops.uploads import COPIES, make_upload
from tests.identity.stage_rows import features_from_stage
from tests.shared_media import REPO, media_file, needs_media

pytestmark = needs_media
TALKING = "liveportrait_d10.mp4"  # 15 s, one shot: two clips per copy
ARGS = ["--set", "probe.require_audio=false", "--set", "ray.num_cpus=2", "--no-progress"]
SAME_MOMENT = 0.3  # seconds: two crops closer than this on the original's timeline show one moment


def _copies(src: Path, folder: Path) -> dict[str, float]:
    """The uploads of ``src`` in ``folder``: file name -> seconds trimmed from its start."""
    trims = {"original.mp4": 0.0}
    (folder / "original.mp4").write_bytes(src.read_bytes())
    for name, options in COPIES:
        make_upload(src, folder / f"{name}.mp4", **options)
        trims[f"{name}.mp4"] = float(options.get("trim", 0.0))
    run_ffmpeg(["-y", "-v", "error", "-i", safe_path(src), "-itsoffset", "0.4", "-i", safe_path(src),
                "-map", "0:v", "-map", "1:a", "-c:v", "copy", "-c:a", "aac", safe_path(folder / "audio_shift.mp4")])  # fmt: skip
    trims["audio_shift.mp4"] = 0.0
    run_ffmpeg(["-y", "-v", "error", "-i", safe_path(src), "-c", "copy", safe_path(folder / "remux.mkv")])
    trims["remux.mkv"] = 0.0
    return trims


@pytest.fixture(scope="module")
def curated(tmp_path_factory) -> tuple[list[dict], dict[str, float | None]]:
    tmp = tmp_path_factory.mktemp("footage")
    inputs = tmp / "in"
    inputs.mkdir()
    trims: dict[str, float | None] = dict(_copies(media_file(TALKING), inputs))
    (inputs / "aba.mp4").write_bytes((REPO / "tests" / "data" / "multishot_aba_9s.mp4").read_bytes())
    trims["aba.mp4"] = None  # not a copy
    out = tmp / "out"
    cmd = [sys.executable, "-m", "humo_data.cli", "curate", "-i", str(inputs), "-o", str(out), *ARGS]
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, timeout=840)
    rows = open_dataset(str(out)).read(
        "triplets", ["clip_id", "source_id", "source_uri", "shot_index", "start_time", "end_time",
                     "reference_kind", "reference_images", "stage1", "stage1_reason"],
    ).to_pylist()  # fmt: skip
    return rows, trims


def _file(row: dict) -> str:
    return Path(row["source_uri"]).name


@pytest.mark.slow
def test_copies_are_never_another_context(curated):
    rows, trims = curated
    trim_of_source = {r["source_id"]: trims[_file(r)] for r in rows}
    copies = [r for r in rows if trims[_file(r)] is not None]
    assert len({_file(r) for r in copies}) >= 6, "most uploads must give clips"
    kinds = [ref["kind"] for r in copies for ref in r["reference_images"] or []]
    assert kinds, "the copies' clips have references (their own frames at least)"
    assert not {"cross_source", "cross_shot"} & set(kinds), kinds
    for r in copies:
        assert r["reference_kind"] in ("same_shot", "same_clip")
        assert not r["stage1"] and r["stage1_reason"] == "reference_kind_below_minimum"
        # on the original's timeline: no moment twice, and a same_clip reference lies in the clip
        times = sorted(ref["time"] + trim_of_source[ref["source_id"]] for ref in r["reference_images"])
        assert all(b - a > SAME_MOMENT for a, b in zip(times, times[1:], strict=False)), times
        start, end = (t + trims[_file(r)] for t in (r["start_time"], r["end_time"]))
        for ref in r["reference_images"]:
            t = ref["time"] + trim_of_source[ref["source_id"]]
            if ref["kind"] == "same_clip":
                assert start - 0.6 <= t <= end + 0.6, (t, start, end)
            else:
                assert min(abs(t - start), abs(t - end)) >= IdentityConfig().min_gap_seconds - 0.6


@pytest.mark.slow
def test_aba_keeps_cross_shot_references_from_other_moments(curated):
    rows, trims = curated
    aba = sorted((r for r in rows if trims[_file(r)] is None), key=lambda r: r["start_time"])
    a_clips = [r for r in aba if r["shot_index"] in (0, 2)]
    assert len(a_clips) == 2, [(r["shot_index"], r["start_time"]) for r in aba]
    for r in a_clips:
        (other,) = [x for x in a_clips if x is not r]
        assert r["reference_kind"] == "cross_shot"
        assert {ref["source_clip_id"] for ref in r["reference_images"]} == {other["clip_id"]}
        assert r["stage1"]


def _still_video(image: Path, out: Path) -> Path:
    run_ffmpeg(["-y", "-v", "error", "-loop", "1", "-t", "3", "-i", safe_path(image), "-vf",
                "scale=trunc(iw/2)*2:trunc(ih/2)*2,fps=25,format=yuv420p", "-c:v", "libx264", "-preset",
                "veryfast", safe_path(out)])  # fmt: skip
    return out


def _features(files: list[Path]) -> tuple[pa.Table, dict[str, str]]:
    """Features rows of the files (real cutter + face stage), and source_id -> file stem."""
    cfg = load_config("default", ["probe.require_audio=false"])
    stage = FaceStage(FacesConfig())
    out = pa.concat_tables([stage(cut_source(str(f), cfg)) for f in files])
    clips = out.filter(pc.equal(out.column("_kind"), "clip"))
    stems = {
        r["source_id"]: Path(r["source_uri"]).stem
        for r in clips.select(["source_id", "source_uri"]).to_pylist()
    }
    return features_from_stage(clips), stems


def _context(a: dict, b: dict) -> float:
    """The identity pass's context similarity of b's main-face crops to a's (best pair)."""
    cands = CandidateSet(
        [Candidate("cross_source", b["clip_id"], b["source_id"], c["time"], c["image"], c["box"], c["yaw"],
                   np.asarray(c["context"], np.float32), np.asarray(b["main_embedding"], np.float32))
         for c in b["crops"] if c["track"] == b["main_track"]],
        a["context_backend"],
    )  # fmt: skip
    own = [np.asarray(c["context"], np.float32) for c in a["crops"] if c["track"] == a["main_track"]]
    return float(np.nanmax(cands.context_similarity(own)))


def test_two_photos_of_one_person_are_another_context(tmp_path):
    pairs = [("facerec_obama", "facerec_obama2"), ("facerec_biden", "facerec_biden2")]
    files = [_still_video(media_file(f"{n}.jpg"), tmp_path / f"{n}.mp4") for pair in pairs for n in pair]
    # one talking video and two of its copies: the same-footage pairs to compare with
    src = media_file(TALKING)
    copies = [tmp_path / "original.mp4", tmp_path / "crop10.mp4", tmp_path / "letterbox.mp4"]
    copies[0].write_bytes(src.read_bytes())
    make_upload(src, copies[1], vf="crop=iw*0.9:ih*0.9")
    make_upload(src, copies[2], vf="pad=iw*16/9:ih:(ow-iw)/2:0")
    table, stems = _features([*files, *copies])
    rows = table.to_pylist()
    assert {stems[r["source_id"]] for r in rows} == {f.stem for f in [*files, *copies]}, (
        "every file gives a clip"
    )
    same_footage = [
        _context(a, b)
        for a in rows
        for b in rows
        if a["source_id"] != b["source_id"] and stems[a["source_id"]] in {c.stem for c in copies}
        and stems[b["source_id"]] in {c.stem for c in copies}
    ]  # fmt: skip
    assert len(same_footage) >= 6 and min(same_footage) >= IdentityConfig().context_limit("surround")
    out = {r["clip_id"]: r for r in identity_table(table, IdentityConfig()).to_pylist()}
    for first, second in pairs:
        (ra,) = [r for r in rows if stems[r["source_id"]] == first]
        (rb,) = [r for r in rows if stems[r["source_id"]] == second]
        assert _context(ra, rb) < min(same_footage)
        for target, other in ((ra, rb), (rb, ra)):
            got = out[target["clip_id"]]
            assert got["reference_kind"] == "cross_source"
            cross = [x for x in got["reference_images"] if x["kind"] == "cross_source"]
            assert {x["source_id"] for x in cross} == {other["source_id"]}
            assert max(x["context_similarity"] for x in cross) < min(same_footage)
            # a photo shown for 3 s is one picture: one crop of it, not two
            assert len(cross) == 1
