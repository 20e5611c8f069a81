"""Faults a real run meets, in one dataset curated twice from a Parquet manifest:

- a source whose reads fail a couple of times (connection resets) is retried and gives clips;
- a source whose reads keep timing out is listed as *retryable* (not rejected, not in the ledger),
  ``inspect`` shows it, and the second run (failures gone) processes it and completes;
- two byte-identical sources under different names give one set of clips and one
  ``sources/duplicate_content`` reject;
- a darkened copy of a real clip (every frame under the blank threshold) is an ``all_blank`` reject
  with its mean level; short tails are counted in the manifest;
- the manifest's extra columns (license, url, an int) reach every row as ``source_meta``.

The failing reads come from ``flaky://`` (tests/cluster/flaky_fs.py), a real fsspec filesystem the
Ray workers register through a runtime_env setup hook; its shared counter proves they failed there.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from humo_data.io.dataset import open_dataset
from humo_data.io.validate import validate_dataset
from humo_data.jobs.curate import run_curate
from tests.cluster.conftest import CUT_ONLY, SAMPLE, config, copy, darken, local_ray, remux, repo_pythonpath
from tests.cluster.flaky_fs import PLAN_ENV, failures_raised, register, write_plan

pytestmark = pytest.mark.slow

OVERRIDES = (
    "clips.min_seconds=2", "clips.max_seconds=2.5",  # shots of 2.5-4.5 s leave a short tail
    "writer.retry_backoff_seconds=0.05", "writer.rows_per_shard=4", *CUT_ONLY,
)  # fmt: skip
LICENSES = {"speaker_4s.mp4": "CC-BY-4.0", "speaker_copy.mp4": "CC-BY-4.0", "multishot_aba_9s.mp4": "CC0-1.0",
            "dark.mp4": "CC0-1.0", "transient.mp4": "CC-BY-SA-4.0", "persistent.mp4": "CC-BY-SA-4.0",
            "gone.mp4": "CC0-1.0"}  # fmt: skip


def _manifest_rows(src: Path) -> list[dict]:
    rows = []
    for rank, name in enumerate(LICENSES):
        path = str(src / name)
        uri = f"flaky://{path}" if name in ("transient.mp4", "persistent.mp4") else path
        url = None if name == "gone.mp4" else f"https://example.org/videos/{name}"
        rows.append({"uri": uri, "license": LICENSES[name], "url": url, "rank": rank})
    return rows


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("faults")
    src = tmp / "src"
    speaker, multishot = (
        copy(SAMPLE / "speaker_4s.mp4", src / "speaker_4s.mp4"),
        SAMPLE / "multishot_aba_9s.mp4",
    )
    copy(speaker, src / "speaker_copy.mp4")
    copy(multishot, src / "multishot_aba_9s.mp4")
    darken(speaker, src / "dark.mp4")
    remux(multishot, src / "transient.mp4", "transient")
    remux(speaker, src / "persistent.mp4", "persistent")
    rows = _manifest_rows(src)
    table = pa.Table.from_pylist(rows, schema=pa.schema([("uri", pa.string()), ("license", pa.string()),
                                                         ("url", pa.string()), ("rank", pa.int64())]))  # fmt: skip
    pq.write_table(table, src / "manifest.parquet")
    plan = tmp / "plan.json"
    retries = config(*OVERRIDES).writer.retries
    assert retries >= 3
    write_plan(plan, {"transient.mp4": {"failures": retries - 1, "error": "ConnectionResetError"},
                      "persistent.mp4": {"failures": -1, "error": "TimeoutError"}})  # fmt: skip
    os.environ[PLAN_ENV] = str(plan)
    register()  # the driver lists flaky:// sources (sizes) too
    out = tmp / "out"
    env = {"worker_process_setup_hook": "tests.cluster.flaky_fs.register",
           "env_vars": {PLAN_ENV: str(plan), "PYTHONPATH": repo_pythonpath()}}  # fmt: skip
    try:
        with local_ray(runtime_env=env):
            first = run_curate(
                str(src / "manifest.parquet"), str(out), config(*OVERRIDES), show_progress=False
            )
            after_first = json.loads(json.dumps(open_dataset(str(out)).manifest))
            finished_first = set(open_dataset(str(out)).state.finished)
            shown = subprocess.run(
                [sys.executable, "-m", "humo_data.cli", "inspect", str(out), "--rows", "2"],
                capture_output=True, text=True, env={**os.environ, "COLUMNS": "250"},
            )  # fmt: skip
            raised_first = {n: failures_raised(plan, n) for n in ("transient.mp4", "persistent.mp4")}
            write_plan(plan, {})  # the store recovered
            second = run_curate(
                str(src / "manifest.parquet"), str(out), config(*OVERRIDES), show_progress=False
            )
    finally:
        os.environ.pop(PLAN_ENV, None)
    yield SimpleNamespace(
        src=src, out=out, rows={Path(r["uri"].removeprefix("flaky://")).name: r for r in rows},
        uri={Path(r["uri"].removeprefix("flaky://")).name: r["uri"] for r in rows}, retries=retries,
        first=first, after_first=after_first, finished_first=finished_first, inspect=shown,
        raised_first=raised_first, second=second,
    )  # fmt: skip


def _table(out: Path, kind: str) -> list[dict]:
    ds = open_dataset(str(out))
    rows: list[dict] = []
    for entry in ds.shards(kind):
        cols = [
            c
            for c in pq.read_schema(out / entry["path"]).names
            if c not in ("video", "audio", "reference_images")
        ]
        rows += pq.read_table(out / entry["path"], columns=cols).to_pylist()
    return rows


def _by_source(rows: list[dict]) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = {}
    for r in rows:
        out.setdefault(Path(r["source_uri"].removeprefix("flaky://")).name, []).append(r)
    return out


def _outcome(out: Path, name: str) -> tuple[list, list]:
    """(clip spans, reject (stage, reason, span)) of one source: equal for equal frames."""
    clips = _by_source(_table(out, "triplets")).get(name, [])
    rejects = _by_source(_table(out, "rejects")).get(name, [])
    return (sorted((c["start_time"], c["end_time"]) for c in clips),
            sorted((r["stage"], r["reason"], r["start_time"] or -1.0, r["end_time"] or -1.0) for r in rejects))  # fmt: skip


def test_transient_read_failures_are_retried_and_give_clips(runs):
    assert runs.raised_first["transient.mp4"] == runs.retries - 1  # raised in the workers' reads
    assert runs.uri["transient.mp4"] in runs.finished_first
    # a remux of multishot_aba_9s: same frames, so the same clips and rejects under its own source id
    spans, rejects = _outcome(runs.out, "transient.mp4")
    assert spans, "the retried source gave no clips"
    assert (spans, rejects) == _outcome(runs.out, "multishot_aba_9s.mp4")
    assert not [r for r in rejects if r[0] in ("probe", "clips") and r[1] != "shot_too_short"]


def test_persistent_failure_is_listed_retryable_not_rejected(runs):
    uri = runs.uri["persistent.mp4"]
    assert runs.raised_first["persistent.mp4"] >= runs.retries + 1  # every attempt failed
    assert not runs.first.ok and runs.first.retryable == [uri]
    m = runs.after_first
    assert m["status"] == "running"
    assert list(m["retryable"]) == [uri]
    entry = m["retryable"][uri]
    assert entry["stage"] == "probe" and entry["attempts"] == 1 and "TimeoutError" in entry["detail"]
    assert uri not in runs.finished_first  # not in the ledger: the next run tries it again
    assert not any("retryable" in k for k in m["counts"]["rejects_by_reason"])
    # every other source finished in the first run
    assert runs.finished_first == {u for n, u in runs.uri.items() if n != "persistent.mp4"}


def test_inspect_shows_the_retryable_table(runs):
    shown = runs.inspect
    assert shown.returncode == 0, shown.stderr
    text = shown.stdout
    print(text)
    assert "1 source(s) hit retryable I/O errors" in text
    assert runs.uri["persistent.mp4"] in text and "TimeoutError" in text
    assert "retryable sources" in text and "rerun the same `humo-data curate` command" in text


def test_second_run_processes_the_retryable_source_and_completes(runs):
    s = runs.second
    assert s.ok and s.sources_processed == 1 and s.sources_skipped == len(runs.uri) - 1
    m = open_dataset(str(runs.out)).manifest
    assert m["status"] == "complete" and m["retryable"] == {}
    assert m["counts"]["sources_done"] == len(runs.uri)
    clips = _by_source(_table(runs.out, "triplets"))
    assert clips.get("persistent.mp4"), "the retried source gave no clips"
    assert runs.uri["persistent.mp4"] in open_dataset(str(runs.out)).state.finished
    # a remux of speaker_4s: the same outcome as that content's (one of two identical copies)
    owner = next(n for n in ("speaker_4s.mp4", "speaker_copy.mp4") if clips.get(n))
    assert _outcome(runs.out, "persistent.mp4") == _outcome(runs.out, owner)
    ids = [c["clip_id"] for rows in clips.values() for c in rows]
    assert len(ids) == len(set(ids))
    assert validate_dataset(str(runs.out)) == []


def test_byte_identical_sources_give_one_set_of_clips_and_one_duplicate_reject(runs):
    clips = _by_source(_table(runs.out, "triplets"))
    rejects = _by_source(_table(runs.out, "rejects"))
    names = ("speaker_4s.mp4", "speaker_copy.mp4")
    owners = [n for n in names if clips.get(n)]
    assert len(owners) == 1, {n: len(clips.get(n, [])) for n in names}
    (copy_name,) = [n for n in names if n not in owners]
    assert copy_name not in clips
    (dup,) = rejects[copy_name]
    assert (dup["stage"], dup["reason"]) == ("sources", "duplicate_content")
    assert runs.uri[owners[0]] in dup["detail"]
    assert owners[0] not in rejects


def test_darkened_clip_is_an_all_blank_reject_with_its_level(runs):
    clips = _by_source(_table(runs.out, "triplets"))
    (rej,) = _by_source(_table(runs.out, "rejects"))["dark.mp4"]
    assert "dark.mp4" not in clips
    assert (rej["stage"], rej["reason"]) == ("clips", "all_blank")
    level = re.search(r"mean level ([\d.]+) < shots.blank_threshold=([\d.]+)", rej["detail"])
    assert level, rej["detail"]
    assert float(level.group(1)) < float(level.group(2))


def test_missing_source_is_a_probe_reject(runs):
    (rej,) = _by_source(_table(runs.out, "rejects"))["gone.mp4"]
    assert (rej["stage"], rej["reason"]) == ("probe", "missing")


def test_dropped_tails_are_counted(runs):
    cfg = config(*OVERRIDES)
    counts = open_dataset(str(runs.out)).manifest["counts"]
    tails, seconds = counts.get("dropped_tails", 0), counts.get("dropped_tail_seconds", 0.0)
    assert tails >= 1, counts
    assert 0 < seconds < tails * cfg.clips.min_seconds  # each tail is shorter than a clip
    first = runs.after_first["counts"]
    assert 1 <= first.get("dropped_tails", 0) < tails  # the second run's source added its own


def _meta(row: dict) -> dict:
    return {k: str(v) for k, v in row.items() if k != "uri" and v is not None}


def test_manifest_columns_reach_every_triplet_as_source_meta(runs):
    import duckdb

    clips = _table(runs.out, "triplets")
    assert clips
    for c in clips:
        name = Path(c["source_uri"].removeprefix("flaky://")).name
        assert json.loads(c["source_meta"]) == _meta(runs.rows[name]), name
    con = duckdb.connect()
    glob = f"{runs.out}/triplets/*.parquet"
    got = con.execute(
        f"select source_uri, count(*) from read_parquet('{glob}') "
        "where json_extract_string(source_meta, '$.license') = 'CC-BY-SA-4.0' "
        "and cast(json_extract_string(source_meta, '$.rank') as integer) >= 4 group by source_uri order by 1"
    ).fetchall()
    by_source = _by_source(clips)
    assert got == sorted((runs.uri[n], len(by_source[n])) for n in ("transient.mp4", "persistent.mp4"))
    urls = con.execute(
        f"select distinct json_extract_string(source_meta, '$.url') from read_parquet('{glob}') order by 1"
    ).fetchall()
    assert urls == sorted((f"https://example.org/videos/{n}",) for n in by_source)


def test_manifest_columns_reach_every_reject_as_source_meta(runs):
    rejects = _table(runs.out, "rejects")
    assert {Path(r["source_uri"]).name for r in rejects} >= {"dark.mp4", "gone.mp4"}
    for r in rejects:
        name = Path(r["source_uri"].removeprefix("flaky://")).name
        assert json.loads(r["source_meta"]) == _meta(runs.rows[name]), name
