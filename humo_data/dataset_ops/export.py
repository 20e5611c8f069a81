"""``humo-data export OUT --format humoset|webdataset --output DIR``: the triplets in other layouts.

- **humoset** (what HuMo's trainer and ``humo-data import humoset`` read)::

      DIR/video/<clip_id>.mp4                 the stored clip, bytes as curated (25 fps, AAC audio)
      DIR/reference_image/<clip_id>_<k>.<ext> its reference images, best first (PNG/JPEG as stored)
      DIR/video_caption.parquet               video (file name), caption, and the row's ids, split,
                                              stage flags and reference kinds

- **webdataset**: tar shards ``DIR/<split>-<n>.tar`` (``all-`` before a split exists) of samples
  keyed by clip_id: ``<key>.mp4``, ``<key>.flac`` (or .wav), ``<key>.txt`` (caption),
  ``<key>.ref<k>.<ext>``, ``<key>.json`` (every other column; reference metadata without pixels),
  plus ``DIR/index.json`` (tars, samples, splits).

Streaming: one task per triplet shard reads a few rows at a time and writes its files directly to
the target (local or object store, atomic writes). Resumable: a shard's part marker
(``_parts/<key>-<sha>``) is written last; a rerun skips shards whose marker exists, then the
caption table / index is assembled from the parts and ``_parts/`` removed. The export is recorded
in the dataset's manifest (``phases.export.exports``).
"""

from __future__ import annotations

import io
import json
import tarfile
from collections import defaultdict
from typing import Any, Literal

import pyarrow as pa
import pyarrow.parquet as pq

from humo_data.dataset_ops.common import dataset_op, maybe_ray, run_tasks
from humo_data.dataset_ops.config import DatasetOpsConfig
from humo_data.io.manifest import utc_now
from humo_data.io.store import Store

Format = Literal["humoset", "webdataset"]
PARTS = "_parts"
MEDIA = ("video", "audio", "reference_images")
CAPTION_SCHEMA = pa.schema([
    ("video", pa.string()), ("caption", pa.string()), ("clip_id", pa.string()), ("source_id", pa.string()),
    ("split", pa.string()), ("start_time", pa.float64()), ("end_time", pa.float64()), ("stage1", pa.bool_()),
    ("stage2", pa.bool_()), ("reference_kinds", pa.list_(pa.string())),
])  # fmt: skip


def image_ext(data: bytes) -> str:
    if data[:8] == b"\x89PNG\r\n\x1a\n":
        return "png"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "webp"
    return "jpg"


def selected(row: dict[str, Any], subset: str, split: str | None) -> bool:
    if split is not None and row.get("split") != split:
        return False
    if subset == "stage1":
        return bool(row.get("stage1"))
    if subset == "stage2":
        return bool(row.get("stage2"))
    return True


def _jsonable(row: dict[str, Any]) -> dict[str, Any]:
    out = {k: v for k, v in row.items() if k not in MEDIA and not isinstance(v, bytes)}
    out["reference_images"] = [
        {k: v for k, v in r.items() if k != "image"} for r in row.get("reference_images") or []
    ]
    return out


# --- per-shard tasks ----------------------------------------------------------------------------


def _rows(store: Store, entry: dict[str, Any], subset: str, split: str | None):
    pf = pq.ParquetFile(store.open_read(entry["path"]))
    for batch in pf.iter_batches(batch_size=16):
        for row in batch.to_pylist():
            if selected(row, subset, split):
                yield row


def humoset_task(task: dict[str, Any]) -> dict[str, Any]:
    src, dst = Store.from_spec(task["store"]), Store.from_spec(task["target"])
    captions = []
    refs = 0
    for row in _rows(src, task["entry"], task["subset"], task["split"]):
        cid = row["clip_id"]
        if not row.get("video"):
            continue  # external media (video_uri): nothing to copy
        dst.write_bytes(f"video/{cid}.mp4", row["video"])
        images = [r["image"] for r in row.get("reference_images") or [] if r.get("image")]
        for k, data in enumerate(images):
            dst.write_bytes(f"reference_image/{cid}_{k}.{image_ext(data)}", data)
        refs += len(images)
        captions.append({
            "video": f"{cid}.mp4", "caption": row.get("caption"), "clip_id": cid, "source_id": row["source_id"],
            "split": row.get("split"), "start_time": row["start_time"], "end_time": row["end_time"],
            "stage1": row.get("stage1"), "stage2": row.get("stage2"),
            "reference_kinds": [r.get("kind") for r in row.get("reference_images") or [] if r.get("image")],
        })  # fmt: skip
    buf = io.BytesIO()
    pq.write_table(pa.Table.from_pylist(captions, schema=CAPTION_SCHEMA), buf)
    dst.write_bytes(task["marker"], buf.getvalue())  # last: the shard is done
    return {"rows": len(captions), "references": refs}


def _add(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size, info.mtime, info.mode = len(data), 0, 0o644
    tar.addfile(info, io.BytesIO(data))


def webdataset_task(task: dict[str, Any]) -> dict[str, Any]:
    src, dst = Store.from_spec(task["store"]), Store.from_spec(task["target"])
    tars: list[dict[str, Any]] = []
    pending: dict[str, list[dict[str, Any]]] = defaultdict(list)

    def flush(split: str) -> None:
        rows = pending.pop(split, [])
        if not rows:
            return
        name = f"{split}-{task['index']:06d}-{len([t for t in tars if t['split'] == split]):03d}.tar"
        with dst.open_atomic(name) as f, tarfile.open(fileobj=f, mode="w|") as tar:
            for row in rows:
                key = row["clip_id"]
                if row.get("video"):
                    _add(tar, f"{key}.mp4", row["video"])
                if row.get("audio"):
                    _add(tar, f"{key}.{row.get('audio_format') or 'flac'}", row["audio"])
                _add(tar, f"{key}.txt", (row.get("caption") or "").encode())
                for k, r in enumerate(row.get("reference_images") or []):
                    if r.get("image"):
                        _add(tar, f"{key}.ref{k}.{image_ext(r['image'])}", r["image"])
                _add(tar, f"{key}.json", json.dumps(_jsonable(row), default=str).encode())
        tars.append({"name": name, "split": split, "samples": len(rows)})

    for row in _rows(src, task["entry"], task["subset"], task["split"]):
        split = row.get("split") or "all"
        pending[split].append(row)
        if len(pending[split]) >= task["samples_per_tar"]:
            flush(split)
    for split in sorted(pending):
        flush(split)
    dst.write_bytes(task["marker"], json.dumps(tars).encode())
    return {"rows": sum(t["samples"] for t in tars), "tars": len(tars)}


# --- the command --------------------------------------------------------------------------------


def run_export(
    output: str, target: str, ops: DatasetOpsConfig, fmt: Format = "humoset", subset: str | None = None,
    split: str | None = None,
) -> dict[str, Any]:  # fmt: skip
    subset = subset or ops.export.subset
    split = split if split is not None else ops.export.split
    dst = Store.open(target)
    with dataset_op(output, "export", mark_running=False, strict=True) as op:
        ds = op.ds
        if (
            dst.local
            and ds.store.local
            and (dst.root == ds.store.root or dst.root.startswith(ds.store.root + "/"))
        ):
            raise ValueError(f"export target {target} lies inside the dataset; choose another folder")
        maybe_ray(ds, ops)
        tasks = []
        done = set(dst.list(PARTS))
        for i, entry in enumerate(sorted(ds.shards("triplets"), key=lambda e: e["key"])):
            marker = (
                f"{PARTS}/{entry['key']}-{entry['sha256'][:12]}.{'parquet' if fmt == 'humoset' else 'json'}"
            )
            if marker in done:
                continue
            tasks.append({"store": ds.store.spec(), "target": dst.spec(), "entry": entry, "index": i, "marker": marker,
                          "subset": subset, "split": split, "samples_per_tar": ops.export.samples_per_tar})  # fmt: skip
        results = run_tasks(humoset_task if fmt == "humoset" else webdataset_task, tasks)
        parts = sorted(p for p in dst.list(PARTS))
        summary = _assemble_humoset(dst, parts) if fmt == "humoset" else _assemble_webdataset(dst, parts)
        dst.delete_many(parts)
        if dst.local:
            import shutil

            shutil.rmtree(dst.path(PARTS), ignore_errors=True)
        entry = {"format": fmt, "target": dst.uri, "subset": subset, "split": split, "at": utc_now(), **summary,
                 "shards_exported_now": len(results)}  # fmt: skip
        exports = list(ds.manifest["phases"].get("export", {}).get("exports", []))[-19:] + [entry]
        op.done({"exports": exports})
        return {**entry, "notes": op.notes}


def _assemble_humoset(dst: Store, parts: list[str]) -> dict[str, Any]:
    rows = 0
    with dst.open_atomic("video_caption.parquet") as f, pq.ParquetWriter(f, CAPTION_SCHEMA) as writer:
        for rel in parts:  # one part (a triplet shard's rows) in memory at a time
            t = pq.read_table(io.BytesIO(dst.read_bytes(rel)))
            rows += t.num_rows
            writer.write_table(t.cast(CAPTION_SCHEMA))
    return {"rows": rows}


def _assemble_webdataset(dst: Store, parts: list[str]) -> dict[str, Any]:
    tars = [t for rel in parts for t in json.loads(dst.read_bytes(rel))]
    tars.sort(key=lambda t: t["name"])
    dst.write_json("index.json", {"format": "webdataset", "tars": tars})
    return {"rows": sum(t["samples"] for t in tars), "tars": len(tars)}
