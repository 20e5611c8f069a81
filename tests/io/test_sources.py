"""Source listing (dir, glob, list, manifest; local and fsspec), fingerprints and open_media."""

from __future__ import annotations

import os
import random
import uuid
from pathlib import Path

import av
import fsspec
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from humo_data.config import ProbeConfig, SourcesConfig
from humo_data.io.sources import (
    FINGERPRINT_CHUNK,
    MISSING_SIZE,
    SourceRef,
    SourcesError,
    fingerprint,
    list_sources,
    open_media,
)
from humo_data.media.ffmpeg import run_ffmpeg, safe_path
from humo_data.media.probe import probe_media

CFG = SourcesConfig()


@pytest.fixture()
def tree(tmp_path: Path) -> Path:
    """videos/{a.mp4, B.MOV, notes.txt, .hidden.mp4, sub/c.mkv, sub/deeper/d.webm}"""
    root = tmp_path / "videos"
    for rel, size in [("a.mp4", 10), ("B.MOV", 20), ("notes.txt", 5), (".hidden.mp4", 7),
                      ("sub/c.mkv", 30), ("sub/deeper/d.webm", 40)]:  # fmt: skip
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(b"x" * size)
    return root


def _names(refs: list[SourceRef]) -> list[str]:
    return [r.uri.rsplit("/", 1)[-1] for r in refs]


def test_directory_recursive_sorted_with_sizes(tree: Path):
    refs = list_sources(str(tree), CFG)
    assert [r.uri for r in refs] == sorted(r.uri for r in refs)
    assert _names(refs) == ["B.MOV", "a.mp4", "c.mkv", "d.webm"]  # case-insensitive ext; no .txt/dot-file
    assert {_names([r])[0]: r.size for r in refs} == {"B.MOV": 20, "a.mp4": 10, "c.mkv": 30, "d.webm": 40}
    assert all(os.path.isabs(r.uri) for r in refs)


def test_directory_flat_extensions_and_limit(tree: Path):
    assert _names(list_sources(str(tree), SourcesConfig(recursive=False))) == ["B.MOV", "a.mp4"]
    assert _names(list_sources(str(tree), SourcesConfig(extensions=(".mkv",)))) == ["c.mkv"]
    assert len(list_sources(str(tree), SourcesConfig(limit=3))) == 3


def test_glob(tree: Path):
    assert _names(list_sources(str(tree / "**" / "*.webm"), CFG)) == ["d.webm"]
    assert _names(list_sources(str(tree / "*"), CFG)) == ["B.MOV", "a.mp4"]


def test_text_list_comments_relative_and_missing(tree: Path):
    lst = tree / "list.txt"
    lst.write_text(
        f"# my sources\n\na.mp4\n{tree / 'sub' / 'c.mkv'}\n  sub/deeper/d.webm  \ngone.mp4\na.mp4\n"
    )
    refs = list_sources(str(lst), CFG)
    assert _names(refs) == ["a.mp4", "gone.mp4", "c.mkv", "d.webm"]  # sorted by full uri, de-duplicated
    sizes = {_names([r])[0]: r.size for r in refs}
    assert sizes["gone.mp4"] == MISSING_SIZE and sizes["d.webm"] == 40


def test_parquet_manifest(tree: Path):
    path = tree / "manifest.parquet"
    pq.write_table(pa.table({"path": [str(tree / "a.mp4"), "sub/c.mkv"], "other": [1, 2]}), path)
    refs = list_sources(str(path), SourcesConfig(manifest_column="path"))
    assert _names(refs) == ["a.mp4", "c.mkv"]
    with pytest.raises(SourcesError, match="no column 'uri'.*manifest_column"):
        list_sources(str(path), CFG)


def test_errors_say_what_to_do(tmp_path: Path):
    with pytest.raises(SourcesError, match="input not found.*directory, a glob"):
        list_sources(str(tmp_path / "nope"), CFG)
    (tmp_path / "empty").mkdir()
    with pytest.raises(SourcesError, match="no videos with extensions"):
        list_sources(str(tmp_path / "empty"), CFG)
    with pytest.raises(SourcesError, match="no files match"):
        list_sources(str(tmp_path / "*.mp4"), CFG)
    (tmp_path / "empty.txt").write_text("# nothing\n")
    with pytest.raises(SourcesError, match="lists no sources"):
        list_sources(str(tmp_path / "empty.txt"), CFG)


def test_file_uri_becomes_local_path(tree: Path):
    refs = list_sources(f"file://{tree}", CFG)
    assert refs == list_sources(str(tree), CFG)


@pytest.fixture()
def clip(tmp_path: Path) -> Path:
    out = tmp_path / "clip.mp4"
    run_ffmpeg(["-f", "lavfi", "-i", "testsrc2=s=96x64:r=25:d=1", "-f", "lavfi", "-i", "sine=d=1",
                "-c:v", "libx264", "-preset", "ultrafast", "-c:a", "aac", "-shortest", "-y", safe_path(out)])  # fmt: skip
    return out


def test_memory_fs_list_open_probe_fingerprint(clip: Path):
    fs = fsspec.filesystem("memory")
    root = f"/t-{uuid.uuid4().hex}"
    fs.pipe(f"{root}/in/x.mp4", clip.read_bytes())
    fs.pipe(f"{root}/in/y.txt", b"not a video")
    fs.pipe(f"{root}/list.txt", b"in/x.mp4\n")
    refs = list_sources(f"memory://{root}/in", CFG)
    assert refs == [SourceRef(f"memory://{root}/in/x.mp4", clip.stat().st_size)]
    assert list_sources(f"memory://{root}/list.txt", CFG) == refs
    assert list_sources(f"memory://{root}/**/*.mp4", CFG) == refs
    with open_media(refs[0].uri) as f:
        assert not isinstance(f, str)
        with av.open(f) as c:
            assert c.streams.video[0].codec_context.width == 96
    assert fingerprint(refs[0].uri) == fingerprint(str(clip))  # same bytes, another place
    res = probe_media(refs[0].uri, ProbeConfig())
    assert res.ok and res.has_audio
    with open_media(str(clip)) as local:
        assert local == str(clip)
    fs.rm(root, recursive=True)


def test_fingerprint_samples_large_files(tmp_path: Path):
    rng = random.Random(0)
    big = bytearray(rng.randbytes(20 * FINGERPRINT_CHUNK + 123))
    a, b = tmp_path / "a.bin", tmp_path / "renamed copy.bin"
    a.write_bytes(big)
    b.write_bytes(big)
    fa = fingerprint(str(a))
    assert len(fa) == 24 and int(fa, 16) >= 0
    assert fingerprint(str(b)) == fa
    big[-1] ^= 0xFF  # the tail chunk is always sampled
    b.write_bytes(big)
    assert fingerprint(str(b)) != fa
    big[-1] ^= 0xFF
    big[len(big) // 2 + 7] ^= 0xFF  # a byte outside every sampled chunk: by design, same id
    b.write_bytes(big)
    assert fingerprint(str(b)) == fa
    b.write_bytes(bytes(big) + b"\0")  # size is hashed
    assert fingerprint(str(b)) != fa


def test_fingerprint_small_file_reads_everything(tmp_path: Path):
    data = bytearray(random.Random(1).randbytes(3 * FINGERPRINT_CHUNK))
    p = tmp_path / "s.bin"
    p.write_bytes(data)
    before = fingerprint(str(p))
    data[FINGERPRINT_CHUNK + 5] ^= 1
    p.write_bytes(data)
    assert fingerprint(str(p)) != before


def test_directory_of_symlinks_follows_links_and_skips_dangling(tmp_path):
    real = tmp_path / "real"
    real.mkdir()
    (real / "a.mp4").write_bytes(b"x" * 10)
    links = tmp_path / "links"
    links.mkdir()
    (links / "a.mp4").symlink_to(real / "a.mp4")
    (links / "gone.mp4").symlink_to(tmp_path / "nope.mp4")
    refs = list_sources(str(links), SourcesConfig())
    assert [(Path(r.uri).name, r.size) for r in refs] == [("a.mp4", 10)]
