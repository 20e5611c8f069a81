"""Settings of the audio-visual sync stage. Owned by humo_data/sync/."""

from __future__ import annotations

from pydantic import Field

from humo_data.config_base import Resources, StrictModel


class SyncConfig(StrictModel):
    enabled: bool = Field(True, description="Run the sync stage in the streaming pass.")
    max_offset_frames: int = Field(
        15, ge=0, le=50, description="Largest audio offset searched, in video frames (SyncNet: +/-15)."
    )
    resources: Resources = Resources(num_cpus=1.0, batch_size=2)
