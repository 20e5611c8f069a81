"""Settings of the quality stage (technical metrics + aesthetic backend). Owned by humo_data/quality/."""

from __future__ import annotations

from pydantic import Field

from humo_data.config_base import Resources, StrictModel


class QualityConfig(StrictModel):
    enabled: bool = Field(True, description="Run the quality stage in the streaming pass.")
    resources: Resources = Resources(num_cpus=1.0, batch_size=8)
