"""Pydantic models for every stage, YAML profiles and ``--set key=value`` overrides.

Every model forbids unknown keys and is frozen: a typo in a YAML file or an override fails at
start-up with the dotted key named, before any worker starts.

    cfg = load_config("default", overrides=["clips.max_seconds=8", "writer.rows_per_shard=64"])
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar, Literal

import yaml
from pydantic import Field, ValidationError, model_validator

from humo_data.config_base import Resources, StrictModel, short_hash

__all__ = [
    "AudioConfig", "CaptionsConfig", "ClipsConfig", "ConfigError", "CurateConfig", "FacesConfig",
    "FramesConfig", "IdentityConfig", "ProbeConfig", "QualityConfig", "RayConfig", "Resources",
    "ShotsConfig", "SourcesConfig", "StrictModel", "SyncConfig", "WriterConfig", "load_config",
]  # fmt: skip


# --- generic helpers: defined before the capability configs are imported, so a capability
# module may import them from here while this module is still initialising ---


class ConfigError(ValueError):
    """A config file or override is wrong; the message names the key."""


def configs_dir() -> Path:
    """configs/ (repo root); in a wheel the humo_data/_configs link is a real folder."""
    return Path(__file__).parent / "_configs"


def resolve_profile(
    name_or_path: str | Path, directory: Path | None = None, kind: str = "config profile"
) -> Path:
    """A path to a YAML file, or the name of a profile in ``directory`` (default configs/)."""
    directory = directory or configs_dir()
    p = Path(name_or_path)
    if p.suffix in (".yaml", ".yml") or p.exists():
        if not p.exists():
            raise ConfigError(f"config file not found: {p}")
        return p
    candidate = directory / f"{name_or_path}.yaml"
    if not candidate.exists():
        known = sorted(x.stem for x in directory.glob("*.yaml"))
        raise ConfigError(f"unknown {kind} {name_or_path!r}; known: {known}, or pass a YAML path")
    return candidate


def apply_override(data: dict[str, Any], assignment: str) -> None:
    """Apply ``a.b.c=value`` to nested dict ``data``; the value is parsed as YAML (8, true, [1, 2], text)."""
    if "=" not in assignment:
        raise ConfigError(f"override {assignment!r} must look like key.path=value")
    key, raw = assignment.split("=", 1)
    parts = [p for p in key.strip().split(".") if p]
    if not parts:
        raise ConfigError(f"override {assignment!r} has an empty key")
    node = data
    for part in parts[:-1]:
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            raise ConfigError(f"override {key!r}: {part!r} is not a section")
        node = child
    node[parts[-1]] = yaml.safe_load(raw) if raw.strip() else None


def _format_validation_error(err: ValidationError, origin: str) -> str:
    lines = [f"invalid config ({origin}):"]
    for e in err.errors():
        if not e["loc"]:  # a rule across sections: its message says everything (no dump of the input)
            lines.append(f"  {e['msg'].removeprefix('Value error, ')}")
            continue
        key = ".".join(str(x) for x in e["loc"])
        msg = "unknown key" if e["type"] == "extra_forbidden" else e["msg"]
        lines.append(
            f"  {key}: {msg}" + ("" if e["type"] == "extra_forbidden" else f" (got {e.get('input')!r})")
        )
    return "\n".join(lines)


def build_model(model_cls: type[StrictModel], data: dict[str, Any], origin: str) -> Any:
    try:
        return model_cls.model_validate(data)
    except ValidationError as err:
        raise ConfigError(_format_validation_error(err, origin)) from None


def load_yaml(path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as err:
        raise ConfigError(f"{path}: not valid YAML: {err}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: top level must be a mapping of sections")
    return data


# --- stage sections -----------------------------------------------------------------------------
from humo_data.audio.config import AudioConfig  # noqa: E402 - after the generic helpers (see above)
from humo_data.captions.config import CaptionsConfig  # noqa: E402 - after the generic helpers (see above)
from humo_data.faces.config import FacesConfig  # noqa: E402 - after the generic helpers (see above)
from humo_data.identity.config import IdentityConfig  # noqa: E402 - after the generic helpers (see above)
from humo_data.quality.config import QualityConfig  # noqa: E402 - after the generic helpers (see above)
from humo_data.sync.config import SyncConfig  # noqa: E402 - after the generic helpers (see above)


class SourcesConfig(StrictModel):
    extensions: tuple[str, ...] = Field(
        (".mp4", ".mov", ".mkv", ".webm", ".avi", ".m4v", ".mpg", ".mpeg", ".ts", ".flv", ".3gp"),
        description="File extensions taken when the input is a directory or glob (case-insensitive).",
    )
    recursive: bool = Field(True, description="Walk sub-directories of a directory input.")
    manifest_column: str = Field("uri", description="Column holding URIs in a Parquet manifest input.")
    limit: int | None = Field(None, ge=1, description="Take only the first N sources (sorted by URI).")
    metadata_columns: tuple[str, ...] | Literal["all"] = Field(
        "all",
        description="Columns of a Parquet manifest input (beyond the URI) carried into every row of "
        "that source as source_meta (license, original URL, ...): 'all' or a list of names.",
    )
    size_lookup_threads: int = Field(
        32, ge=1, description="Parallel size look-ups when listing a .txt/.parquet list of URIs."
    )
    sources_per_block: int = Field(
        1, ge=1, description="Sources per Ray Data block: a retried task redoes this many sources."
    )

    unhashed: ClassVar[frozenset[str]] = frozenset({"limit", "size_lookup_threads", "sources_per_block"})


class ProbeConfig(StrictModel):
    require_audio: bool = Field(
        True, description="Reject sources without an audio stream (triplets carry audio)."
    )
    reject_vfr: bool = Field(
        False, description="Reject variable-frame-rate sources instead of resampling them."
    )
    max_pixels: int = Field(4096 * 4096, ge=1, description="Reject sources whose frame area is above this.")
    max_side: int = Field(8192, ge=1, description="Reject sources with a side longer than this.")
    min_side: int = Field(64, ge=1, description="Reject sources with a side shorter than this.")
    # Same resources as the cut stage, so Ray fuses probe + cut into one task: no extra worker
    # processes (each imports PyAV, OpenCV, PySceneDetect) and no hop through the object store.
    resources: Resources = Resources(num_cpus=1.0)


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


class ClipsConfig(StrictModel):
    fps: float = Field(25.0, gt=0, description="Output frame rate (HuMo: 25).")
    min_seconds: float = Field(
        2.0, gt=0, description="Shots shorter than this are rejected; shorter tails dropped."
    )
    max_seconds: float = Field(10.0, gt=0, description="Longest clip; longer shots are split.")
    frame_rule: Literal["4k+1", "any"] = Field(
        "4k+1", description="Snap clip lengths to 4k+1 frames (Wan VAE temporal compression) or keep any."
    )
    shot_margin_seconds: float = Field(
        0.12,
        ge=0,
        description="Trimmed at each end of a shot so transition frames never start or end a clip.",
    )
    short_side: int = Field(
        480, ge=16, description="Resize so the short side is this (keeps aspect, even sizes)."
    )
    upscale: bool = Field(False, description="Allow upscaling sources smaller than short_side.")
    video_codec: Literal["libx264"] = "libx264"
    crf: int = Field(18, ge=0, le=51, description="x264 constant rate factor.")
    preset: str = Field("veryfast", description="x264 preset.")
    x264_params: str | None = Field(
        "me=dia:subme=1:partitions=i8x8,i4x4",
        description="x264 options over the preset (key=value:...). The default trims veryfast's motion "
        "search (0.6x its encode CPU, same PSNR/SSIM at CRF 18, ~10% more bits; "
        "benchmarks/results/encoder_presets.json); null = the plain preset.",
    )
    decode_threads: int = Field(
        0,
        ge=0,
        description="FFmpeg decoder threads per source; 0 = the node's CPUs shared by the sources in flight.",
    )
    encode_threads: int = Field(0, ge=0, description="x264 threads per clip encoder; 0 = as decode_threads.")
    audio_sample_rate: int = Field(16000, description="Audio sample rate (HuMo/Whisper: 16 kHz mono).")
    audio_format: Literal["flac", "wav"] = Field("flac", description="Encoding of the audio column.")
    resources: Resources = Resources(num_cpus=1.0)

    unhashed: ClassVar[frozenset[str]] = frozenset({"decode_threads", "encode_threads"})

    @model_validator(mode="after")
    def _bounds(self) -> ClipsConfig:
        if self.min_seconds > self.max_seconds:
            raise ValueError(
                f"min_seconds ({self.min_seconds}) must not exceed max_seconds ({self.max_seconds})"
            )
        from humo_data.clips.planner import frame_bounds

        try:
            frame_bounds(self.min_seconds, self.max_seconds, self.fps, 4 if self.frame_rule == "4k+1" else 1)
        except ValueError as err:
            raise ValueError(f"{err}; widen min_seconds..max_seconds or set frame_rule=any") from None
        return self


class FramesConfig(StrictModel):
    """Frames sampled by the cutter while it holds the decoded source, for every later stage
    (quality, faces, captions): no model stage decodes a source again."""

    fractions: tuple[float, ...] = Field(
        (0.05, 0.25, 0.5, 0.75, 0.95),
        description="Where in each clip to sample, as fractions of its length (Phantom-Data: .05/.5/.95).",
    )
    every_seconds: float = Field(
        0.4,
        gt=0,
        description="Candidate spacing while a clip is open (its length is known only at its end); each "
        "fraction takes the nearest candidate.",
    )
    short_side: int = Field(
        720, ge=64, description="Sampled frames keep source resolution, capped at this short side."
    )
    format: Literal["jpeg", "png"] = Field("jpeg", description="Encoding of the sampled frames.")
    jpeg_quality: int = Field(92, ge=50, le=100, description="JPEG quality of sampled frames.")


class WriterConfig(StrictModel):
    rows_per_shard: int = Field(128, ge=1, description="Triplet rows per Parquet shard.")
    row_group_rows: int = Field(16, ge=1, description="Rows per row group (media rows are large).")
    compression: Literal["zstd", "snappy", "none"] = Field(
        "zstd", description="Codec for metadata columns; media columns are stored uncompressed."
    )
    rejects_per_shard: int = Field(4096, ge=1, description="Reject rows per rejects shard.")
    report: bool = Field(True, description="Write report/index.html at the end.")
    compact_every_seconds: float = Field(
        300.0, gt=0, description="Fold the append-only commit log into _manifest.json this often."
    )
    lease_seconds: float = Field(
        60.0, gt=0, description="A run's lease on the output expires this long after its last heartbeat."
    )
    retries: int = Field(3, ge=0, description="Retries of a retryable I/O error (timeouts, throttling).")
    retry_backoff_seconds: float = Field(1.0, ge=0, description="First retry delay; doubles per retry.")

    # Shard sizes, codecs and reporting change how the dataset is laid out, not what it holds.
    unhashed: ClassVar[frozenset[str]] = frozenset(
        {"rows_per_shard", "row_group_rows", "compression", "rejects_per_shard", "report",
         "compact_every_seconds", "lease_seconds", "retries", "retry_backoff_seconds"}
    )  # fmt: skip


class RayConfig(StrictModel):
    address: str | None = Field(None, description="Ray cluster address; None starts a local cluster.")
    num_cpus: int | None = Field(None, ge=1, description="CPUs of the local cluster (None = all).")
    object_store_memory: int | None = Field(
        1 << 30, description="Object store bytes of a local cluster; bounded so memory stays predictable."
    )
    max_sources_in_flight: int = Field(
        8, ge=1, description="Sources decoded at once (the cut stage's task pool); caps memory of the stream."
    )

    unhashed: ClassVar[frozenset[str]] = frozenset(
        {"address", "num_cpus", "object_store_memory", "max_sources_in_flight"}
    )


class CurateConfig(StrictModel):
    """The whole curation job. Each field is one stage family."""

    sources: SourcesConfig = SourcesConfig()
    probe: ProbeConfig = ProbeConfig()
    shots: ShotsConfig = ShotsConfig()
    clips: ClipsConfig = ClipsConfig()
    frames: FramesConfig = FramesConfig()
    quality: QualityConfig = QualityConfig()
    faces: FacesConfig = FacesConfig()
    audio: AudioConfig = AudioConfig()
    sync: SyncConfig = SyncConfig()
    identity: IdentityConfig = IdentityConfig()
    captions: CaptionsConfig = CaptionsConfig()
    writer: WriterConfig = WriterConfig()
    ray: RayConfig = RayConfig()

    #: sections that decide how sources become clips: changing one means re-cutting (a new output)
    CUT_SECTIONS: ClassVar[tuple[str, ...]] = ("probe", "shots", "clips", "frames")

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
