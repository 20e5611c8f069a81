"""Settings of the quality stages, one section each: ``quality`` (technical metrics and burned-in
text, streaming pass before faces), ``aesthetic`` (a learned score, actor pool), ``face_quality``
(face sharpness, after faces) and ``caption_alignment`` (caption-frame CLIP score, after captions).

Scales (see humo_data/quality/metrics.py): exposure and contrast are luma mean / std in [0, 1];
sharpness is the variance of the Laplacian (0-255 luma) at a 360-pixel short side, so one
threshold serves every resolution; motion is the mean |difference| of consecutive 256-wide luma
frames in [0, 1] (the cutter's ``_motion``). Defaults were set on the shared test media: speaking
people score sharpness 76-570, exposure 0.14-0.57, contrast 0.14-0.24, while the same clips blurred
by a 1%-of-short-side Gaussian score under 5. The two presets (configs/quality_loose.yaml for
pre-training, configs/quality_strict.yaml for fine-tuning) follow SpeakerVid-5M's two tiers.
"""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field, model_validator

from humo_data.config_base import CPU_BATCH_SIZE, Resources, StrictModel


class AestheticConfig(StrictModel):
    """A learned aesthetic / IQA score on the sampled frames (a model stage: actor pool)."""

    backend: Literal["none", "laion-mlp"] = Field(
        "none",
        description="'none' (offline default: no aesthetic score, quality_aesthetic stays null) or "
        "'laion-mlp': LAION's improved aesthetic predictor, an MLP head on L2-normalised CLIP image "
        "embeddings (open_clip), weights from local paths.",
    )
    clip_model: str = Field("ViT-L-14", description="open_clip architecture of the image embedder.")
    clip_weights: str | None = Field(
        None, description="Local open_clip checkpoint of clip_model (file or 'local-dir:' folder)."
    )
    head_weights: str | None = Field(
        None,
        description="Local aesthetic head (.safetensors or .pth state dict): the 5-layer MLP of "
        "improved-aesthetic-predictor (sac+logos+ava1-l14-linearMSE) or a single linear layer.",
    )
    min_score: float | None = Field(
        4.5,
        description="Reject below this mean score (1-10 scale; Open-Sora calls 5.5 fair aesthetics, "
        "talking-head footage sits around 4-5). None = measure only.",
    )
    device: str = Field("auto", description="'auto' (CUDA when present), 'cpu' or 'cuda'.")
    batch_frames: int = Field(64, ge=1, description="Frames per forward pass of the image embedder.")
    resources: Resources = Resources(num_cpus=1.0, batch_size=32)

    unhashed: ClassVar[frozenset[str]] = frozenset({"device", "batch_frames"})

    @model_validator(mode="after")
    def _paths(self) -> AestheticConfig:
        if self.backend != "none" and not (self.clip_weights and self.head_weights):
            raise ValueError(f"aesthetic backend {self.backend!r} needs clip_weights and head_weights")
        return self


class FaceQualityConfig(StrictModel):
    """Sharpness of the main face region, after the faces stage (face_track boxes)."""

    enabled: bool = Field(True, description="Run the face-quality stage after the faces stage.")
    sharpness_min: float | None = Field(
        15.0,
        description="Reject when the median face-region sharpness is below this (same scale as "
        "sharpness_min, measured on the face box resized to face_size). None = measure only.",
    )
    face_size: int = Field(
        128, ge=16, description="The face box is resized to this short side before the Laplacian."
    )
    margin: float = Field(
        0.0, ge=0, le=1, description="Grow each box by this fraction of its size before measuring."
    )
    #: per-clip measurements: a batch of 8 only held clips back from the model stages after it
    resources: Resources = Resources(num_cpus=1.0, batch_size=CPU_BATCH_SIZE)


class TextConfig(StrictModel):
    """Burned-in text (subtitles, tickers, titles) as the share of the frame inside text boxes."""

    backend: Literal["none", "ppocr-det"] = Field(
        "none",
        description="'none' (quality_text_area stays null) or 'ppocr-det': PaddleOCR's PP-OCRv4 text "
        "detector on onnxruntime, the ONNX file shipped in rapidocr-onnxruntime (pip install --no-deps).",
    )
    model: str | None = Field(
        None, description="Local detector ONNX; None = the one in rapidocr-onnxruntime."
    )
    frames: int = Field(
        2, ge=1, description="Sampled stills checked per clip (evenly chosen); the mean is kept."
    )
    long_side: int = Field(640, ge=128, description="Stills are resized to this long side for the detector.")
    max_area: float | None = Field(
        0.1,
        ge=0,
        le=1,
        description="text_overlay above this share of the frame covered by text (people footage with "
        "a watermark, a screen or glasses: <= 0.06; a few caption lines: 0.15-0.5). None = measure only.",
    )
    threads: int = Field(1, ge=1, description="onnxruntime threads per worker.")

    unhashed: ClassVar[frozenset[str]] = frozenset({"threads"})


class AlignmentConfig(StrictModel):
    """Caption-frame alignment (CLIP score), in the survivors-only phase right after captions."""

    enabled: bool = Field(
        False, description="Score captions against their frames (needs clip_weights; no offline default)."
    )
    clip_model: str = Field("ViT-L-14", description="open_clip architecture.")
    clip_weights: str | None = Field(
        None, description="Local open_clip checkpoint (file) or folder with open_clip_config.json."
    )
    min_score: float | None = Field(
        0.2,
        description="Below this mean cosine similarity (caption vs sampled frames) the caption is "
        "withdrawn (caption null, caption_reason low_clip_score). CLIP ViT-L/14 scores matching "
        "pairs ~0.25-0.35, unrelated ones ~0.1-0.15; re-tune for another model. None = measure only.",
    )
    device: str = Field("auto", description="'auto' (CUDA when present), 'cpu' or 'cuda'.")
    resources: Resources = Resources(num_cpus=1.0, batch_size=32)

    unhashed: ClassVar[frozenset[str]] = frozenset({"device"})

    @model_validator(mode="after")
    def _paths(self) -> AlignmentConfig:
        if self.enabled and not self.clip_weights:
            raise ValueError("alignment.enabled needs alignment.clip_weights (a local path)")
        return self


class QualityConfig(StrictModel):
    enabled: bool = Field(True, description="Run the quality stages (cheap CPU pass before faces).")
    exposure_min: float | None = Field(
        0.08,
        ge=0,
        le=1,
        description="too_dark below this mean luma. Sits above the cutter's blank threshold "
        "(shots.blank_threshold 12/255 = 0.047), which already drops near-black frames; 0.08 = 20/255.",
    )
    exposure_max: float | None = Field(
        0.82, ge=0, le=1, description="too_bright above this mean luma (210/255: washed out, white screens)."
    )
    contrast_min: float | None = Field(
        0.04, ge=0, le=1, description="low_contrast below this luma standard deviation (flat, fogged, faded)."
    )
    sharpness_min: float | None = Field(
        15.0,
        ge=0,
        description="blurry below this median variance of the Laplacian (360-px short side). Sharp "
        "footage scores in the hundreds, a defocused frame under 10.",
    )
    still_diff: float = Field(
        0.0003,
        ge=0,
        description="A frame differing from the previous one by less than this (mean |diff|, [0, 1]) "
        "is a repeat: encoder noise on a still picture measures ~0.0001, a talking head >= 0.0005.",
    )
    max_frozen_fraction: float | None = Field(
        0.5,
        ge=0,
        le=1,
        description="frozen when more than this share of frame differences are repeats (a still or "
        "a stalled stream; a 15 fps source resampled to 25 fps repeats 40%). None disables.",
    )
    motion_min: float | None = Field(
        None, ge=0, description="too_static below this mean frame difference (None = off)."
    )
    motion_max: float | None = Field(
        None,
        ge=0,
        description="too_much_motion above this mean frame difference (shake, fast pans; None = off).",
    )
    borders: Literal["crop", "reject"] = Field(
        "crop",
        description="Black borders (letterbox/pillarbox): 'crop' records the content region in "
        "quality_border and measures inside it (readers crop to it); 'reject' rejects clips whose "
        "borders cover more than max_border_fraction.",
    )
    border_dark: float = Field(0.04, ge=0, le=1, description="A border line's mean luma is below this.")
    border_flat: float = Field(0.02, ge=0, le=1, description="A border line's luma std is below this.")
    border_min_fraction: float = Field(
        0.02, ge=0, le=0.5, description="Bars thinner than this fraction of the side are ignored."
    )
    max_border_fraction: float = Field(
        0.05,
        ge=0,
        le=1,
        description="borders='reject': reject when borders cover more than this share of the frame.",
    )
    min_content_fraction: float = Field(
        0.5,
        ge=0,
        le=1,
        description="borders='crop': reject when the content region is smaller than this share.",
    )
    max_aspect: float | None = Field(
        3.0,
        ge=1,
        description="extreme_aspect when the content region's long/short side exceeds this (HuMo "
        "trains at 832x480 = 1.73). None = off.",
    )
    text: TextConfig = TextConfig()
    #: per-clip measurements: a batch of 8 only held clips back from the model stages after it
    resources: Resources = Resources(num_cpus=1.0, batch_size=CPU_BATCH_SIZE)
