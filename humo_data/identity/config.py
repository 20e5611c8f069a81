"""Settings of the identity pass (clustering, reference retrieval). Owned by humo_data/identity/."""

from __future__ import annotations

from pydantic import Field

from humo_data.config_base import Resources, StrictModel


class IdentityConfig(StrictModel):
    enabled: bool = Field(True, description="Run the grouped identity / reference pass.")
    resources: Resources = Resources(num_cpus=1.0)
