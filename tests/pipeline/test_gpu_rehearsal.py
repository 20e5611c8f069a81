"""configs/gpu.yaml rehearsed as one job on CPU: tiny random weights in every real backend's layout,
a local Ray that declares GPUs (the fractional-GPU actor pools schedule as on a cluster), the run
killed (SIGKILL, whole process group) mid-stream and resumed. Every assert reads that one run."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import pyarrow.parquet as pq
import pytest

for _module in ("torch", "transformers", "ctranslate2", "faster_whisper", "open_clip", "onnx", "insightface"):
    pytest.importorskip(_module)

from humo_data.config import CurateConfig  # noqa: E402
from humo_data.identity.config import KIND_RANK  # noqa: E402
from humo_data.io.dataset import open_dataset  # noqa: E402
from humo_data.jobs.plan import CurationPlan, cut_source  # noqa: E402
from humo_data.rehearsal.checks import read_triplets  # noqa: E402
from humo_data.rehearsal.profile import (  # noqa: E402
    REHEARSAL_OVERRIDES,
    WRITERS,
    declared_gpus,
    rehearsal_config,
    untouched_weights,
    write_tiny_weights,
)
from tests.pipeline.conftest import SAMPLE  # noqa: E402

pytestmark = pytest.mark.slow

SOURCES = ("speaker_4s.mp4", "multishot_aba_9s.mp4")
EXTRA = ["writer.rows_per_shard=1", "writer.report=false", "ray.num_cpus=2"]
#: the stream's last model stage: the run is killed once its actor works (mid-stream: no source
#: finished yet). On two short sources the writer receives every clip at the stream's end (measured:
#: all shards land within 0.3 s, whatever the batch sizes), so there is no later moment that is still
#: mid-stream; partial commits are resumed in tests/pipeline/test_resume.py.
LAST_POOL = "MapWorker(MapBatches(SyncStage))"


def _descendants(pid: int) -> list:
    import psutil

    try:
        return psutil.Process(pid).children(recursive=True)
    except psutil.Error:
        return []


def _runs(pid: int, title: str) -> bool:
    """A process the run started (its Ray workers included) whose title holds ``title``."""
    import psutil

    for p in _descendants(pid):
        try:
            if title in " ".join(p.cmdline()):
                return True
        except psutil.Error:
            continue
    return False


def _stream_state(out: Path) -> tuple[int, int]:
    """(triplet shards committed, sources finished) as a reader of the output sees them."""
    try:
        ds = open_dataset(str(out))
        return len(ds.shards("triplets")), len(ds.state.finished)
    except (FileNotFoundError, json.JSONDecodeError, KeyError, OSError):
        return 0, 0


def _committed_clip_ids(out: Path) -> list[str]:
    ds = open_dataset(str(out))
    return [
        c
        for table in ("triplets", "rejects")
        for e in ds.shards(table)
        for c in pq.read_table(out / e["path"], columns=["clip_id"])["clip_id"].to_pylist()
        if c
    ]


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> SimpleNamespace:
    root = tmp_path_factory.mktemp("gpu_rehearsal")
    inputs = root / "in"
    inputs.mkdir()
    for name in SOURCES:
        (inputs / name).write_bytes((SAMPLE / name).read_bytes())
    weights = root / "weights"
    paths = write_tiny_weights(weights)  # the subprocesses reuse them
    out, report = root / "out", root / "report.json"
    cmd = [sys.executable, "-m", "humo_data.cli", "rehearse", "-i", str(inputs), "-o", str(out),
           "--weights", str(weights), "--tiny", "--report", str(report), *(a for o in EXTRA for a in ("--set", o))]  # fmt: skip

    log = (root / "killed.log").open("w")
    proc = subprocess.Popen(cmd, start_new_session=True, stdout=log, stderr=subprocess.STDOUT)
    deadline = time.time() + 300
    while proc.poll() is None and time.time() < deadline:
        if _runs(proc.pid, LAST_POOL):
            time.sleep(2.0)  # its model loaded and working on the first clips
            break
        time.sleep(0.2)
    assert proc.poll() is None, (
        f"the run ended before it could be killed:\n{(root / 'killed.log').read_text()[-3000:]}"
    )
    started = _descendants(proc.pid)
    os.killpg(proc.pid, signal.SIGKILL)  # the driver and its group
    for child in started:  # and the Ray processes it started in groups of their own
        with contextlib.suppress(Exception):
            child.kill()
    proc.wait()
    killed = SimpleNamespace(shards=_stream_state(out), manifest=open_dataset(str(out)).manifest,
                             clip_ids=_committed_clip_ids(out))  # fmt: skip

    resumed = subprocess.run(cmd, capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stdout[-3000:] + resumed.stderr[-3000:]
    cfg = rehearsal_config(paths, EXTRA)
    expected = [
        r["clip_id"]
        for name in SOURCES
        for r in cut_source(str(inputs / name), cfg).to_pylist()
        if r["_kind"] == "clip"
    ]
    return SimpleNamespace(out=out, cfg=cfg, report=json.loads(report.read_text()), killed=killed,
                           expected=expected, manifest=open_dataset(str(out)).manifest,
                           triplets=read_triplets(str(out)), log=resumed.stdout + resumed.stderr)  # fmt: skip


def test_killed_mid_stream_then_resumed_commits_every_clip_once(run):
    shards, finished = run.killed.shards
    assert finished < len(SOURCES) and run.killed.manifest["status"] == "running"
    assert len(run.killed.clip_ids) < len(run.expected)
    got = _committed_clip_ids(run.out)
    assert len(got) == len(set(got)), "a clip committed twice after the resume"
    assert sorted(got) == sorted(run.expected), "clips lost or invented by the kill and resume"
    # the rerun took over the killed run's output (its lease and state) and completed it
    assert run.manifest["status"] == "complete" and run.manifest["phases"]["finish"]["status"] == "complete"
    assert run.report["ok"] is True


def test_every_stage_ran_its_real_backend(run):
    assert run.report["checks"]["backends"] == "ok"
    stages = run.manifest["stages"]
    assert stages["faces"]["backend"] == "insightface" and stages["sync"]["backend"] == "syncnet"
    assert stages["audio"]["asr"] == "faster-whisper" and stages["audio"]["separation"] == "mdx-onnx"
    assert stages["audio"]["diarization"] == "pyannote-segmentation-onnx"
    assert stages["aesthetic"]["backend"] == "laion-mlp" and stages["captions"]["backend"] == "transformers"
    assert stages["caption_alignment"]["backend"].startswith("open_clip:")
    rows = run.triplets
    assert rows and all(r["face_backend"] == "insightface" and r["sync_backend"] == "syncnet" for r in rows)
    assert all(r["speaker_backend"] == "pyannote-segmentation-onnx" for r in rows)
    assert {r["caption_backend"] for r in rows} - {None} == {"transformers:qwen2.5-vl"}
    # the profile's cuda devices ran on the CPU (the fallback's log line: tests/test_devices.py; Ray
    # forwards worker logs to the driver asynchronously, so the run's output may end before it)
    assert run.cfg.sync.device == "cuda" and run.cfg.audio.asr.device == "cuda"


def test_manifest_records_each_weights_path_with_its_sha256(run):
    assert run.report["checks"]["weights"] == "ok"
    plan = CurationPlan.build(run.cfg)
    assert untouched_weights(plan, Path(run.cfg.sync.weights).parents[1]) == []
    recorded = {(s, w["field"]): w for s, e in run.manifest["stages"].items() for w in e.get("weights", [])}
    syncnet = recorded[("sync", "weights")]
    digest = hashlib.sha256(Path(run.cfg.sync.weights).read_bytes()).hexdigest()
    assert syncnet["path"] == run.cfg.sync.weights and syncnet["sha256"] == digest
    for key in WRITERS:  # every weights key of configs/gpu.yaml is recorded, none missing
        section = key.split(".")[0]
        assert any(s == section for s, _ in recorded), key
    assert not any(w.get("missing") for w in recorded.values())


def test_model_stages_ran_as_actor_pools_on_declared_gpus(run):
    assert run.report["checks"]["actor_pools"] == "ok" and run.report["checks"]["gpu_resources"] == "ok"
    plan = CurationPlan.build(run.cfg)
    pools = {i.name for i in plan.describe() if i.runs_as == "actor pool"}
    assert pools == {"aesthetic", "faces", "audio", "sync", "captions", "caption_alignment"}
    assert set(run.report["actors"]) >= {"AestheticStage", "FaceStage", "AudioStage", "SyncStage",
                                         "CaptionStage", "CaptionAlignmentStage"}  # fmt: skip
    # captions (1 GPU) + caption alignment (0.25) need two whole GPUs to start
    assert run.report["declared_gpus"] == declared_gpus(plan) == 2
    for name in ("aesthetic", "faces", "audio", "sync", "captions"):
        assert run.report["stages"][name]["num_gpus"] > 0 and run.report["stages"][name]["seconds"] > 0


def test_captions_ran_only_on_stage1_candidates(run):
    assert run.report["checks"]["captions"] == "ok"
    need = KIND_RANK[run.cfg.identity.min_reference_kind]
    candidates = [r for r in run.triplets if KIND_RANK.get(r["reference_kind"] or "", 0) >= need]
    others = [r for r in run.triplets if r not in candidates]
    assert candidates and others, "the rehearsal should hold both kinds of rows"
    assert all(r["caption_backend"] for r in candidates)
    assert not any(r["caption_backend"] or r["caption"] for r in others)
    assert run.manifest["stages"]["captions"]["stats"]["rows_in"] == len(candidates)


def test_output_validates(run):
    assert run.report["checks"]["valid"] == "ok"
    check = subprocess.run([sys.executable, "-m", "humo_data.cli", "validate", str(run.out)],
                           capture_output=True, text=True)  # fmt: skip
    assert check.returncode == 0, check.stderr


def test_derived_profile_replaces_every_weights_path(tmp_path):
    """Cheap: no model is written. A weights field the rehearsal has no writer for is caught."""
    paths = {key: str(tmp_path / key) for key in WRITERS}
    cfg = rehearsal_config(paths)
    assert isinstance(cfg, CurateConfig) and cfg.ray.address is None
    assert cfg.aesthetic.min_score is None and "aesthetic.min_score=null" in REHEARSAL_OVERRIDES
    assert untouched_weights(CurationPlan.build(cfg), tmp_path) == []
    more = rehearsal_config(
        paths, ["faces.context_backend=open_clip", "faces.context_weights=/weights/ctx.bin"]
    )
    assert untouched_weights(CurationPlan.build(more), tmp_path) == ["faces.context_weights=/weights/ctx.bin"]
