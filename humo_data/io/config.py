"""Settings of the dataset I/O: which sources a job lists, and how shards are written and committed."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field

from humo_data.config_base import StrictModel


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
    systemic_fault_min_sources: int = Field(
        2,
        ge=0,
        description="A run of at least this many sources whose every source is rejected with one stage and "
        "reason is a systemic fault (a missing codec or model, a wrong input): it exits non-zero, keeps "
        "nothing and leaves the sources to do. 0 = off (such rejects are kept as usual).",
    )

    # Shard sizes, codecs and reporting change how the dataset is laid out, not what it holds.
    unhashed: ClassVar[frozenset[str]] = frozenset(
        {"rows_per_shard", "row_group_rows", "compression", "rejects_per_shard", "report",
         "compact_every_seconds", "lease_seconds", "retries", "retry_backoff_seconds",
         "systemic_fault_min_sources"}
    )  # fmt: skip
