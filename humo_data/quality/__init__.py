"""Quality gates, one stage and one config section each: ``QualityStage`` (technical metrics and
burned-in text, streaming pass before faces), ``AestheticStage`` (a learned score on the technical
survivors), ``FaceQualityStage`` (face sharpness, after faces) and ``CaptionAlignmentStage``
(caption-frame CLIP score, after captions). ``jobs/plan.py`` puts them in order.
"""

from __future__ import annotations

from humo_data.quality.aesthetic import AESTHETIC, AestheticStage
from humo_data.quality.alignment import CaptionAlignmentStage
from humo_data.quality.config import AestheticConfig, AlignmentConfig, FaceQualityConfig, QualityConfig
from humo_data.quality.face import FaceQualityStage
from humo_data.quality.stage import QualityStage

__all__ = [
    "AESTHETIC", "AestheticConfig", "AestheticStage", "AlignmentConfig", "CaptionAlignmentStage",
    "FaceQualityConfig", "FaceQualityStage", "QualityConfig", "QualityStage",
]  # fmt: skip
