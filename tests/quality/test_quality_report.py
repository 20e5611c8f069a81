"""The quality/captions report fragment on a small dataset made of real cutter rows: accepted
clips (quality + template captions) and quality rejects of a blurred copy made here with ffmpeg."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from humo_data.captions import CaptionsConfig, CaptionStage
from humo_data.jobs.plan import cut_source
from humo_data.media.ffmpeg import run_ffmpeg, safe_path
from humo_data.quality import QualityConfig, QualityStage
from humo_data.report.quality_section import section, svg_histogram
from tests.fault_corpus import rejects_from_working, write_dataset
from tests.shared_media import media_file, needs_media

pytestmark = needs_media


def curated(path: Path) -> list[dict]:
    table = QualityStage(QualityConfig())(cut_source(str(path)))
    table = CaptionStage(CaptionsConfig(enabled=True))(table)
    return [r for r in table.to_pylist() if r["_kind"] == "clip"]


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("qreport")
    good = shutil.copy(media_file("sadtalker_WDA_AlexandriaOcasioCortez_000.mp4"), tmp / "speaker.mp4")
    blurred = tmp / "speaker_blurred.mp4"
    run_ffmpeg(["-i", safe_path(Path(good)), "-vf", "gblur=sigma=6", "-c:v", "libx264", "-preset", "ultrafast",
                "-c:a", "copy", "-y", safe_path(blurred)])  # fmt: skip
    kept = [r for r in curated(Path(good)) if r["_reject_reason"] is None]
    bad = [r for r in curated(blurred) if r["_reject_reason"]]
    assert kept and bad
    root = tmp / "out"
    write_dataset(
        root, kept, rejects_from_working(bad), config={"quality": QualityConfig().model_dump(mode="json")}
    )
    return root


def test_fragment_shows_distributions_reasons_captions_and_galleries(dataset):
    page = section(str(dataset))
    assert page.startswith("<section class='quality'>") and page.endswith("</section>")
    for label in ("exposure (mean luma)", "sharpness (Laplacian variance, 360 px)", "caption length (words)"):
        assert label in page
    assert "<title>threshold 15</title>" in page  # sharpness_min from the manifest's config
    assert "<td>blurry</td>" in page and "blurry sharpness" in page  # reason + detail with the number
    assert "template / template-v1" in page
    accepted, rejected = page.split("<h3>Accepted clips</h3>")[1].split("<h3>Rejected by quality</h3>")
    assert accepted.count("<img") >= 1 and "in a square frame" in accepted  # frame + template caption
    assert rejected.count("<img") >= 1  # the blurred source is still on disk: its frame is shown


def test_fragment_on_a_dataset_without_quality_columns(tmp_path):
    from tests.fault_corpus import reject_row, triplet_row

    write_dataset(tmp_path, [triplet_row(0), triplet_row(1)], [reject_row(0, "probe", "unreadable")])
    page = section(str(tmp_path))
    assert "quality stage off" in page and "No clip was rejected by the quality gates" in page
    assert "cannot decode" in page or "no video" in page  # fake video bytes: text, not a crash


def test_histogram_draws_thresholds_on_a_log_axis():
    svg = svg_histogram([1.0, 10.0, 100.0, 1000.0], marks=[15.0], log=True)
    assert svg.count("<rect") == 4 and "threshold 15" in svg and "(log)" in svg  # empty bins: no bar
