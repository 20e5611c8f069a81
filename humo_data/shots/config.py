"""Settings of shot detection."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from humo_data.config_base import StrictModel


class ShotsConfig(StrictModel):
    backend: Literal["pyscenedetect-content", "pyscenedetect-adaptive", "none"] = Field(
        "pyscenedetect-content", description="Shot detector; 'none' treats each source as one shot."
    )
    threshold: float | None = Field(
        None,
        gt=0,
        description="Detector threshold (None = the detector's own default: 27 content, 3 adaptive).",
    )
    min_shot_seconds: float = Field(0.6, ge=0, description="Shortest shot the detector may report.")
    blank_threshold: float | None = Field(
        12.0,
        ge=0,
        description="Frames darker than this mean pixel value (0-255) are blank: they split shots and "
        "never enter a clip (fades, black separators). None disables. 12 = PySceneDetect's fade threshold.",
    )
    detect_width: int = Field(256, ge=32, description="Frames are downscaled to this width for detection.")
