"""Quality gates: technical metrics (streaming pass, before faces), face sharpness (after faces),
an optional learned aesthetic score, and caption-frame CLIP alignment (after captions).

Builders return the stages a config asks for, in order, so the job only concatenates them:

    stages = [*quality_stages(cfg.quality), *faces, *face_quality_stages(cfg.quality), ...]
"""

from __future__ import annotations

from humo_data.quality.aesthetic import AESTHETIC, AestheticStage
from humo_data.quality.alignment import CaptionAlignmentStage
from humo_data.quality.config import AestheticConfig, AlignmentConfig, FaceQualityConfig, QualityConfig
from humo_data.quality.face import FaceQualityStage
from humo_data.quality.stage import QualityStage
from humo_data.stage import Stage

__all__ = [
    "AESTHETIC", "AestheticConfig", "AestheticStage", "AlignmentConfig", "CaptionAlignmentStage",
    "FaceQualityConfig", "FaceQualityStage", "QualityConfig", "QualityStage", "alignment_stages",
    "face_quality_stages", "quality_stages",
]  # fmt: skip


def quality_stages(cfg: QualityConfig) -> list[Stage]:
    """Streaming pass, right after the cutter: technical gates, then (if configured) the aesthetic
    model on their survivors."""
    if not cfg.enabled:
        return []
    stages: list[Stage] = [QualityStage(cfg)]
    if cfg.aesthetic.backend != "none":
        stages.append(AestheticStage(cfg))
    return stages


def face_quality_stages(cfg: QualityConfig) -> list[Stage]:
    """Streaming pass, right after the faces stage (needs face_track and _frames)."""
    return [FaceQualityStage(cfg)] if cfg.enabled and cfg.face.enabled else []


def alignment_stages(cfg: QualityConfig) -> list[Stage]:
    """Survivors-only phase, right after the captions stage (needs caption and _frames)."""
    return [CaptionAlignmentStage(cfg)] if cfg.alignment.enabled else []
