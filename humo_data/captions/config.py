"""Settings of the captions stage (template / VLM captioners). Owned by humo_data/captions/.

Captions run in the survivors-only phase (after identity), so a VLM only sees clips that will be
kept. The offline default ``template`` states what the pipeline measured; it is a placeholder
that rerunning this one stage with ``backend: transformers`` (or ``vllm`` on a GPU cluster)
replaces. The caption-frame CLIP score lives in ``quality.alignment``.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import Field, model_validator

from humo_data.config_base import Resources, StrictModel


class TemplateConfig(StrictModel):
    """Wording thresholds of the template captioner (which measured value earns which words)."""

    speaking_min: float = Field(
        0.3, ge=0, le=1, description="speech_ratio at or above this (or a transcript) reads as speaking."
    )
    silent_max: float = Field(
        0.05, ge=0, le=1, description="speech_ratio at or below this, with no transcript, reads as silent."
    )
    shot_scales: tuple[float, float, float] = Field(
        (0.6, 0.3, 0.12),
        description="Face height / frame height at or above which the shot is an extreme close-up, a "
        "close-up, a medium shot (below the last: a wide shot). Face boxes are tight (brows to chin), "
        "so a head filling the frame measures about 0.6.",
    )
    motion_levels: tuple[float, float, float] = Field(
        (0.002, 0.01, 0.03),
        description="quality_motion bounds between almost no / little / moderate / strong motion.",
    )
    exposure_levels: tuple[float, float] = Field(
        (0.2, 0.65), description="quality_exposure below the first is dim, above the second bright."
    )
    contrast_levels: tuple[float, float] = Field(
        (0.08, 0.25), description="quality_contrast below the first is low-contrast, above the second high."
    )


class VllmConfig(StrictModel):
    """ray.data.llm settings of the vllm backend (GPU clusters; needs the vllm extra)."""

    concurrency: int = Field(1, ge=1, description="vLLM engine replicas (one per GPU set).")
    batch_size: int = Field(32, ge=1, description="Rows per engine batch.")
    accelerator_type: str | None = Field(None, description="Ray accelerator type, e.g. H100; None = any GPU.")
    max_model_len: int = Field(8192, ge=256, description="Context length given to the engine.")
    tensor_parallel_size: int = Field(1, ge=1, description="GPUs per engine replica.")
    engine_kwargs: dict[str, Any] = Field(
        default_factory=dict, description="Extra vLLM engine arguments (merged over the ones above)."
    )

    unhashed: ClassVar[frozenset[str]] = frozenset(
        {"concurrency", "batch_size", "accelerator_type", "tensor_parallel_size", "engine_kwargs"}
    )


class CaptionsConfig(StrictModel):
    enabled: bool = Field(
        True, description="Caption the survivors (after identity); stage 1 needs a caption."
    )
    backend: Literal["template", "transformers", "vllm"] = Field(
        "template",
        description="Captioner: 'template' (offline default: measured facts, a placeholder), "
        "'transformers' (an image-text-to-text VLM such as Qwen2.5-VL from model_dir), 'vllm' "
        "(the same through ray.data.llm on GPU clusters).",
    )
    model_dir: str | None = Field(
        None, description="Local directory of the VLM (config, weights, processor, chat template)."
    )
    only_stage1_candidates: bool = Field(
        False,
        description="Caption only clips that can become stage-1 rows (a reference of at least "
        "identity.min_reference_kind), so a VLM's cost goes only where its caption can be used. Off "
        "by default: template captions are cheap and describe every kept clip; turn on with a VLM.",
    )
    prompt: str = Field(
        "caption_v1",
        description="Prompt template: a name in configs/prompts/ or a YAML path; its version is "
        "recorded in caption_prompt_version.",
    )
    num_frames: int = Field(
        4, ge=1, description="Sampled frames shown to the VLM per clip (evenly chosen from _frames)."
    )
    max_pixels: int = Field(
        448 * 448,
        ge=28 * 28,
        description="Each frame is downscaled to at most this many pixels before the VLM (aspect kept).",
    )
    max_new_tokens: int = Field(256, ge=8, description="Generation budget per caption.")
    min_words: int = Field(8, ge=0, description="Shorter answers are rejected (retry, then no caption).")
    max_words: int = Field(
        160, ge=1, description="Longer answers are cut at the last sentence end within this many words."
    )
    retries: int = Field(1, ge=0, le=3, description="Retries of an empty, refusing or too short answer.")
    retry_temperature: float = Field(
        0.7, ge=0, description="Sampling temperature of a retry (the first answer is greedy)."
    )
    seed: int = Field(0, description="Seed of retry sampling (captions are reproducible).")
    dtype: Literal["auto", "bfloat16", "float16", "float32"] = Field(
        "auto", description="Model dtype: auto = bfloat16 on GPU, float32 on CPU."
    )
    device: str = Field("auto", description="'auto' (CUDA when present), 'cpu' or 'cuda'.")
    batch_clips: int = Field(8, ge=1, description="Clips per generate() call (transformers backend).")
    generate_kwargs: dict[str, Any] = Field(
        default_factory=dict, description="Extra keyword arguments of generate() (e.g. repetition_penalty)."
    )
    template: TemplateConfig = TemplateConfig()
    vllm: VllmConfig = VllmConfig()
    resources: Resources = Resources(num_cpus=1.0, batch_size=8)

    unhashed: ClassVar[frozenset[str]] = frozenset({"device", "batch_clips"})

    @model_validator(mode="after")
    def _model(self) -> CaptionsConfig:
        if self.backend in ("transformers", "vllm") and not self.model_dir:
            raise ValueError(
                f"captions.backend={self.backend!r} needs captions.model_dir (a local directory)"
            )
        if self.min_words > self.max_words:
            raise ValueError(f"captions.min_words ({self.min_words}) exceeds max_words ({self.max_words})")
        return self
