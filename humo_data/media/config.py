"""Settings of probing a source (the first look at a file, before any frame is decoded)."""

from __future__ import annotations

from pydantic import Field

from humo_data.config_base import Resources, StrictModel


class ProbeConfig(StrictModel):
    require_audio: bool = Field(
        True, description="Reject sources without an audio stream (triplets carry audio)."
    )
    reject_vfr: bool = Field(
        False, description="Reject variable-frame-rate sources instead of resampling them."
    )
    max_pixels: int = Field(4096 * 4096, ge=1, description="Reject sources whose frame area is above this.")
    max_side: int = Field(8192, ge=1, description="Reject sources with a side longer than this.")
    min_side: int = Field(64, ge=1, description="Reject sources with a side shorter than this.")
    # Same resources as the cut stage, so Ray fuses probe + cut into one task: no extra worker
    # processes (each imports PyAV, OpenCV, PySceneDetect) and no hop through the object store.
    resources: Resources = Resources(num_cpus=1.0)
