"""``vllm``: VLM captions on GPU clusters through Ray Data's LLM batch API (``ray.data.llm``).

``ray.data.llm.build_processor`` fuses CPU stages (our preprocess: frames -> an OpenAI-style chat
with JPEG data URLs; vLLM's multimodal preparation, chat template, tokenizer) in front of a pool
of vLLM engine actors, one per GPU set, then detokenizes and runs our postprocess (the same
cleaning and length bounds as the transformers backend). A second processor retries the answers
that came back empty, refusing or too short, sampling at ``retry_temperature``.

    ds = caption_dataset(ds, cfg.captions)   # rows with _frames -> + caption columns

Building needs neither vllm nor a GPU (tests do it); running needs both, plus the weights in
``model_dir``. A vLLM stage on a cluster without GPUs waits forever for one, so
``caption_dataset`` checks the cluster first and refuses with a clear error.
"""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

from humo_data.captions.config import CaptionsConfig
from humo_data.captions.postprocess import clean_caption
from humo_data.captions.prompts import Prompt, load_prompt
from humo_data.captions.stage import fit_pixels, pick_evenly
from humo_data.media.frames import decode_frames, encode_image


class NoGpuError(RuntimeError):
    """captions.backend=vllm on a Ray cluster that has no GPU."""


def backend_label(cfg: CaptionsConfig) -> str:
    return f"vllm:{Path(cfg.model_dir or '').name}"


def chat_messages(row: dict[str, Any], cfg: CaptionsConfig, prompt: Prompt, retry: bool) -> list[dict]:
    """OpenAI-format messages for one clip: system prompt, then the frames and the instruction."""
    frames = decode_frames(row.get("_frames"))
    frames = [frames[i] for i in pick_evenly(len(frames), cfg.num_frames)]
    seconds = float(row.get("end_time") or 0.0) - float(row.get("start_time") or 0.0)
    content: list[dict] = []
    for f in frames:
        jpeg = base64.b64encode(encode_image(fit_pixels(f.rgb, cfg.max_pixels), "jpeg", 90)).decode()
        content.append({"type": "image_url", "image_url": {"url": f"data:image/jpeg;base64,{jpeg}"}})
    text = prompt.user_text(
        retry=retry, num_frames=len(frames), seconds=seconds, min_words=cfg.min_words, max_words=cfg.max_words
    )
    content.append({"type": "text", "text": text})
    return [{"role": "system", "content": prompt.system}, {"role": "user", "content": content}]


class _Pre:
    """Row -> row + ``messages`` + ``sampling_params`` (rows without frames pass with a reason)."""

    def __init__(self, cfg: CaptionsConfig, retry: bool):
        self.cfg, self.retry = cfg, retry
        self.prompt = load_prompt(cfg.prompt)

    def __call__(self, row: dict[str, Any]) -> dict[str, Any]:
        params: dict[str, Any] = {"max_tokens": self.cfg.max_new_tokens, "temperature": 0.0}
        if self.retry:
            params.update(temperature=self.cfg.retry_temperature, top_p=0.9, seed=self.cfg.seed)
        return {
            **row,
            "messages": chat_messages(row, self.cfg, self.prompt, self.retry),
            "sampling_params": params,
        }


#: what a captioned row carries out of the processor: the key and the caption columns (plus the
#: inputs of a retry while it has no caption), so results stay light enough to materialise
RESULT_COLUMNS = ("clip_id", "caption", "caption_backend", "caption_prompt_version", "caption_reason")
#: columns carried through unchanged when present (the job routes results by the triplet shard)
PASSTHROUGH_COLUMNS = ("_shard",)
RETRY_COLUMNS = ("_frames", "start_time", "end_time")


class _Post:
    """Engine output row -> ``RESULT_COLUMNS`` (and the retry inputs when the answer failed)."""

    def __init__(self, cfg: CaptionsConfig, keep_retry_inputs: bool):
        self.cfg = cfg
        self.keep_retry_inputs = keep_retry_inputs
        self.version = load_prompt(cfg.prompt).version
        self.label = backend_label(cfg)

    def __call__(self, row: dict[str, Any]) -> dict[str, Any]:
        caption, reason = clean_caption(row.get("generated_text"), self.cfg.min_words, self.cfg.max_words)
        out = {"clip_id": row.get("clip_id"), "caption": caption, "caption_backend": self.label,
               "caption_prompt_version": self.version, "caption_reason": reason}  # fmt: skip
        out.update({k: row[k] for k in PASSTHROUGH_COLUMNS if k in row})
        for k in RETRY_COLUMNS if self.keep_retry_inputs else ():
            out[k] = row.get(k) if caption is None else None
        return out


def processor_config(cfg: CaptionsConfig):
    """The ``vLLMEngineProcessorConfig`` of ``cfg`` (no GPU or vllm needed to build it)."""
    from ray.data.llm import vLLMEngineProcessorConfig

    v = cfg.vllm
    engine = {
        "max_model_len": v.max_model_len,
        "tensor_parallel_size": v.tensor_parallel_size,
        "limit_mm_per_prompt": {"image": cfg.num_frames},
        "dtype": "bfloat16" if cfg.dtype == "auto" else cfg.dtype,
        **v.engine_kwargs,
    }
    return vLLMEngineProcessorConfig(
        model_source=str(cfg.model_dir),
        engine_kwargs=engine,
        concurrency=v.concurrency,
        batch_size=v.batch_size,
        accelerator_type=v.accelerator_type,
        prepare_multimodal_stage={"enabled": True},
        chat_template_stage=True,
        tokenize_stage=True,
        detokenize_stage=True,
    )


def build_caption_processor(cfg: CaptionsConfig, retry: bool = False):
    """A ``ray.data.llm`` Processor: ``processor(ds)`` returns ``ds`` with caption columns."""
    from ray.data.llm import build_processor

    keep = not retry and cfg.retries > 0
    return build_processor(processor_config(cfg), preprocess=_Pre(cfg, retry), postprocess=_Post(cfg, keep))


def require_gpus(cfg: CaptionsConfig) -> None:
    """Refuse to start vLLM where no GPU can ever be scheduled (it would wait forever)."""
    import ray

    need = cfg.vllm.tensor_parallel_size
    have = float(ray.cluster_resources().get("GPU", 0.0)) if ray.is_initialized() else 0.0
    if have < need:
        raise NoGpuError(
            f"captions.backend=vllm needs {need} GPU(s) per engine and the Ray cluster has {have:g}: a vLLM "
            "stage would wait for one forever. Run on a GPU cluster, or use captions.backend=transformers "
            "(CPU works, slowly) or template."
        )


def caption_dataset(ds, cfg: CaptionsConfig):
    """Caption a Ray Dataset of rows with ``clip_id``, ``_frames``, ``start_time``/``end_time``.

    Returns a Dataset of ``RESULT_COLUMNS`` only (join it to the committed rows by clip_id). The
    first pass is materialised, light: captions, plus the frames of failed answers for the retry
    pass (``retries`` > 0 gives failures one more sampled try)."""
    require_gpus(cfg)
    first = build_caption_processor(cfg)(ds)
    if cfg.retries == 0:
        return first
    first = first.materialize()
    keep = [*RESULT_COLUMNS, *(c for c in PASSTHROUGH_COLUMNS if c in first.columns())]
    ok = first.filter(lambda r: r["caption"] is not None).select_columns(keep)
    again = build_caption_processor(cfg, retry=True)(first.filter(lambda r: r["caption"] is None))
    return ok.union(again.select_columns(keep))
