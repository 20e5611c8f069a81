"""Settings of the identity pass (clustering, dataset-wide index, same footage, reference retrieval).
Owned by humo_data/identity/.

Reference kinds, best first (HuMo takes the reference from a clip in another context so the model
learns identity instead of copy-pasting a frame; Phantom-Data retrieves across videos):

- ``cross_source``: another recording of the person: another source that is not the same footage
  (no motion alignment with the target, and a context below ``same_context``);
- ``cross_shot``: another shot of the target's source (another camera or moment; an A/B/A edit's
  other A shot), not a replay of the target's own shot;
- ``same_shot``: the same shot, or the same footage in another source (a re-upload, re-encode, crop
  or trim), at least ``min_gap_seconds`` away from the target clip and in a context that differs;
- ``same_clip``: the clip's own frames (or a copy's frames of the same moments): last resort.

``KIND_RANK`` is the one order every consumer uses (finish's stage-1 gate, the report, takedown):
a row is stage 1 with a reference of rank >= ``KIND_RANK[min_reference_kind]``; the default
``cross_shot`` takes both other-context kinds.
"""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field

from humo_data.config_base import Resources, StrictModel

ReferenceKind = Literal["cross_source", "cross_shot", "same_shot", "same_clip"]
KINDS: tuple[str, ...] = ("cross_source", "cross_shot", "same_shot", "same_clip")  # best first
#: higher is better; defined here once (finish, report and takedown import it)
KIND_RANK: dict[str, int] = {k: len(KINDS) - i for i, k in enumerate(KINDS)}


class IdentityConfig(StrictModel):
    enabled: bool = Field(True, description="Run the grouped identity / reference pass.")
    distance_threshold: float | None = Field(
        None,
        gt=0,
        description="Same-person distance for clustering tracks within a source and for accepting a "
        "reference crop (Euclidean, in the face backend's embedding space); None = backend_distances.",
    )
    cross_source_distance: float | None = Field(
        None,
        gt=0,
        description="Distance between per-source identity centroids for joining them into one "
        "dataset-wide identity (stricter: a false merge hands clips a stranger's face); None = "
        "backend_distances.",
    )
    backend_distances: dict[str, tuple[float, float]] = Field(
        {"dlib": (0.55, 0.5), "insightface": (1.1, 1.0)},
        description="Per face backend: (within-source, cross-source) distances. dlib: measured on the "
        "shared media, same person <= 0.44, different >= 0.62 (dlib's own tolerance 0.6); insightface: "
        "unit ArcFace vectors, 1.1 = cosine 0.4, 1.0 = cosine 0.5.",
    )
    max_exact_tracks: int = Field(
        4000,
        ge=2,
        description="Average-linkage clustering up to this many tracks per source (memory ~ n^2 / 2 "
        "floats); larger sources use centroid assignment.",
    )
    references_per_clip: int = Field(2, ge=1, le=4, description="Reference crops per clip (K).")
    min_reference_kind: ReferenceKind = Field(
        "cross_shot",
        description="Weakest reference kind that makes a row stage 1 (with a caption), in the order "
        "cross_source > cross_shot > same_shot > same_clip: the default takes another recording or "
        "another shot; cross_source takes other recordings only. finish sets stage1 from it.",
    )
    min_gap_seconds: float = Field(
        5.0, ge=0, description="same_shot references come from clips at least this far from the target clip."
    )
    same_context: dict[str, float] = Field(
        {"surround": 0.75, "histogram": 0.9, "open_clip": 0.9},
        description="Per context backend (faces.context_backend): a context similarity at or above this "
        "is the same set and clothes. A candidate from another source that close to the target is the "
        "same footage (never cross_source), and a same_shot candidate must stay below it. surround: "
        "copies and other moments of one recording score >= 0.91 on the shared talking heads (8 copies "
        "each: re-encode, scale, crop, letterbox, trim), another recording of a person <= 0.41, other "
        "people's videos <= 0.70 (benchmarks/same_footage.py); too high errs safe (a good reference "
        "lost, never a copy gained). histogram/open_clip: no same-footage check (faces/context.py).",
    )
    same_shot_max_context: float | None = Field(
        None,
        ge=-1,
        le=1,
        description="Override of same_context for same_shot candidates (None = same_context of the "
        "context backend); kept so configs of earlier datasets still load.",
    )
    footage_step_seconds: float = Field(
        0.08,
        gt=0,
        description="Bin of the motion series the same-footage check aligns (the cutter's per-frame "
        "_motion, mean per bin).",
    )
    footage_smooth_seconds: float = Field(
        0.04,
        ge=0,
        description="Gaussian low-pass of the per-frame motion before binning: copies resampled onto "
        "the 25 fps grid at other phases (a trim, another frame rate) stay correlated.",
    )
    footage_min_overlap_seconds: float = Field(
        4.0,
        gt=0,
        description="Motion series are aligned only over at least this much shared time (shorter "
        "overlaps correlate by chance).",
    )
    footage_min_correlation: float = Field(
        0.75,
        ge=-1,
        le=1,
        description="Motion correlation at the best time shift that makes two series the same footage "
        "(shared talking heads: copies >= 0.83, other videos <= 0.68 over >= 4 s).",
    )
    footage_min_evidence: float = Field(
        8.0,
        ge=0,
        description="... and its Fisher z (atanh(r) x sqrt(bins - 3)) at least this (copies >= 10.9, "
        "other videos <= 6.6 on the shared talking heads).",
    )
    footage_window_seconds: float = Field(
        30.0,
        gt=0,
        description="A candidate crop brings its shot's motion this far either side of its frame, and a "
        "target clip this far beyond its own ends (capped at the shot): same moments are found by motion; "
        "the same recording further away is found by context.",
    )
    footage_still_motion: float = Field(
        5e-4,
        ge=0,
        description="Motion bins under this are a still picture (a photo shown for a while: <= 3e-5 on the "
        "shared photos as video; talking heads' clips peak >= 2.6e-3): crops of one still stretch show one moment.",
    )
    same_moment_seconds: float = Field(
        0.5,
        ge=0,
        description="Two crops whose times (mapped through the footage's time shift) lie this close show "
        "the same moment: a reference list holds one of them.",
    )
    context_weight: float = Field(
        1.0, ge=0, description="Ranking weight of context difference (1 - context similarity)."
    )
    pose_weight: float = Field(
        0.5, ge=0, description="Ranking weight of yaw difference (per 45 degrees, capped at 1)."
    )
    exemplars_per_source: int = Field(
        2, ge=1, description="Crops each source offers per identity to the dataset-wide pool."
    )
    pool_size: int = Field(
        16,
        ge=1,
        description="Crops kept per dataset-wide identity for cross_source references (round-robin over sources).",
    )
    shuffle: Literal["sort", "hash"] = Field(
        "sort",
        description="Ray Data shuffle behind the two group-bys: 'sort' (sort-based, plain tasks: starts in "
        "a second, fine to millions of rows) or 'hash' (hash shuffle with aggregator actors: ~10 s to "
        "start, for very large runs).",
    )
    shuffle_partitions: int | None = Field(
        None, ge=1, description="hash shuffle: partitions; None = one per rows_per_partition rows (<= 200)."
    )
    rows_per_partition: int = Field(
        2000, ge=1, description="Features rows per shuffle partition when shuffle_partitions is None."
    )
    resources: Resources = Resources(num_cpus=1.0)

    unhashed: ClassVar[frozenset[str]] = frozenset({"shuffle", "shuffle_partitions", "rows_per_partition"})

    def context_limit(self, context_backend: str | None) -> float:
        """same_context of a context backend (the strictest configured value for an unknown one)."""
        if context_backend in self.same_context:
            return self.same_context[context_backend]
        return min(self.same_context.values(), default=0.9)

    def same_shot_limit(self, context_backend: str | None) -> float:
        if self.same_shot_max_context is not None:
            return self.same_shot_max_context
        return self.context_limit(context_backend)
