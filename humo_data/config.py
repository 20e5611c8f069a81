"""The composition root: ``CurateConfig`` assembles every section of a curation job from the package
that owns it, and ``load_config`` reads a YAML profile with ``--set key=value`` overrides.

Every model forbids unknown keys and is frozen: a typo in a YAML file or an override fails at
start-up with the dotted key named, before any worker starts.

    cfg = load_config("default", overrides=["clips.max_seconds=8", "writer.rows_per_shard=64"])

Sections: sources, writer (io/config.py); probe (media/config.py); shots (shots/); clips, frames
(clips/); quality, aesthetic, face_quality, caption_alignment (quality/); faces; identity; audio;
sync; captions; ray (ray_config.py); dataset (the dataset operations a run may chain,
dataset_ops/config.py).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

from pydantic import model_validator

from humo_data.audio.config import AudioConfig
from humo_data.captions.config import CaptionsConfig
from humo_data.clips.config import ClipsConfig, FramesConfig
from humo_data.config_base import (
    ConfigError,
    Resources,
    StrictModel,
    apply_override,
    build_model,
    configs_dir,
    load_yaml,
    resolve_profile,
    short_hash,
)
from humo_data.dataset_ops.config import DatasetOpsConfig
from humo_data.faces.config import FacesConfig
from humo_data.identity.config import IdentityConfig
from humo_data.io.config import SourcesConfig, WriterConfig
from humo_data.media.config import ProbeConfig
from humo_data.quality.config import AestheticConfig, AlignmentConfig, FaceQualityConfig, QualityConfig
from humo_data.ray_config import RayConfig
from humo_data.shots.config import ShotsConfig
from humo_data.sync.config import SyncConfig

__all__ = [
    "AestheticConfig", "AlignmentConfig", "AudioConfig", "CaptionsConfig", "ClipsConfig", "ConfigError",
    "CurateConfig", "DatasetOpsConfig", "FaceQualityConfig", "FacesConfig", "FramesConfig", "IdentityConfig",
    "ProbeConfig", "QualityConfig", "RayConfig", "Resources", "ShotsConfig", "SourcesConfig", "StrictModel",
    "SyncConfig", "WriterConfig", "apply_override", "build_model", "configs_dir", "load_config", "load_yaml",
    "resolve_profile",
]  # fmt: skip

#: sections that lived inside ``quality`` before each stage had its own: old key -> new section
_MOVED_SECTIONS = {"aesthetic": "aesthetic", "face": "face_quality", "alignment": "caption_alignment"}


class CurateConfig(StrictModel):
    """The whole curation job. Each field is one stage family."""

    sources: SourcesConfig = SourcesConfig()
    probe: ProbeConfig = ProbeConfig()
    shots: ShotsConfig = ShotsConfig()
    clips: ClipsConfig = ClipsConfig()
    frames: FramesConfig = FramesConfig()
    quality: QualityConfig = QualityConfig()
    aesthetic: AestheticConfig = AestheticConfig()
    faces: FacesConfig = FacesConfig()
    face_quality: FaceQualityConfig = FaceQualityConfig()
    audio: AudioConfig = AudioConfig()
    sync: SyncConfig = SyncConfig()
    identity: IdentityConfig = IdentityConfig()
    captions: CaptionsConfig = CaptionsConfig()
    caption_alignment: AlignmentConfig = AlignmentConfig()
    writer: WriterConfig = WriterConfig()
    ray: RayConfig = RayConfig()
    dataset: DatasetOpsConfig = DatasetOpsConfig()

    #: the dataset operations record their own settings in their phases: not part of the curate hash
    unhashed: ClassVar[frozenset[str]] = frozenset({"dataset"})

    #: sections that decide how sources become clips: changing one means re-cutting (a new output)
    CUT_SECTIONS: ClassVar[tuple[str, ...]] = ("probe", "shots", "clips", "frames")

    @model_validator(mode="before")
    @classmethod
    def _moved_sections(cls, data: Any) -> Any:
        """Profiles and manifests written before the quality stages had their own sections
        (``quality.aesthetic`` -> ``aesthetic``, ``quality.face`` -> ``face_quality``,
        ``quality.alignment`` -> ``caption_alignment``) still load."""
        if not isinstance(data, dict) or not isinstance(data.get("quality"), dict):
            return data
        quality = dict(data["quality"])
        moved = {new: quality.pop(old) for old, new in _MOVED_SECTIONS.items() if old in quality}
        if not moved:
            return data
        old_of = {new: old for old, new in _MOVED_SECTIONS.items()}
        for new in moved:
            if new in data:
                raise ValueError(f"quality.{old_of[new]} and {new} are both set: the section moved to {new}")
        return {**data, "quality": quality, **moved}

    @model_validator(mode="after")
    def _stage2_needs_speech_gate(self) -> CurateConfig:
        if self.sync.enabled and not self.audio.enabled:
            raise ValueError(
                "sync.enabled needs audio.enabled: stage 2 requires the speech gate (audio stage) as well "
                "as the sync gate. Set audio.enabled=true, or sync.enabled=false for a stage-1-only dataset."
            )
        return self

    def config_hash(self) -> str:
        """Hash of what changes the dataset (every stage's settings, the schema version); not
        ray.*, reporting, limits, shard sizes or resources, so a local run resumes on a cluster."""
        from humo_data.schema import TRIPLET_VERSION

        return short_hash({"schema": TRIPLET_VERSION, **self.output_dump()})

    def section_hash(self, section: str) -> str:
        """Output hash of one stage section (kept per stage in the manifest; a changed one reruns)."""
        return getattr(self, section).output_hash()

    def cut_hash(self) -> str:
        return short_hash({s: self.section_hash(s) for s in self.CUT_SECTIONS})


def load_config(
    profile: str | Path = "default",
    overrides: list[str] | None = None,
    model_cls: type[StrictModel] = CurateConfig,
) -> Any:
    path = resolve_profile(profile)
    data = load_yaml(path)
    for assignment in overrides or []:
        apply_override(data, assignment)
    return build_model(model_cls, data, origin=str(path))
