"""Listing many URIs on a real S3 server: size look-ups run in parallel (sources.size_lookup_threads),
and a Parquet manifest's ``size`` column replaces them. Observed at the server: it holds each HEAD
request a little (object-store latency) and records how many were in flight at once."""

from __future__ import annotations

import io

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from humo_data.config import SourcesConfig
from humo_data.io.sources import MISSING_SIZE, list_sources
from tests.io.moto_s3 import S3Server

N = 48
LATENCY = 0.05


@pytest.fixture(scope="module")
def s3():
    with S3Server() as server:
        fs = server.fs
        for i in range(N):
            fs.pipe_file(f"{server.bucket}/in/v{i:03d}.mp4", b"v" * (100 + i))
        uris = [server.uri(f"in/v{i:03d}.mp4") for i in range(N)]
        fs.pipe_file(
            f"{server.bucket}/list.txt", ("\n".join([*uris, server.uri("in/gone.mp4")]) + "\n").encode()
        )
        server.uris = uris
        yield server


def _list(s3: S3Server, name: str, **cfg) -> tuple[list, int, int]:
    """(refs, HEAD requests on the videos, peak concurrent HEADs) of one listing."""
    S3Server._clear_instances()  # a fresh client: no directory cache from an earlier listing
    s3.log.reset()
    s3.log.delay["HEAD"] = LATENCY
    try:
        refs = list_sources(s3.uri(name), SourcesConfig(**cfg))
    finally:
        s3.log.delay.clear()
    return refs, s3.log.count("HEAD", f"/{s3.bucket}/in/"), s3.log.peak["HEAD"]


def test_text_list_sizes_are_looked_up_in_parallel(s3):
    refs, heads, peak = _list(s3, "list.txt", size_lookup_threads=16)
    sizes = {r.uri: r.size for r in refs}
    assert sizes == {**{u: 100 + i for i, u in enumerate(s3.uris)}, s3.uri("in/gone.mp4"): MISSING_SIZE}
    assert heads >= N + 1  # one look-up per URI (the missing one may take a retry)
    assert peak >= 4, f"at most {peak} HEAD request(s) in flight: size look-ups ran one by one"

    serial, heads1, peak1 = _list(s3, "list.txt", size_lookup_threads=1)
    assert serial == refs and heads1 >= N + 1
    assert peak1 == 1  # the knob is what makes them parallel


def _manifest(s3: S3Server, name: str, with_size: bool) -> None:
    cols = {"uri": s3.uris, "license": ["CC-BY-4.0"] * N}
    if with_size:
        cols["size"] = [100 + i for i in range(N)]
    buf = io.BytesIO()
    pq.write_table(pa.table(cols), buf)
    s3.fs.pipe_file(f"{s3.bucket}/{name}", buf.getvalue())


def test_manifest_size_column_skips_look_ups(s3):
    _manifest(s3, "with_size.parquet", with_size=True)
    refs, heads, _ = _list(s3, "with_size.parquet", size_lookup_threads=16)
    assert heads == 0, f"{heads} HEAD request(s) for videos although the manifest has a size column"
    assert [(r.uri, r.size) for r in refs] == [(u, 100 + i) for i, u in enumerate(s3.uris)]
    assert all(r.meta_dict() == {"license": "CC-BY-4.0", "size": str(100 + i)} for i, r in enumerate(refs))

    _manifest(s3, "no_size.parquet", with_size=False)
    refs2, heads2, peak2 = _list(s3, "no_size.parquet", size_lookup_threads=16)
    assert [(r.uri, r.size) for r in refs2] == [(r.uri, r.size) for r in refs]
    assert heads2 == N and peak2 >= 4
