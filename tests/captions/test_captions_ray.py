"""The Ray paths: the caption stage as an actor pool through the job's adapter, and the vLLM
processor built through ray.data.llm without vllm or a GPU (running it must refuse here)."""

from __future__ import annotations

import pyarrow as pa
import pytest

from humo_data.captions import CaptionsConfig, CaptionStage
from humo_data.captions.prompts import load_prompt
from humo_data.captions.vllm import (
    NoGpuError,
    _Post,
    _Pre,
    build_caption_processor,
    caption_dataset,
    processor_config,
)
from humo_data.stage import rows_to_table
from tests.captions.tiny_vlm import tiny_qwen25_vl
from tests.quality.clip_rows import decode_rgb, row_from_frames
from tests.shared_media import media_file, needs_media

pytestmark = [needs_media, pytest.mark.slow]


@pytest.fixture(scope="module")
def ray_local():
    import ray

    ray.init(num_cpus=2, include_dashboard=False, logging_level="ERROR", ignore_reinit_error=True,
             object_store_memory=256 << 20)  # fmt: skip
    yield ray
    ray.shutdown()


@pytest.fixture(scope="module")
def table() -> pa.Table:
    frames = decode_rgb(media_file("sadtalker_WDA_AlexandriaOcasioCortez_000.mp4"), 1.2, 0.5)
    rows = [
        row_from_frames(frames, clip_id=f"c{i}", people_count=1, speech_ratio=0.9, has_audio=True)
        for i in range(4)
    ]
    return rows_to_table(rows)


def test_template_captions_run_as_tasks_and_a_model_as_an_actor_pool(ray_local, table):
    """The template writes from each row's facts (no model to load once): Ray tasks, as in the stream;
    a captioner with a model is an actor pool."""
    from humo_data.ray_compute import map_stage

    stage = CaptionStage(CaptionsConfig(enabled=True))
    assert not stage.actor
    assert CaptionStage(CaptionsConfig(enabled=True, backend="transformers", model_dir="m")).actor
    ds = map_stage(ray_local.data.from_arrow(table), stage)
    got = pa.concat_tables([ray_local.get(r) for r in ds.to_arrow_refs()]).sort_by("clip_id").to_pylist()
    assert [r["clip_id"] for r in got] == ["c0", "c1", "c2", "c3"]
    assert all("one person speaking" in r["caption"] for r in got)


def test_vllm_processor_builds_without_a_gpu_and_refuses_to_run(ray_local, table, tmp_path):
    model = tiny_qwen25_vl(tmp_path / "tiny-qwen2.5-vl")
    cfg = CaptionsConfig(enabled=True, backend="vllm", model_dir=str(model), num_frames=3)
    conf = processor_config(cfg)
    assert conf.model_source == str(model) and conf.engine_kwargs["limit_mm_per_prompt"] == {"image": 3}
    processor = build_caption_processor(cfg)
    assert type(processor).__name__ == "Processor"
    with pytest.raises(NoGpuError, match="GPU"):
        caption_dataset(ray_local.data.from_arrow(table), cfg)

    # the CPU ends of the processor: our preprocess and postprocess
    row = table.slice(0, 1).to_pylist()[0]
    pre = _Pre(cfg, retry=False)(row)
    system, user = pre["messages"]
    assert system["content"] == load_prompt("caption_v1").system
    images = [c for c in user["content"] if c["type"] == "image_url"]
    assert len(images) == 3 and images[0]["image_url"]["url"].startswith("data:image/jpeg;base64,")
    assert pre["sampling_params"]["temperature"] == 0.0
    assert _Pre(cfg, retry=True)(row)["sampling_params"]["temperature"] == cfg.retry_temperature

    post = _Post(cfg, keep_retry_inputs=True)
    good = post({**row, "generated_text": "The video shows a woman with dark hair talking to the camera."})
    bad = post({**row, "generated_text": "I'm sorry, I can't help with that."})
    assert good["caption"] == "A woman with dark hair talking to the camera." and good["_frames"] is None
    assert (
        good["caption_backend"] == "vllm:tiny-qwen2.5-vl" and good["caption_prompt_version"] == "caption-v1"
    )
    assert bad["caption"] is None and bad["caption_reason"].startswith("vlm_refused") and bad["_frames"]
