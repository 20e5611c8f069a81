"""Settings of the captions stage (VLM / template captioner, CLIP alignment). Owned by humo_data/captions/."""

from __future__ import annotations

from pydantic import Field

from humo_data.config_base import Resources, StrictModel


class CaptionsConfig(StrictModel):
    enabled: bool = Field(True, description="Caption the survivors (after identity).")
    backend: str = Field("template", description="Captioner from the captions registry.")
    resources: Resources = Resources(num_cpus=1.0, batch_size=8)
