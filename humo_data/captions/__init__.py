"""Captions: one text per surviving clip, from a VLM (transformers, or vLLM through ray.data.llm)
or, offline, from the pipeline's own measurements (``template``, a placeholder a VLM rerun
replaces). Runs in the survivors-only phase; the prompt version goes with every caption.

    stages = caption_stages(cfg.captions)            # template / transformers: batch stages
    ds = humo_data.captions.vllm.caption_dataset(ds, cfg.captions)   # vllm: a Ray Data processor
"""

from __future__ import annotations

from humo_data.captions.backends import CAPTIONERS, Captioner, CaptionRequest
from humo_data.captions.config import CaptionsConfig
from humo_data.captions.prompts import Prompt, load_prompt
from humo_data.captions.stage import CaptionStage
from humo_data.stage import Stage

__all__ = [
    "CAPTIONERS", "CaptionRequest", "CaptionStage", "Captioner", "CaptionsConfig", "Prompt",
    "caption_stages", "load_prompt",
]  # fmt: skip


def caption_stages(cfg: CaptionsConfig) -> list[Stage]:
    """The batch stages of the captions section (empty for vllm: see captions/vllm.py)."""
    if not cfg.enabled or cfg.backend == "vllm":
        return []
    return [CaptionStage(cfg)]
