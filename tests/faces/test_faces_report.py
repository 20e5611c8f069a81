"""The faces/identity report fragment on a small dataset made by the real cutter, face stage and
identity pass: an A/B/A source, a second source of B, and a faceless test pattern."""

from __future__ import annotations

import re
from pathlib import Path

import pyarrow as pa
import pytest

from humo_data.config import load_config
from humo_data.faces.config import FacesConfig
from humo_data.faces.stage import FaceStage
from humo_data.identity.config import IdentityConfig
from humo_data.identity.job import identity_table
from humo_data.jobs.plan import cut_source
from humo_data.media.ffmpeg import run_ffmpeg, safe_path
from humo_data.report.faces_section import section, svg_histogram
from tests.faces.face_rows import concat_clips
from tests.fault_corpus import rejects_from_working, write_dataset
from tests.identity.stage_rows import features_from_stage
from tests.shared_media import media_file, needs_media

pytestmark = needs_media


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("freport")
    a, b = media_file("sadtalker_WDA_AlexandriaOcasioCortez_000.mp4"), media_file("liveportrait_d10.mp4")
    files = [
        concat_clips([(a, 0, 4), (b, 0, 4), (a, 4, 4)], tmp / "aba.mp4"),
        concat_clips([(b, 6, 8)], tmp / "b.mp4"),
    ]
    pattern = tmp / "pattern.mp4"
    run_ffmpeg(["-f", "lavfi", "-i", "testsrc2=s=640x360:d=3", "-c:v", "libx264", "-preset", "ultrafast", "-y",
                safe_path(pattern)])  # fmt: skip
    cfg = load_config("default", ["probe.require_audio=false"])
    stage = FaceStage(FacesConfig())
    out = pa.concat_tables([stage(cut_source(str(f), cfg)) for f in [*files, pattern]])
    clips = out.filter(pa.compute.equal(out.column("_kind"), "clip"))
    live = clips.filter(pa.compute.is_null(clips.column("_reject_reason")))
    ident = {r["clip_id"]: r for r in identity_table(features_from_stage(live), IdentityConfig()).to_pylist()}
    triplets = []
    for r in live.to_pylist():
        o = ident[r["clip_id"]]
        triplets.append(
            {
                **r,
                **{
                    k: o[k]
                    for k in ("identity_id", "reference_images", "reference_kind", "reference_backend")
                },
            }
        )
    rejects = rejects_from_working(clips.to_pylist())
    assert len(triplets) == 4 and rejects
    root = tmp / "out"
    write_dataset(root, triplets, rejects, config={"identity": IdentityConfig().model_dump(mode="json")})
    return root


def test_fragment_counts_kinds_people_and_shows_references(dataset):
    page = section(str(dataset))
    assert page.startswith("<section class='faces'>") and page.endswith("</section>")
    for title in ("people per clip", "reference identity similarity", "reference context similarity"):
        assert title in page
    # A's two clips: cross_shot; B's two clips (one per source): their own frames, since B's second
    # source is another part of the same recording (never cross_source); both other-context kinds count
    assert "<tr><td>cross_shot</td><td>2</td><td>4</td><td>yes</td></tr>" in page
    assert "<tr><td>cross_source</td><td>0</td><td>0</td><td>yes</td></tr>" in page
    assert "<tr><td>same_clip</td><td>2</td><td>4</td><td>no</td></tr>" in page
    assert "<td>no_face</td>" in page
    assert "dataset-wide identities</td><td>2<" in page
    imgs = re.findall(r"<img src='data:image/jpeg;base64,", page)
    assert len(imgs) == 4 + 4 * 2  # four targets, two references each
    assert "<title>threshold 0.5</title>" in page


def test_fragment_on_a_dataset_without_faces(tmp_path):
    write_dataset(tmp_path / "out", [], [])
    page = section(str(tmp_path / "out"))
    assert "No clip has reference images yet." in page and "no data" in page


def test_histogram_marks_threshold():
    svg = svg_histogram([0.1, 0.61, 0.65, 0.9], 0.0, 1.0, bins=10, threshold=0.5)
    assert svg.count("<rect") == 3 and "threshold 0.5" in svg and "n=4" in svg  # empty bins: no bar
