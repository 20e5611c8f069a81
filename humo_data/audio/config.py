"""Settings of the audio stage (VAD, ASR, separation). Owned by humo_data/audio/."""

from __future__ import annotations

from pydantic import Field

from humo_data.config_base import Resources, StrictModel


class AudioConfig(StrictModel):
    enabled: bool = Field(True, description="Run the audio stage in the streaming pass.")
    resources: Resources = Resources(num_cpus=1.0, batch_size=4)
