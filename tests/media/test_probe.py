"""Probe verdicts on the fault corpus and on real media, the probe stage's rows, and probe speed."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from humo_data.config import ProbeConfig
from humo_data.io.sources import MISSING_SIZE
from humo_data.media.ffmpeg import run_ffmpeg, safe_path
from humo_data.media.probe import probe_media
from humo_data.probe.stage import ProbeStage
from humo_data.stage import rows_to_table
from tests.fault_corpus import ODD_NAMES, VALID_PROPERTIES, make_fault_corpus
from tests.shared_media import MEDIA, needs_media


@pytest.fixture(scope="session")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str | None]]:
    root = tmp_path_factory.mktemp("fault_corpus")
    return root, make_fault_corpus(root)


def test_fault_corpus_verdicts(corpus):
    root, expected = corpus
    got = {name: probe_media(str(root / name), ProbeConfig()).reject_reason for name in expected}
    assert got == expected


def test_valid_files_report_their_properties(corpus):
    root, _ = corpus
    for name, props in VALID_PROPERTIES.items():
        res = probe_media(str(root / name), ProbeConfig())
        assert res.ok, (name, res.reject_detail)
        for key, value in props.items():
            assert getattr(res, key) == value, (name, key)
        assert res.fps == pytest.approx(25.0, rel=0.02)
        assert res.duration == pytest.approx(3.0, abs=0.1)
        assert (res.width, res.height) == (160, 120)
        assert res.audio_sample_rate == 16000 and res.audio_channels == 1


def test_rejects_carry_detail_and_metadata(corpus):
    root, _ = corpus
    res = probe_media(str(root / "huge_4400.mp4"), ProbeConfig())
    assert "4400x4400" in res.reject_detail
    res = probe_media(str(root / "truncated.mp4"), ProbeConfig())
    assert "Invalid data" in res.reject_detail  # PyAV's message
    res = probe_media(str(root / "no_audio.mp4"), ProbeConfig())
    assert res.fps == pytest.approx(25.0) and res.width == 160  # filled although rejected


def test_config_switches(corpus):
    root, _ = corpus
    assert probe_media(str(root / "no_audio.mp4"), ProbeConfig(require_audio=False)).ok
    assert probe_media(str(root / "vfr.mp4"), ProbeConfig(reject_vfr=True)).reject_reason == "vfr"
    assert probe_media(str(root / "valid.mp4"), ProbeConfig(reject_vfr=True)).ok
    assert (
        probe_media(str(root / "valid.mp4"), ProbeConfig(min_side=121)).reject_reason
        == "resolution_too_small"
    )
    assert (
        probe_media(str(root / "valid.mp4"), ProbeConfig(max_side=159)).reject_reason
        == "resolution_too_large"
    )
    assert probe_media(str(root / "absent.mp4"), ProbeConfig()).reject_reason == "missing"


@needs_media
@pytest.mark.parametrize(
    ("name", "fps", "size", "vfr", "audio"),
    [  # facts from ../shared/media/MANIFEST.tsv
        ("sadtalker_WDA_AlexandriaOcasioCortez_000.mp4", 25.0, (512, 512), False, True),
        ("latentsync_demo1_video.mp4", 25.0, (1080, 1920), False, True),
        ("latentsync_demo3_video.mp4", 30.0, (1080, 1920), False, True),
        ("pyscenedetect_testvideo.mp4", 29.97, (1280, 720), False, False),
        ("pyscenedetect_goldeneye-vfr-drop3.mp4", None, (1280, 544), True, False),
    ],
)
def test_real_media(name, fps, size, vfr, audio):
    res = probe_media(str(MEDIA / name), ProbeConfig(require_audio=False))
    assert res.ok
    assert (res.width, res.height) == size
    assert res.vfr is vfr
    assert res.has_audio is audio
    if fps is not None:
        assert res.fps == pytest.approx(fps, rel=1e-3)
    assert res.num_frames == pytest.approx(res.duration * res.fps, rel=0.02)


def _source_row(uri: str, size: int) -> dict:
    return {"_kind": "source", "source_uri": uri, "_source_size": size}


def test_probe_stage_rows(corpus):
    root, expected = corpus
    names = sorted(expected)
    rows = [_source_row(str(root / n), (root / n).stat().st_size) for n in names]
    rows.append(_source_row(str(root / "listed_but_gone.mp4"), MISSING_SIZE))
    out = list(ProbeStage(ProbeConfig()).run_rows(rows))
    assert len(out) == len(rows)
    by_uri = {r["source_uri"]: r for r in out}
    for n in names:
        row = by_uri[str(root / n)]
        assert row.get("_reject_reason") == expected[n], n
        if expected[n] is None:
            assert len(row["source_id"]) == 24
            assert row["source_fps"] == pytest.approx(25.0) and row["has_audio"] is True
        else:
            assert row["_reject_stage"] == "probe"
    gone = by_uri[str(root / "listed_but_gone.mp4")]
    assert gone["_reject_reason"] == "missing" and gone.get("source_id") is None
    # the odd-named files are distinct remuxes: each gets its own id
    ids = [by_uri[str(root / n)]["source_id"] for n in ("valid.mp4", *ODD_NAMES)]
    assert len(set(ids)) == len(ids)
    assert by_uri[str(root / "rotated.mp4")]["source_rotation"] == 90
    table = rows_to_table(out)  # the stage's rows fit the working schema
    assert table.num_rows == len(rows)


def test_probe_of_long_1080p_file_is_fast(tmp_path: Path):
    """10 minutes of 1080p: the probe reads headers and a few packets, never the whole file."""
    seg, long = tmp_path / "seg.mp4", tmp_path / "long.mp4"
    run_ffmpeg([
        "-f", "lavfi", "-i", "testsrc2=s=1920x1080:r=25:d=2", "-f", "lavfi", "-i", "sine=d=2:sample_rate=16000",
        "-c:v", "libx264", "-preset", "ultrafast", "-b:v", "150k", "-c:a", "aac", "-shortest", "-y", safe_path(seg),
    ])  # fmt: skip
    run_ffmpeg(["-stream_loop", "299", "-i", safe_path(seg), "-c", "copy", "-y", safe_path(long)])
    probe_media(str(long), ProbeConfig())  # warm the page cache like a second pass over a dataset would
    t0 = time.perf_counter()
    res = probe_media(str(long), ProbeConfig())
    elapsed = time.perf_counter() - t0
    assert res.ok and (res.width, res.height) == (1920, 1080)
    assert res.num_frames == 300 * 50
    assert res.duration >= 600  # each loop also carries the AAC tail, so a little more
    assert elapsed < 1.0, f"probe took {elapsed:.2f}s"


def test_bundled_sample_passes_the_default_probe():
    """tests/data is what the README's first command curates: every file must pass the defaults."""
    data = Path(__file__).resolve().parents[1] / "data"
    files = sorted(data.glob("*.mp4"))
    assert len(files) >= 2
    for f in files:
        res = probe_media(str(f), ProbeConfig())
        assert res.ok, (f.name, res.reject_reason, res.reject_detail)
        assert res.fps == pytest.approx(25.0) and not res.vfr
        assert res.has_audio and res.audio_sample_rate == 16000
        assert res.duration >= 4.0  # long enough for a default clip (2-10 s) after shot margins
