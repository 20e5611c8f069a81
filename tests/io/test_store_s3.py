"""The dataset store on a real S3 server (moto, through s3fs): hashes, failed writes, listings
seen by several processes, the lease."""

from __future__ import annotations

import hashlib
import time

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from humo_data.io.lease import LEASE_NAME, Lease, LeaseHeld
from humo_data.io.shards import write_table
from humo_data.io.store import Store
from tests.io.moto_s3 import S3Server


@pytest.fixture()
def s3():
    with S3Server() as server:
        yield server


def test_shard_written_to_s3_hashes_what_the_server_holds(s3):
    store = Store.open(s3.uri("out"))
    assert not store.local and store.url("x") == s3.uri("out/x")
    table = pa.table(
        {"clip_id": [f"c{i}" for i in range(50)], "video": [bytes([i]) * 4096 for i in range(50)]}
    )
    info = write_table(store, "triplets/part-a.parquet", table, row_group_rows=16, compression="zstd")
    body = s3.read("out/triplets/part-a.parquet")
    assert info["bytes"] == len(body) and info["sha256"] == hashlib.sha256(body).hexdigest()
    assert store.sha256("triplets/part-a.parquet") == info["sha256"]
    assert pq.read_table(store.open_read("triplets/part-a.parquet")).equals(table)


def test_failed_write_publishes_nothing_and_keeps_the_older_object(s3):
    store = Store.open(s3.uri("out"))
    store.write_bytes("_manifest.json", b'{"v": 1}\n')
    big = b"x" * (6 << 20)  # past s3fs's 5 MiB block: a multipart upload is under way when it fails
    for rel, payload in [("_manifest.json", big), ("triplets/part-b.parquet", b"partial"), ("triplets/part-c.parquet", big)]:  # fmt: skip
        with pytest.raises(RuntimeError, match="worker died"), store.open_atomic(rel) as f:
            f.write(payload)
            raise RuntimeError("worker died mid-write")
    assert s3.read("out/_manifest.json") == b'{"v": 1}\n'
    assert s3.keys("out") == ["out/_manifest.json"]
    assert s3.fs.list_multipart_uploads(s3.bucket) == []  # aborted, not left to expire


def test_listing_does_not_hide_files_other_processes_write_later(s3):
    """The driver lists a folder (resume, leftovers), then reads shards workers wrote after it."""
    store = Store.open(s3.uri("out"))
    store.write_bytes("triplets/part-1.parquet", b"one")
    assert store.list("triplets") == ["triplets/part-1.parquet"]
    other = s3.fs  # another client with its own s3fs instance, like a Ray worker
    other.pipe_file(f"{s3.bucket}/out/triplets/part-2.parquet", b"two!")
    other.rm_file(f"{s3.bucket}/out/triplets/part-1.parquet")
    assert store.exists("triplets/part-2.parquet")
    assert store.size("triplets/part-2.parquet") == 4
    assert store.read_bytes("triplets/part-2.parquet") == b"two!"
    assert not store.exists("triplets/part-1.parquet")
    assert store.list("triplets") == ["triplets/part-2.parquet"]


def test_lease_on_s3_refuses_a_live_holder_and_takes_over_an_expired_one(s3):
    store = Store.open(s3.uri("out"))
    live = {"run_id": "r-other", "host": "node-7", "pid": 4242, "heartbeat": time.time(),
            "expires": time.time() + 60}  # fmt: skip
    store.write_json(LEASE_NAME, live)
    with pytest.raises(LeaseHeld, match=r"in use by run r-other on node-7 \(pid 4242"):
        Lease(store, "r-me").acquire()
    store.write_json(LEASE_NAME, {**live, "heartbeat": time.time() - 120, "expires": time.time() - 60})
    lease = Lease(store, "r-me", lease_seconds=30)
    with lease:
        assert lease.took_over["run_id"] == "r-other"
        assert store.read_json(LEASE_NAME)["run_id"] == "r-me"
        with pytest.raises(LeaseHeld, match="in use by run r-me"):
            Lease(Store.open(s3.uri("out")), "r-third").acquire()
    assert not store.exists(LEASE_NAME)  # released
