"""Settings of the dataset-level operations: dedup, split, export, takedown, dataset card.

These passes run over a finished dataset (``humo-data dedup OUT`` ...), so their settings are not
part of a curate run's hash. This module imports only config_base, so ``humo_data.config`` can
compose ``DatasetOpsConfig`` as a ``dataset:`` section like the capability configs. They come from, in order: the ``dataset:`` section of the dataset's
own config (once curate composes it), a profile in ``configs/dataset/`` or a YAML path
(``--config``), then ``--set section.key=value`` overrides.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from humo_data.config_base import Resources, StrictModel

SPLIT_NAME = re.compile(r"^[a-z][a-z0-9]*$")
#: bumped when signatures.py computes a signature differently (stored ones are recomputed)
SIGNATURE_VERSION = 2
OPS = ("dedup", "split", "card")


class DedupConfig(StrictModel):
    """Near-duplicate clips across sources (re-uploads, re-encodes, crops, letterboxed or trimmed copies)."""

    backend: Literal["phash", "open_clip"] = Field(
        "phash",
        description="Appearance signature: 'phash' (offline: per-bin perceptual hashes + a thumbnail "
        "vector) or 'open_clip' (CLIP image embeddings of a few frames, weights from open_clip_weights).",
    )
    open_clip_arch: str = Field("ViT-B-32", description="open_clip architecture name for backend open_clip.")
    open_clip_weights: str | None = Field(
        None, description="Local open_clip weights file or folder (backend open_clip; never a hub)."
    )
    step_seconds: float = Field(
        0.2, gt=0, le=1.0, description="Signature bin: motion and hashes are kept per bin of this length."
    )
    smooth_seconds: float = Field(
        0.15,
        ge=0,
        le=1.0,
        description="Gaussian low-pass (sigma, seconds) of the per-frame motion before it is read per bin, "
        "so copies trimmed by a fraction of a bin still correlate.",
    )
    decode_width: int = Field(
        96, ge=32, le=512, description="Frames are decoded straight to this width (grayscale) for signatures."
    )
    grid: int = Field(
        3, ge=1, le=6, description="Motion is measured in grid x grid cells plus the whole frame."
    )
    border_level: float = Field(
        20.0,
        ge=0,
        le=255,
        description="Rows/columns whose brightest value over the clip stays under this luma are "
        "letterbox/pillarbox borders and are cropped before hashing.",
    )
    key_half_window: int = Field(
        4, ge=2, le=25, description="Index keys: bins on each side of a motion anchor (4 = 1.8 s windows)."
    )
    key_stride: int = Field(
        3, ge=1, le=10, description="Index keys: a motion window every this many bins of every clip."
    )
    max_keys: int = Field(
        8, ge=1, le=64, description="Query keys: a clip searches from at most this many motion events."
    )
    key_similarity: float = Field(
        0.7,
        ge=-1,
        le=1,
        description="Candidate pairs: a query key and an indexed key at least this similar (cosine of "
        "z-scored motion windows). Measured: true duplicates >= 0.86, other clips <= 0.54.",
    )
    neighbours: int = Field(16, ge=1, le=256, description="Nearest keys looked up per query key.")
    min_similarity: float = Field(
        0.8,
        ge=-1,
        le=1,
        description="A pair is a near-duplicate when the motion correlation at the best time shift "
        "reaches this (median over grid cells). Measured on the shared media: duplicates >= 0.96, "
        "other windows of the same talking-head video <= 0.64.",
    )
    min_evidence: float = Field(
        4.0,
        ge=0,
        description="...and atanh(r) x sqrt(overlap bins - 3) reaches this, so short overlaps need a higher "
        "correlation (9 bins: r >= 0.93, 12: 0.87, 16+: min_similarity). Measured on non-overlapping "
        "windows of the same videos (same person, same room): chance maximum 3.4.",
    )
    max_phash_distance: int = Field(
        20,
        ge=0,
        le=63,
        description="...and the median Hamming distance of the aligned per-bin pHashes (of 63 bits) is "
        "at most this. Measured: 10% crop 14, re-encode/scale/letterbox 0, different people >= 30.",
    )
    min_embedding_similarity: float = Field(
        0.85, ge=-1, le=1, description="backend open_clip: cosine of the clip embeddings instead of pHash."
    )
    static_motion: float = Field(
        0.003,
        ge=0,
        description="A clip whose mean motion is under this is static (a still): motion carries no "
        "information, so two static clips match on appearance alone (static_phash_distance).",
    )
    static_phash_distance: int = Field(6, ge=0, le=63, description="pHash distance for static clips.")
    min_overlap_seconds: float = Field(
        1.6, gt=0, description="Aligned overlap needed to call a pair duplicates, in seconds..."
    )
    min_overlap_fraction: float = Field(
        0.5,
        gt=0,
        le=1,
        description="...and as a fraction of the shorter clip (a clip overlapping another by 1 s of 4 "
        "after a trim is not its duplicate).",
    )
    search_shift_bins: int = Field(
        2, ge=0, le=25, description="Verification searches this many bins around the shift the keys suggest."
    )
    cross_source_only: bool = Field(
        True,
        description="Compare clips of different sources only (clips of one source are different "
        "windows by construction).",
    )
    keep_order: tuple[str, ...] = Field(
        (
            "face_source_px",
            "source_pixels",
            "content_fraction",
            "bits_per_pixel",
            "quality_sharpness",
            "quality_aesthetic",
            "duration",
            "stage2",
            "stage1",
            "source_duration",
        ),  # fmt: skip
        description="Which clip of a duplicate group stays: best first by these (higher is better), then "
        "clip_id; what a trainer wants: the most source pixels on the face and in the picture, then bits "
        "per pixel (a low-bitrate re-encode loses to its original), sharpness, length; the stage flags "
        "only between copies equal in all of these (a copy's flags come from its own run of the gates, "
        "not from a better picture). face_source_px: main face's eye distance in source pixels; "
        "source_pixels: source picture pixels, borders excluded; content_fraction: share of the frame "
        "without black borders; bits_per_pixel: source_bits_per_pixel per picture pixel; "
        "quality_sharpness/quality_aesthetic: from the quality stage when it ran (else no preference); "
        "duration/source_duration: seconds of the clip/source. Measurements compare in steps below the "
        "duplicate group's best (humo_data/dataset_ops/keep.py).",
    )
    index: Literal["auto", "flat", "hnsw"] = Field(
        "auto", description="faiss index of the keys: exact (flat), HNSW, or flat up to flat_max_keys."
    )
    flat_max_keys: int = Field(
        20_000, ge=1, description="index=auto: exact search up to this many keys (~2,500 clips), HNSW above."
    )
    hnsw_m: int = Field(16, ge=4, le=128, description="HNSW graph degree (index=hnsw).")
    block_clips: int = Field(
        20_000, ge=1, description="Clips per search task (each task loads the index once)."
    )
    resources: Resources = Resources(num_cpus=1.0)

    @field_validator("keep_order")
    @classmethod
    def _known_keys(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        from humo_data.dataset_ops.keep import KEYS

        known = set(KEYS)
        bad = [k for k in v if k not in known]
        if bad:
            raise ValueError(f"unknown keep_order keys {bad}; known: {sorted(known)}")
        return v

    @model_validator(mode="after")
    def _weights(self) -> DedupConfig:
        if self.backend == "open_clip" and not self.open_clip_weights:
            raise ValueError("backend open_clip needs open_clip_weights (a local path)")
        return self

    def signature_hash(self) -> str:
        """What a stored signature depends on (a change recomputes every signature)."""
        from humo_data.config_base import short_hash

        keys = ("backend", "open_clip_arch", "open_clip_weights", "step_seconds", "smooth_seconds",
                "decode_width", "grid", "border_level")  # fmt: skip
        return short_hash({"version": SIGNATURE_VERSION, **{k: getattr(self, k) for k in keys}})


class SplitConfig(StrictModel):
    """Identity-disjoint train/validation/test splits, written as split-separated shards."""

    fractions: dict[str, float] = Field(
        {"train": 0.9, "validation": 0.05, "test": 0.05},
        description="Split name -> fraction of groups (a person with all their sources is one group); "
        "names are lowercase letters/digits and become shard names and dataset-card splits.",
    )
    seed: int = Field(0, description="Seed of the group hash: another seed, another assignment.")
    group_by: Literal["identity+source", "identity"] = Field(
        "identity+source",
        description="'identity+source': a person and every source they appear in form one group "
        "(no person and no video in two splits); 'identity': main-face identities only, clips "
        "without a face by source.",
    )
    tolerance: float = Field(
        0.05,
        ge=0,
        le=1,
        description="Achieved clip fractions further than this from the targets are reported as a "
        "warning (large groups make exact fractions impossible).",
    )
    rows_per_shard: int | None = Field(
        None, ge=1, description="Rows per split shard; None = the dataset's writer.rows_per_shard."
    )

    @field_validator("fractions")
    @classmethod
    def _fractions(cls, v: dict[str, float]) -> dict[str, float]:
        if not v:
            raise ValueError("at least one split")
        for name, f in v.items():
            if not SPLIT_NAME.match(name):
                raise ValueError(
                    f"split name {name!r} must be lowercase letters/digits, starting with a letter"
                )
            if f < 0:
                raise ValueError(f"split {name!r}: negative fraction")
        if abs(sum(v.values()) - 1.0) > 1e-6:
            raise ValueError(f"fractions must sum to 1, got {sum(v.values()):g}")
        return v


class ExportConfig(StrictModel):
    subset: Literal["stage1", "stage2", "all"] = Field(
        "stage1", description="Rows exported: stage-1 triplets (default), stage-2 rows, or every row."
    )
    split: str | None = Field(None, description="Export one split only (None = every row of the subset).")
    samples_per_tar: int = Field(1000, ge=1, description="webdataset: samples per tar shard.")


class TakedownConfig(StrictModel):
    distance: float | None = Field(
        None,
        gt=0,
        description="remove --identity: a face track this close to the identity's centroid shows the "
        "person (its clip and its crops go too); None = the identity pass's within-source distance of "
        "the face backend (recall over precision: removing too much is the safe side).",
    )


class CardConfig(StrictModel):
    """Fields of the Hugging Face dataset card (OUT/README.md)."""

    pretty_name: str = Field("HuMo-style human video triplets", description="Card title.")
    license: str = Field(
        "other",
        description="Hub license id of the dataset as a whole ('other' with license_name when sources "
        "carry their own licenses).",
    )
    license_name: str | None = Field(
        "source-licenses", description="Name of a custom license (license: other)."
    )
    license_link: str | None = Field(
        None, description="Link to the license text (license: other), e.g. LICENSE.md in the repo."
    )
    language: tuple[str, ...] = Field(
        (),
        description="Languages to declare (ISO 639-1), overriding what was measured. Empty: the card lists "
        "the spoken languages the ASR measured (the rows' `language` column), and no language field "
        "when no stage measured one.",
    )
    tags: tuple[str, ...] = Field(
        ("video", "audio", "talking-head", "human-centric", "humo"), description="Hub tags."
    )
    description: str | None = Field(None, description="A paragraph about the dataset (what, from where).")
    citation: str | None = Field(None, description="BibTeX for the dataset.")
    include_rejects: bool = Field(True, description="Add a 'rejects' config (ids and reasons, no media).")


class OpsRayConfig(StrictModel):
    """Where the operations run (the curate job's ``ray:`` keys that matter here)."""

    address: str | None = Field(
        None, description="Ray cluster address; None starts a local cluster when needed."
    )
    num_cpus: int | None = Field(None, ge=1, description="CPUs of the local cluster (None = all).")
    object_store_memory: int | None = Field(1 << 30, description="Object store bytes of a local cluster.")


class DatasetOpsConfig(StrictModel):
    dedup: DedupConfig = DedupConfig()
    split: SplitConfig = SplitConfig()
    export: ExportConfig = ExportConfig()
    takedown: TakedownConfig = TakedownConfig()
    card: CardConfig = CardConfig()
    after_curate: tuple[Literal["dedup", "split", "card"], ...] = Field(
        (),
        description="Operations `humo-data curate` runs after a complete run, in this order "
        "(the default profile runs none).",
    )
    in_process_max_shards: int = Field(
        4,
        ge=0,
        description="Operations on a dataset of at most this many triplet shards run in this process "
        "instead of starting Ray (start-up would cost more than the work); a running Ray or an "
        "explicit ray.address is always used.",
    )
    ray: OpsRayConfig = OpsRayConfig()


def ops_profile(name_or_path: str | Path) -> Path:
    from humo_data.config_base import configs_dir, resolve_profile

    return resolve_profile(name_or_path, configs_dir() / "dataset", kind="dataset-ops profile")


def _merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for k, v in over.items():
        out[k] = _merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def load_ops_config(
    manifest: dict[str, Any] | None = None,
    profile: str | Path | None = None,
    overrides: list[str] | None = None,
) -> DatasetOpsConfig:
    """The dataset's ``dataset:`` section, then ``profile``, then ``overrides``."""
    from humo_data.config_base import apply_override, build_model, load_yaml

    data: dict[str, Any] = {}
    section = ((manifest or {}).get("config") or {}).get("dataset")
    if isinstance(section, dict):
        data = _merge(data, section)
    origin = "dataset config"
    if profile is not None:
        path = ops_profile(profile)
        data = _merge(data, load_yaml(path))
        origin = str(path)
    for assignment in overrides or []:
        apply_override(data, assignment)
    return build_model(DatasetOpsConfig, data, origin=origin)
