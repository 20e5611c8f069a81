"""Settings of the identity pass (clustering, dataset-wide index, reference retrieval).
Owned by humo_data/identity/.

Reference kinds, best first (HuMo takes the reference from a clip in another context so the model
learns identity instead of copy-pasting a frame; Phantom-Data retrieves across videos):
``cross_shot`` > ``cross_source`` > ``same_shot`` > ``same_clip``.
"""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field

from humo_data.config_base import Resources, StrictModel

ReferenceKind = Literal["cross_shot", "cross_source", "same_shot", "same_clip"]
KINDS: tuple[str, ...] = ("cross_shot", "cross_source", "same_shot", "same_clip")
#: how well a reference kind separates identity from context: the stage-1 gate
#: (identity.min_reference_kind) compares these; kinds of equal rank count alike
KIND_RANK: dict[str, int] = {"cross_source": 3, "cross_shot": 3, "same_shot": 2, "same_clip": 1}


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
        description="Weakest reference kind that makes a row stage 1 (with a caption); the job sets "
        "stage1 from it, and the manifest/report count references by kind.",
    )
    min_gap_seconds: float = Field(
        5.0, ge=0, description="same_shot references come from clips at least this far from the target clip."
    )
    same_shot_max_context: float = Field(
        0.9,
        ge=-1,
        le=1,
        description="same_shot references need a context similarity (background, clothing) below this.",
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
