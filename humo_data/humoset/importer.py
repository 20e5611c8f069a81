"""``humo-data import humoset DIR --output OUT``: a HuMoSet-layout folder -> triplet shards.

Each video becomes one triplet row: the video bytes as published (not re-encoded; the loader
resamples to 25 fps and fits the bucket), its reference image(s), the caption from
``video_caption.parquet`` and 16 kHz mono FLAC audio decoded from the video's own track (PyAV,
swresample). A video that cannot become a row is written to ``rejects/`` with a reason:
missing_video, no_caption, missing_reference, unreadable_reference, unreadable_video,
no_video_stream, no_audio, too_short. Shards are committed like a curated dataset's (atomic
writes, sha256, commit log, ``_manifest.json``; io/table_writer.py), so ``humo-data validate``
checks an imported dataset like a curated one.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import av
import numpy as np
import soundfile as sf
from PIL import Image

from humo_data.humoset.layout import HumosetEntry, scan_humoset
from humo_data.io.lease import Lease
from humo_data.io.manifest import DatasetState, utc_now
from humo_data.io.sources import fingerprint
from humo_data.io.store import Store
from humo_data.io.table_writer import TableWriter
from humo_data.schema import rejects_schema, triplet_schema

log = logging.getLogger(__name__)
STAGE = "humoset_import"
BACKEND = "humoset"


class Skip(Exception):
    def __init__(self, reason: str, detail: str = ""):
        super().__init__(f"{reason}: {detail}")
        self.reason, self.detail = reason, detail


@dataclass
class ImportSummary:
    rows: int = 0
    rejects: Counter = field(default_factory=Counter)
    shards: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"rows": self.rows, "rejects_by_reason": dict(self.rejects), "shards": self.shards}


@dataclass
class _Probe:
    fps: float
    num_frames: int
    width: int
    height: int
    duration: float
    codec: str
    audio: np.ndarray | None


def _probe(path: Path, sample_rate: int) -> _Probe:
    try:
        container = av.open(str(path))
    except Exception as err:
        raise Skip("unreadable_video", str(err)) from err
    with container:
        if not container.streams.video:
            raise Skip("no_video_stream", path.name)
        vs = container.streams.video[0]
        fps = float(vs.average_rate or vs.guessed_rate or 0)
        try:
            n = sum(1 for _ in container.demux(vs) if _.size)  # packets, cheap: no decoding
        except Exception as err:
            raise Skip("unreadable_video", f"demux failed: {err}") from err
        duration = n / fps if fps else 0.0
        probe = _Probe(
            fps, n, vs.codec_context.width, vs.codec_context.height, duration, vs.codec_context.name, None
        )
    if n == 0 or not fps:
        raise Skip("unreadable_video", f"{n} video packets, fps {fps}")
    from humo_data.media.audio import decode_audio_track

    try:
        probe.audio = decode_audio_track(path.read_bytes(), sample_rate)
    except ValueError:
        probe.audio = None
    except Exception as err:
        raise Skip("unreadable_audio", str(err)) from err
    return probe


def _check_image(data: bytes, name: str) -> None:
    try:
        with Image.open(io.BytesIO(data)) as im:
            im.load()
    except Exception as err:
        raise Skip("unreadable_reference", f"{name}: {err}") from err


def entry_to_row(
    entry: HumosetEntry, *, require_audio: bool, min_frames: int, sample_rate: int = 16000
) -> dict[str, Any]:
    """One HuMoSet entry -> a full triplet row, or Skip(reason)."""
    if entry.video is None:
        raise Skip("missing_video", f"caption row {entry.id!r} has no file in video/")
    if not entry.caption:
        raise Skip("no_caption", f"{entry.video.name} has no (non-empty) caption in video_caption.parquet")
    if not entry.references:
        raise Skip("missing_reference", f"no reference_image/{entry.id}.* for {entry.video.name}")
    refs = []
    for p in entry.references:
        data = p.read_bytes()
        _check_image(data, p.name)
        refs.append(data)
    probe = _probe(entry.video, sample_rate)
    if probe.num_frames < min_frames:
        raise Skip("too_short", f"{probe.num_frames} frames < {min_frames}")
    has_audio = probe.audio is not None and probe.audio.size > 0
    if require_audio and not has_audio:
        raise Skip("no_audio", f"{entry.video.name} has no audio track")
    source_id = fingerprint(str(entry.video))
    clip_id = hashlib.sha256(f"{source_id}:0-{probe.num_frames}@{probe.fps:g}".encode()).hexdigest()[:24]
    audio_bytes = None
    if has_audio:
        buf = io.BytesIO()
        sf.write(buf, probe.audio, sample_rate, format="FLAC")
        audio_bytes = buf.getvalue()
    row = {name: None for name in triplet_schema().names}
    row.update(
        clip_id=clip_id, source_id=source_id, source_uri=str(entry.video), shot_index=0, clip_index=0,
        start_time=0.0, end_time=probe.duration, fps=probe.fps, num_frames=probe.num_frames,
        width=probe.width, height=probe.height, source_duration=probe.duration, source_fps=probe.fps,
        source_width=probe.width, source_height=probe.height, video=entry.video.read_bytes(),
        video_codec=probe.codec, has_audio=has_audio, audio=audio_bytes,
        audio_format="flac" if has_audio else None, audio_sample_rate=sample_rate if has_audio else None,
        shot_backend=BACKEND, caption=entry.caption, caption_backend=BACKEND,
        reference_images=[{"image": r, "source_clip_id": None, "time": None, "box": None, "similarity": None,
                     "kind": None} for r in refs],
        reference_backend=BACKEND, stage1=True, stage2=has_audio,
    )  # fmt: skip
    return row


def _reject_row(entry: HumosetEntry, skip: Skip) -> dict[str, Any]:
    uri = str(entry.video) if entry.video is not None else f"{entry.id} (video_caption.parquet)"
    rid = hashlib.sha256(f"{uri}|{STAGE}|{skip.reason}".encode()).hexdigest()[:24]
    return {
        "reject_id": rid, "source_id": None, "source_uri": uri, "clip_id": None, "stage": STAGE,
        "reason": skip.reason, "detail": skip.detail, "start_time": None, "end_time": None,
    }  # fmt: skip


def import_humoset(
    root: str | Path,
    output: str | Path,
    *,
    key_column: str | None = None,
    caption_column: str | None = None,
    require_audio: bool = True,
    min_frames: int = 1,
    rows_per_shard: int = 64,
    row_group_rows: int = 8,
) -> ImportSummary:
    """Write ``output`` as a humo-data dataset (shards + rejects + ``_manifest.json``, status complete)."""
    import uuid

    options = {"importer": "humoset", "source": str(root), "key_column": key_column,
               "caption_column": caption_column, "require_audio": require_audio, "min_frames": min_frames}  # fmt: skip
    store = Store.open(str(output))
    run_id = f"i{uuid.uuid4().hex[:10]}"
    entries = scan_humoset(root, key_column, caption_column)
    summary = ImportSummary()
    with Lease(store, run_id):
        state = DatasetState(store, run_id=run_id)
        if state.exists:
            raise FileExistsError(f"{output} already holds a dataset; import into a new --output")
        state.create(options, hashlib.sha256(json.dumps(options, sort_keys=True).encode()).hexdigest()[:16])
        state.record([{"t": "run", "run": {"run_id": run_id, "started_at": utc_now(), "finished_at": None,
                                            "input": str(root), "resumed": False}},
                      *({"t": "stage", "name": n, "info": {"backend": BACKEND}} for n in ("shots", "captions", "references"))])  # fmt: skip
        triplets = TableWriter(state, "triplets", triplet_schema(), run_id, rows_per_shard=rows_per_shard,
                               row_group_rows=row_group_rows)  # fmt: skip
        rejects = TableWriter(
            state, "rejects", rejects_schema(), run_id, rows_per_shard=4096, row_group_rows=4096
        )
        finished = []
        for entry in entries:
            try:
                row = entry_to_row(entry, require_audio=require_audio, min_frames=min_frames)
            except Skip as skip:
                log.warning("humoset %s: skipped (%s) %s", entry.id, skip.reason, skip.detail)
                summary.rejects[skip.reason] += 1
                reject = _reject_row(entry, skip)
                rejects.add(reject, {"rejects": 1, "rejects_by_stage": {STAGE: 1},
                                     "rejects_by_reason": {f"{STAGE}/{skip.reason}": 1}})  # fmt: skip
                finished.append(reject["source_uri"])
            else:
                triplets.add(row, {"triplets": 1, "video_seconds": row["end_time"]})
                summary.rows += 1
                finished.append(row["source_uri"])
        triplets.close()
        rejects.close()
        summary.shards = list(triplets.paths)
        state.record(
            [
                {"t": "source", "uri": u, "source_id": None, "rows": 1, "finished_at": utc_now()}
                for u in finished
            ]
        )
        state.record([{"t": "phase", "name": "import", "status": "complete"},
                      {"t": "run_end", "run_id": run_id, "finished_at": utc_now()}])  # fmt: skip
        state.manifest["status"] = "complete"
        state.compact()
    return summary
