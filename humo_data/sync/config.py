"""Settings of the audio-visual sync stage. Owned by humo_data/sync/."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field

from humo_data.config_base import Resources, StrictModel


class SyncConfig(StrictModel):
    enabled: bool = Field(True, description="Run the sync stage in the streaming pass.")
    backend: Literal["landmark-envelope-xcorr", "syncnet"] = Field(
        "landmark-envelope-xcorr",
        description="Sync scorer: landmark-envelope-xcorr (offline default, no learned weights: dlib mouth "
        "opening against the speech envelope; corrects offsets, cannot verify sync) or syncnet "
        "(weights from `weights`, syncnet_v2 layout; sets sync_verified).",
    )
    weights: str | None = Field(None, description="syncnet: syncnet_v2.model (state dict) or .safetensors.")
    device: str = Field("cpu", description="syncnet: torch device.")
    batch_frames: int = Field(
        20, ge=1, description="syncnet: video frames per forward pass (syncnet_python: 20)."
    )
    max_offset_frames: int = Field(
        15, ge=1, le=50, description="Offsets searched: +/- this many video frames (SyncNet's vshift: 15)."
    )
    max_abs_offset_frames: int = Field(
        6, ge=0, description="Stage-2 gate out_of_sync: |best offset| above this (LatentSync: 6)."
    )
    min_confidence_syncnet: float = Field(
        3.0, description="Stage-2 gate low_sync_confidence for syncnet: LSE-C below this (LatentSync: 3)."
    )
    min_confidence_xcorr: float = Field(
        0.25,
        description="Stage-2 gate low_sync_confidence for landmark-envelope-xcorr: peak minus median of its "
        "cross-validated correlation curve below this (a flat curve; not a sync verdict).",
    )
    crop_scale: float = Field(
        0.4, ge=0, description="syncnet: face crop padding (syncnet_python's crop_scale)."
    )
    box_scale: float = Field(
        1.0,
        gt=0,
        description="syncnet: scale of the landmark face box before cropping (S3FD boxes run larger).",
    )
    xcorr_lag_bias_frames: int = Field(
        -2,
        description="landmark-envelope-xcorr: the raw offset it reads on in-sync speech, subtracted from every "
        "reading. Mouth opening precedes the sound it makes, so the envelope trails the lips: on the in-sync "
        "talking clips of ../shared/media (3 speakers) the raw reading was -2 (median; 80 ms). Erring this way "
        "also errs toward delayed audio, which viewers tolerate ~3x better than early audio. Calibrate on "
        "clips you know are in sync (benchmarks/sync_recovery.py).",
    )
    xcorr_bands: int = Field(
        4, ge=1, le=16, description="landmark-envelope-xcorr: log-energy bands 150-7000 Hz."
    )
    xcorr_ridge: float = Field(
        1.0, gt=0, description="landmark-envelope-xcorr: ridge penalty of the per-lag fit."
    )
    min_face_fraction: float = Field(
        0.5, ge=0, le=1, description="Frames with a located face needed to score (else no_face_track)."
    )
    redetect_every: int = Field(
        25, ge=1, description="Without a face_track: re-run dlib's detector every this many frames."
    )
    decode_threads: int = Field(1, ge=0, description="FFmpeg threads to decode a clip (0 = auto).")
    resources: Resources = Resources(num_cpus=1.0, batch_size=2)

    #: where/how fast, never what: left out of the output hash
    unhashed: ClassVar[frozenset[str]] = frozenset({"device", "batch_frames", "decode_threads"})
