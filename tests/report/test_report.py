"""inspect prints summary + rows without media bytes; the HTML report is self-contained and complete."""

from __future__ import annotations

import base64
import re
from pathlib import Path

import cv2
import numpy as np
import pytest
from rich.console import Console

from humo_data.media.ffmpeg import run_ffmpeg, safe_path
from humo_data.report.html import write_report
from humo_data.report.inspect import DatasetNotFound, print_inspection
from tests.fault_corpus import reject_row, triplet_row, write_dataset

REJECTS = [reject_row(0, "probe", "unreadable"), reject_row(1, "probe", "no_audio_stream"),
           reject_row(2, "clips", "shot_too_short"), reject_row(3, "probe", "no_audio_stream")]  # fmt: skip


@pytest.fixture(scope="module")
def rgb_clip(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    """2.4 s at 25 fps: red, then green, then blue, 0.8 s each; the middle frame is green."""
    out = tmp_path_factory.mktemp("clip") / "rgb.mp4"
    run_ffmpeg([
        "-f", "lavfi", "-i", "color=c=red:s=96x64:r=25:d=0.8", "-f", "lavfi", "-i", "color=c=lime:s=96x64:r=25:d=0.8",
        "-f", "lavfi", "-i", "color=c=blue:s=96x64:r=25:d=0.8", "-filter_complex", "[0][1][2]concat=n=3:v=1:a=0",
        "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-y", safe_path(out),
    ])  # fmt: skip
    return out.read_bytes()


def _dataset(root: Path, video: bytes, n: int) -> Path:
    write_dataset(
        root, [triplet_row(i, video=video, source=i % 3) for i in range(n)], REJECTS, rows_per_shard=8
    )
    return root


def _thumb_grid(page: str) -> str:
    """The middle-frame grid only (capability sections add galleries of their own)."""
    return page[page.index("<h2>Clips (middle frame") :]


def _imgs(page: str) -> list[str]:
    return re.findall(r"<img [^>]*src='data:image/jpeg;base64,([A-Za-z0-9+/=]+)'", _thumb_grid(page))


def test_report_names_reasons_and_shows_middle_frames(tmp_path: Path, rgb_clip: bytes):
    root = _dataset(tmp_path / "out", rgb_clip, 5)
    path = write_report(root)
    assert path == root / "report" / "index.html"
    page = path.read_text()
    for reason in ("probe/unreadable", "probe/no_audio_stream", "clips/shot_too_short"):
        assert reason in page
    imgs = _imgs(page)
    assert len(imgs) == 5
    jpeg = cv2.imdecode(np.frombuffer(base64.b64decode(imgs[0]), np.uint8), cv2.IMREAD_COLOR)
    b, g, r = jpeg.reshape(-1, 3).mean(axis=0)
    assert g > 150 and r < 80 and b < 80, (b, g, r)  # green: the middle of red|green|blue
    fetched = re.sub(
        r"xmlns(:\w+)?=['\"]http://www\.w3\.org/[^'\"]*['\"]", "", page
    )  # namespaces fetch nothing
    assert "http://" not in fetched and "https://" not in fetched  # self-contained
    assert "<svg" in page and "Funnel" in page
    assert "00000000000000000000000" in page  # clip ids beside the thumbnails


def test_report_caps_thumbnails(tmp_path: Path, rgb_clip: bytes):
    root = _dataset(tmp_path / "out", rgb_clip, 27)
    page = write_report(root).read_text()
    assert len(_imgs(page)) == 24
    assert "24 of 27 clips" in page
    assert len(_imgs(write_report(root, max_thumbs=3).read_text())) == 3


def test_report_survives_undecodable_clip_bytes(tmp_path: Path):
    root = _dataset(tmp_path / "out", b"not an mp4 at all", 2)
    page = write_report(root).read_text()
    assert len(_imgs(page)) == 0
    assert _thumb_grid(page).count("cannot decode") == 2


def test_inspect_prints_summary_and_rows_without_media(tmp_path: Path, rgb_clip: bytes):
    root = _dataset(tmp_path / "out", rgb_clip, 5)
    console = Console(record=True, width=240)
    print_inspection(root, rows=2, console=console, wide=True)
    text = console.export_text()
    assert "clips (triplets)" in text and "5" in text
    assert "first 2 clip(s)" in text and "first 2 reject(s)" in text
    assert f"{0:024x}" in text and f"{2:024x}" not in text  # only the requested rows
    assert "no_audio_stream" in text and "shot_too_short" in text
    assert "pyscenedetect-content" in text
    assert f"{len(rgb_clip) / 1024:.1f} KB" in text  # size of the mp4, not its bytes
    assert "\\x" not in text and "b'" not in text


def test_inspect_missing_dataset(tmp_path: Path):
    with pytest.raises(DatasetNotFound, match="no _manifest.json"):
        print_inspection(tmp_path, console=Console(record=True))


def test_inspect_fits_80_columns_with_short_ids_identity_and_reference(tmp_path: Path):
    """In an 80-column terminal every line fits, each sample clip is one line (its short id whole,
    not wrapped), and identity_id (what `remove --identity` takes) and the reference kind show."""
    rows = []
    for i in range(3):
        row = triplet_row(i, source=i)
        row.update(source_uri=f"/videos/an interview recorded for a long-running podcast, part {i}.mp4",
                   identity_id=f"id-{i:016x}", reference_kind="cross_source", stage1=True, stage2=i == 1,
                   caption="A man in a grey suit talks to the camera in a studio with warm light.")  # fmt: skip
        rows.append(row)
    root = tmp_path / "out"
    write_dataset(root, rows, REJECTS, rows_per_shard=8)
    console = Console(record=True, width=80)
    print_inspection(root, rows=3, console=console)
    lines = console.export_text().splitlines()
    assert max(len(line) for line in lines) <= 80
    for i in range(3):
        line = next(ln for ln in lines if f"id-{i:016x}" in ln)  # the whole identity on the clip's line
        assert f"{i:024x}"[:8] + "\u2026" in line and "cross_source" in line and "podcast" not in line
    assert "identity_id" in "".join(lines) and "reference" in "".join(lines)


def test_histograms_draw_nothing_for_an_empty_bin():
    """Faces, quality and page histograms: one rect per non-empty bin, none of them class 'bar' (the
    page's `.bar` CSS rule gives an element a 12 px height, which on an SVG rect overrides its
    height attribute and drew every empty bin as a square on the baseline)."""
    from humo_data.report import faces_section, quality_section
    from humo_data.report.html import _PAGE, _svg_histogram

    values = [0.05, 0.06, 0.62, 0.95]  # 3 of 20 bins on [0, 1]
    for svg in (faces_section.svg_histogram(values, 0.0, 1.0, threshold=0.5),
                quality_section.svg_histogram(values), _svg_histogram(values)):  # fmt: skip
        rects = re.findall(r"<rect[^>]*>", svg)
        assert len(rects) == 3, svg
        assert all(float(re.search(r"height='([0-9.]+)'", r).group(1)) > 0 for r in rects)
    assert ".bar {" in _PAGE and "class='bar'" not in faces_section.svg_histogram(values, 0.0, 1.0)
    assert "class='bar'" not in faces_section.svg_bars([("0", 0), ("1", 4)])
    assert len(re.findall("<rect", faces_section.svg_bars([("0", 0), ("1", 4)]))) == 1
