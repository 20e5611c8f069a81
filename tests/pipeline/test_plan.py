"""The curation plan: built once from the config, checked before anything runs, printed by
`humo-data plan`, and the resources it gives each stage on a small local cluster."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from humo_data.config import load_config
from humo_data.jobs import plan as plan_module
from humo_data.jobs.plan import SOURCE_COLUMNS, CurationPlan, PlanError, captions_hash, check_stages
from humo_data.quality.config import QualityConfig
from humo_data.stage import Stage
from tests.pipeline.conftest import REPO


class ReadsALaterColumn(Stage[QualityConfig]):
    """Claims the quality section but reads what the audio stage (later in the stream) writes."""

    name = "quality"
    inputs = ("_frames", "speech_ratio")
    outputs = ("quality_exposure",)


class WritesNoSchemaColumn(Stage[QualityConfig]):
    name = "quality"
    inputs = ("_frames",)
    outputs = ("quality_vibes",)


def test_default_and_gpu_plans_list_every_stage_in_order():
    for profile in ("default", "gpu"):
        plan = CurationPlan.build(load_config(profile))
        names = [s.name for s in plan.stream]
        assert names == [
            n
            for n in ("quality", "aesthetic", "faces", "face_quality", "audio", "sync", "captions")
            if n in names
        ]
        assert len(set(names)) == len(names)
        infos = {i.name: i for i in plan.describe()}
        for stage in (plan.probe, plan.cut, *plan.stream, *plan.captions):
            info = infos[stage.name]
            assert info.backend and info.resources is not None, (profile, stage.name)
    gpu = CurationPlan.build(load_config("gpu"))
    assert [s.name for s in gpu.stream] == ["quality", "aesthetic", "faces", "face_quality", "audio", "sync"]
    assert [s.name for s in gpu.captions] == ["captions", "caption_alignment"]
    infos = {i.name: i for i in gpu.describe()}
    assert infos["aesthetic"].resources.num_gpus == 0.25 and infos["aesthetic"].runs_as == "actor pool"
    # named, not guessed (the sync stage also records the VAD model it hears speech with)
    assert infos["sync"].weights["weights"] == "/weights/syncnet/syncnet_v2.model"
    default = CurationPlan.build(load_config("default"))
    assert default.skipped == {"aesthetic": "off", "caption_alignment": "off"}
    # template captions need no model: written in the stream, as a task stage; the phase keeps its
    # copy to rerun changed rows, and the stream's rows count as captioned by it
    assert (
        default.captions_in_stream and default.stream[-1].name == "captions" and not default.stream[-1].actor
    )
    assert default.stream_hashes()["captions"] == captions_hash(default.config)
    assert not gpu.captions_in_stream and gpu.captions[0].actor


def test_a_stage_reading_what_no_earlier_stage_produces_fails_at_plan_time(monkeypatch):
    with pytest.raises(PlanError, match="stage 'quality' reads 'speech_ratio'"):
        check_stages([ReadsALaterColumn(QualityConfig())], (*SOURCE_COLUMNS, "_frames"))
    monkeypatch.setattr(plan_module, "STREAM_STAGES", (ReadsALaterColumn, *plan_module.STREAM_STAGES[1:]))
    with pytest.raises(PlanError, match="stage 'quality' reads 'speech_ratio'"):
        CurationPlan.build(load_config("default"))


def test_a_stage_writing_outside_the_schema_fails_at_plan_time():
    with pytest.raises(PlanError, match="stage 'quality' writes 'quality_vibes'"):
        check_stages([WritesNoSchemaColumn(QualityConfig())], (*SOURCE_COLUMNS, "_frames"))


def test_a_stage_whose_prerequisite_is_off_is_left_out_and_says_so():
    plan = CurationPlan.build(load_config("default", ["faces.enabled=false", "identity.enabled=false"]))
    assert "face_quality" not in [s.name for s in plan.stream]
    assert plan.skipped["face_quality"] == "needs faces (off)"


def test_plan_command_prints_both_profiles_without_ray_or_weights():
    for profile in ("default", "gpu"):
        out = subprocess.run(
            [sys.executable, "-m", "humo_data.cli", "plan", "--config", profile],
            cwd=REPO, capture_output=True, text=True, timeout=120, env={**os.environ, "COLUMNS": "200"},
        )  # fmt: skip
        assert out.returncode == 0, out.stderr
        for stage in (
            "probe",
            "clips",
            "quality",
            "faces",
            "audio",
            "sync",
            "identity",
            "captions",
            "finish",
        ):
            assert f" {stage} " in out.stdout, (profile, stage)
        if profile == "gpu":
            assert "(missing)" in out.stdout and "laion-mlp" in out.stdout  # weights named, absent here
    dry = subprocess.run([sys.executable, "-m", "humo_data.cli", "curate", "-i", "nowhere", "-o", "nothing",
                          "--dry-run"], cwd=REPO, capture_output=True, text=True, timeout=120)  # fmt: skip
    assert dry.returncode == 0 and " faces " in dry.stdout
    assert not (REPO / "nothing").exists()


def test_actor_stages_get_their_scaled_resources_on_a_2_cpu_local_cluster():
    """On a local cluster the model stages' CPU shares are scaled to fit; each stage reads its own
    section's resources, so the scale reaches the aesthetic and alignment stages too."""
    import ray

    from humo_data.ray_compute import fit_stages

    cfg = load_config("default", [
        "aesthetic.backend=laion-mlp", "aesthetic.clip_weights=w.bin", "aesthetic.head_weights=h.pth",
        "caption_alignment.enabled=true", "caption_alignment.clip_weights=w.bin",
    ])  # fmt: skip
    plan = CurationPlan.build(cfg)
    ray.init(num_cpus=2, include_dashboard=False, logging_level="ERROR", ignore_reinit_error=True)
    try:
        stream, notes = fit_stages(plan.stream, task_cpus=1.0, local=True)
        captions, _ = fit_stages(plan.captions, task_cpus=1.0, local=True)
    finally:
        ray.shutdown()
    assert notes and "CPU reservations" in notes[0]
    fitted = {s.name: s for s in [*stream, *captions]}
    for name in ("aesthetic", "faces", "audio", "sync"):
        assert fitted[name].resources.num_cpus < 1.0, name
        assert fitted[name].config.resources == fitted[name].resources  # the stage's own section
    assert fitted["caption_alignment"].resources.num_cpus <= 1.0
    assert sum(s.resources.num_cpus for s in stream if s.actor) <= 1.0 + 1e-9


def test_ray_data_reserves_per_operator_only_in_front_of_model_stages():
    """A stream of CPU tasks only (the front half) runs without Ray Data's per-operator
    reservations, which on a small node let the cut run one source at a time; with model-stage
    actors in the chain they stay on (they keep clips from piling up in front of the actors)."""
    from humo_data.ray_compute import reserve_per_operator

    off = [f"{s}.enabled=false" for s in ("quality", "faces", "identity", "audio", "sync", "captions")]
    assert reserve_per_operator(CurationPlan.build(load_config("default", [])).stream)
    assert not reserve_per_operator(CurationPlan.build(load_config("default", off)).stream)
