"""Settings of the face stage (detection, landmarks, embeddings, tracks). Owned by humo_data/faces/."""

from __future__ import annotations

from pydantic import Field

from humo_data.config_base import Resources, StrictModel


class FacesConfig(StrictModel):
    enabled: bool = Field(True, description="Run the face stage in the streaming pass.")
    backend: str = Field("dlib", description="Face backend from the faces registry (dlib, insightface).")
    model_dir: str | None = Field(None, description="Weights directory of a real backend (insightface).")
    resources: Resources = Resources(num_cpus=1.0, batch_size=4)
