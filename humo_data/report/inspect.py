"""``humo-data inspect OUT``: a dataset's summary and a few rows, in the terminal.

Reads the manifest and metadata columns only; media columns (video, audio, reference images) are
never printed, and read only to report their byte size. The read helpers here are shared with
the HTML report.

    print_inspection("out/", rows=5)
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from rich import box
from rich.console import Console
from rich.table import Table

from humo_data.io.dataset import Dataset, DatasetNotFound, open_dataset
from humo_data.io.store import Store
from humo_data.report.stages_section import last_run_phases, stage_rows, stage_table
from humo_data.schema import file_column_for, rejects_schema, triplet_schema, upgrade_triplet_table

__all__ = [
    "DatasetNotFound",
    "ShardFile",
    "head_rows",
    "iter_rows",
    "load_manifest",
    "print_inspection",
    "read_columns",
    "shard_paths",
]

MEDIA_COLUMNS = frozenset(f.name for f in triplet_schema() if pa.types.is_binary(f.type)) | {
    "reference_images",
    "references",
}
# Later-stage fields shown in the row sample once a stage has filled them.
ANNOTATION_COLUMNS = (
    "caption", "face_count", "speech_ratio", "language", "sync_confidence", "sync_offset_frames",
    "quality_sharpness", "quality_aesthetic",
)  # fmt: skip
WIDE_COLUMNS = 1000  # `inspect --wide` console: tables take the width their content needs, unfolded
SHORT_ID = 8  # characters of a clip id shown in the terminal (24 in full); 16^8 keeps samples apart


# --- reading (shared with report/html.py and the report sections) -------------------------------


@dataclass(frozen=True)
class ShardFile:
    """A committed shard on any store."""

    store: Store
    rel: str

    @property
    def name(self) -> str:
        return self.rel.rsplit("/", 1)[-1]

    def parquet(self) -> pq.ParquetFile:
        return pq.ParquetFile(self.store.open_read(self.rel))


def load_dataset(root: str | Path) -> Dataset:
    return open_dataset(str(root))


def load_manifest(root: str | Path) -> dict[str, Any]:
    """The dataset's manifest with its commit log replayed (what readers should trust)."""
    return load_dataset(root).manifest


def shard_paths(root: str | Path, manifest: dict[str, Any], kind: str) -> list[ShardFile]:
    """Committed shards of ``kind`` (triplets, rejects, features/faces, ...)."""
    store = Store.open(str(root), create=False)
    return [
        ShardFile(store, s["path"])
        for s in manifest.get("tables", {}).get(kind, [])
        if store.exists(s["path"])
    ]


def read_columns(paths: list[ShardFile], columns: list[str], kind: str) -> pa.Table:
    """Metadata ``columns`` of all shards as one table (current names; v1 shards too)."""
    schema = triplet_schema() if kind == "triplets" else rejects_schema()
    wanted = [c for c in columns if c in schema.names]
    tables = []
    for p in paths:
        pf = p.parquet()
        present = [f for c in wanted if (f := file_column_for(c, pf.schema_arrow)) is not None]
        tables.append(upgrade_triplet_table(pf.read(columns=present)))
    if not tables:
        return pa.Table.from_pylist([], schema=pa.schema([schema.field(c) for c in wanted]))
    return pa.concat_tables(tables, promote_options="permissive")


def iter_rows(paths: list[ShardFile], columns: list[str], batch_size: int = 8) -> Iterator[dict[str, Any]]:
    """Rows of ``columns``, shard by shard, a few at a time (bounded memory for media columns)."""
    for path in paths:
        pf = path.parquet()
        names = [c for c in columns if c in pf.schema_arrow.names]
        for batch in pf.iter_batches(columns=names, batch_size=batch_size):
            yield from batch.to_pylist()


def head_rows(paths: list[ShardFile], n: int) -> list[dict[str, Any]]:
    """First ``n`` triplet rows without media; ``video_bytes`` holds each clip's MP4 size."""
    rows: list[dict[str, Any]] = []
    for path in paths:
        pf = path.parquet()
        light = [c for c in pf.schema_arrow.names if c not in MEDIA_COLUMNS]
        for batch in pf.iter_batches(columns=[*light, "video"], batch_size=max(n, 1)):
            sizes = pc.binary_length(batch.column("video")).to_pylist()
            for row, size in zip(batch.select(light).to_pylist(), sizes, strict=True):
                rows.append({**row, "video_bytes": size})
                if len(rows) >= n:
                    return rows
    return rows


# --- printing -----------------------------------------------------------------------------------


def print_inspection(
    path: str | Path, rows: int = 5, console: Console | None = None, wide: bool = False
) -> None:
    """Print the summary table, rejects by reason and ``rows`` sample clips and rejects. Tables fit
    the console's width (ids abbreviated, long names cut with an ellipsis); ``wide`` prints full
    ids, URIs and details instead (give it a wide console: `humo-data inspect --wide` does)."""
    console = console or Console()
    root = str(path)
    manifest = load_manifest(root)
    triplet_paths = shard_paths(root, manifest, "triplets")
    reject_paths = shard_paths(root, manifest, "rejects")

    console.print(_summary(root, manifest, triplet_paths))
    stages = dict(stage_rows(manifest))
    if stages:
        console.print(stage_table(stages, list(stages), last_run_phases(manifest),
                                  title="stages (all runs; seconds summed over workers)"))  # fmt: skip
    by_reason = manifest["counts"].get("rejects_by_reason", {})
    if by_reason:
        console.print(_reasons_table(by_reason))
    if rows > 0:
        sample = head_rows(triplet_paths, rows)
        if sample:
            console.print(_rows_table(sample, wide, console.width))
            if not wide:
                console.print(_notes_table(sample))
        rejects = read_columns(reject_paths, ["source_uri", "stage", "reason", "detail"], "rejects")
        if rejects.num_rows:
            console.print(_rejects_table(rejects.slice(0, rows).to_pylist(), wide))
    retryable = manifest.get("retryable", {})
    if retryable:
        console.print(_retryable_table(retryable, rows))
    if manifest.get("status") != "complete":
        console.print(
            f"[yellow]status {manifest.get('status')!r}: the run has not finished; rerun the same "
            "`humo-data curate` command to resume[/yellow]"
        )


def _retryable_table(retryable: dict[str, Any], rows: int) -> Table:
    table = Table(
        title=f"{len(retryable)} source(s) hit retryable I/O errors (not rejected: the next run retries them)",
        title_justify="left",
    )
    for col in ("source", "stage", "attempts", "error"):
        table.add_column(col, overflow="fold")
    for uri, r in list(retryable.items())[: max(rows, 1) * 4]:
        table.add_row(uri, str(r.get("stage")), str(r.get("attempts")), _short(r.get("detail") or "", 90))
    return table


def _summary(root: str, manifest: dict[str, Any], triplet_paths: list[ShardFile]) -> Table:
    counts = manifest["counts"]
    sources_with_clips = len(
        set(read_columns(triplet_paths, ["source_id"], "triplets")["source_id"].to_pylist())
    )
    shards = manifest["tables"]
    shard_bytes = sum(s["bytes"] for kind in shards.values() for s in kind)
    table = Table(title=f"humo-data dataset {root}", show_header=False, title_justify="left")
    table.add_column(style="bold")
    table.add_column()
    versions = manifest.get("schema_versions", {})
    table.add_row("status", str(manifest.get("status")))
    table.add_row("schema", ", ".join(f"{k} v{v}" for k, v in versions.items()))
    table.add_row("sources processed", str(counts.get("sources_done", 0)))
    table.add_row("sources with clips", str(sources_with_clips))
    table.add_row("clips (triplets)", str(counts.get("triplets", 0)))
    seconds = float(counts.get("video_seconds", 0.0))
    table.add_row("video", f"{seconds / 3600:.3f} h ({seconds:.1f} s)")
    table.add_row("rejects", str(counts.get("rejects", 0)))
    subsets = counts.get("subsets") or {}
    if subsets:
        table.add_row("stage 1 / stage 2", f"{subsets.get('stage1', 0)} / {subsets.get('stage2', 0)}")
        for key in ("stage1_reason", "stage2_reason", "reference_kind"):
            if subsets.get(key):
                table.add_row(f"  {key}", ", ".join(f"{k}={v}" for k, v in sorted(subsets[key].items())))
    if manifest.get("phases", {}).get("split"):  # identity-disjoint splits (humo-data split)
        from humo_data.io.splits import split_sizes

        for name, v in split_sizes(load_dataset(root)).items():
            table.add_row(
                f"split {name}", f"{v['clips']} clips, {v['hours']:.3f} h, {v['identities']} identities"
            )
    if counts.get("dropped_tails"):
        table.add_row(
            "short tails dropped",
            f"{counts['dropped_tails']} ({counts.get('dropped_tail_seconds', 0):.1f} s)",
        )
    if manifest.get("retryable"):
        table.add_row("retryable sources", str(len(manifest["retryable"])))
    table.add_row("backends", ", ".join(f"{k}={v}" for k, v in manifest.get("backends", {}).items()) or "-")
    table.add_row(
        "shards",
        f"{len(shards.get('triplets', []))} triplets + {len(shards.get('rejects', []))} rejects + "
        f"{sum(len(v) for k, v in shards.items() if k.startswith('features/'))} features, "
        f"{_human_bytes(shard_bytes)}",
    )
    table.add_row("config hash", str(manifest.get("config_hash", "-")))
    table.add_row("created / updated", f"{manifest.get('created_at')} / {manifest.get('updated_at')}")
    return table


def _reasons_table(by_reason: dict[str, int]) -> Table:
    table = Table(title="rejects by reason", title_justify="left")
    table.add_column("stage")
    table.add_column("reason")
    table.add_column("count", justify="right")
    for key, n in sorted(by_reason.items(), key=lambda kv: (-kv[1], kv[0])):
        stage, _, reason = key.partition("/")
        table.add_row(stage, reason, str(n))
    return table


def _stage_flags(r: dict[str, Any]) -> str:
    return "+".join(n for n, k in (("1", "stage1"), ("2", "stage2")) if r.get(k)) or "-"


def _cell(value: Any) -> str:
    return "-" if value in (None, "") else str(value)


def _annotations(r: dict[str, Any], limit: int = 40) -> str:
    size = f"{r['num_frames']}@{r['fps']:g} {r['width']}x{r['height']}"
    mp4 = (
        _human_bytes(r["video_bytes"]) if r.get("video_bytes") is not None else str(r.get("video_uri") or "-")
    )
    notes = [f"{c}={_short(r[c], limit)}" for c in ANNOTATION_COLUMNS if r.get(c) not in (None, False)]
    return ", ".join([f"{size}, mp4 {mp4}", *notes])


def _rows_table(rows: list[dict[str, Any]], wide: bool = False, width: int = 80) -> Table:
    """The sample clips, one line each. To fit ``width`` columns, ids are abbreviated (``SHORT_ID``
    characters, then an ellipsis) and the source file name takes the room left, cut with an
    ellipsis; identity_id stays whole (``humo-data remove --identity`` takes it). ``wide``: full
    ids and URIs, and the annotations in the same table."""
    cells = [
        [
            str(r["clip_id"]) if wide else _abbrev(str(r["clip_id"])),
            str(r["source_uri"]) if wide else Path(str(r["source_uri"])).name,
            f"{r['start_time']:.1f}-{r['end_time']:.1f}",
            _cell(r.get("identity_id")),
            _cell(r.get("reference_kind")),
            _stage_flags(r),
            *([_annotations(r, 160)] if wide else []),
        ]
        for r in rows
    ]
    heads = [
        "clip",
        "source",
        "span (s)",
        "identity_id",
        "reference",
        "stage",
        *(["annotations"] if wide else []),
    ]
    table = Table(title=f"first {len(rows)} clip(s)", title_justify="left", box=box.SIMPLE_HEAD,
                  show_edge=False, pad_edge=False, collapse_padding=True)  # fmt: skip
    fixed = sum(max(len(h), *(len(c[i]) for c in cells)) for i, h in enumerate(heads) if i != 1)
    room = width - fixed - 2 * (len(heads) - 1)  # each boundary: the rule and one space
    for head in heads:
        if head == "source" and not wide:
            table.add_column(head, no_wrap=True, overflow="ellipsis", max_width=max(room, 8))
        elif head in ("annotations", "source"):
            table.add_column(head, overflow="fold")
        else:
            table.add_column(head, no_wrap=True)
    for c in cells:
        table.add_row(*c)
    return table


def _notes_table(rows: list[dict[str, Any]]) -> Table:
    """Size and later-stage fields of the sample clips, wrapped beside the short id."""
    table = Table(title="their annotations", title_justify="left", box=box.SIMPLE_HEAD, show_edge=False,
                  pad_edge=False, collapse_padding=True)  # fmt: skip
    table.add_column("clip", no_wrap=True, min_width=SHORT_ID + 1)
    table.add_column("frames, size, annotations", overflow="fold")
    for r in rows:
        table.add_row(_abbrev(str(r["clip_id"])), _annotations(r))
    return table


def _abbrev(value: str, n: int = SHORT_ID) -> str:
    return value if len(value) <= n + 1 else value[:n] + "\u2026"


def _rejects_table(rows: list[dict[str, Any]], wide: bool = False) -> Table:
    table = Table(title=f"first {len(rows)} reject(s)", title_justify="left")
    table.add_column("source", no_wrap=not wide, overflow="fold" if wide else "ellipsis", min_width=8)
    table.add_column("stage", no_wrap=True)
    table.add_column("reason", overflow="fold")
    table.add_column("detail", overflow="fold")
    for r in rows:
        source = str(r["source_uri"]) if wide else Path(str(r["source_uri"])).name
        detail = r.get("detail") or ""
        detail = detail if wide else _short(detail, 90)
        table.add_row(source, r["stage"], r["reason"], detail)
    return table


def _short(value: Any, limit: int = 40) -> str:
    text = f"{value:.3g}" if isinstance(value, float) else str(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _human_bytes(n: int | float) -> str:
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if abs(n) < 1024 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TB"
