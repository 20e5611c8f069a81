"""A corpus of bad (and awkward but valid) source files, with the probe verdict each must get.

    expected = make_fault_corpus(tmp_path)   # {"zero.mp4": "empty_file", "valid.mp4": None, ...}

Files are generated with ffmpeg (lavfi testsrc2 + sine) and byte edits, small and fast (~2-4 s in
all). ``None`` means the file is valid and must be accepted under the default ProbeConfig.
"""

from __future__ import annotations

import random
from pathlib import Path

from humo_data.media.ffmpeg import run_ffmpeg, safe_path

FPS = 25
SIZE = "160x120"

# Valid files whose names a shell or option parser would choke on.
ODD_NAMES = (
    "with space.mp4",
    'it\'s "quoted".mp4',
    "ünïcødé_视频.mp4",
    "-leading_dash.mp4",
)

# name -> properties the probe must report for these valid files
VALID_PROPERTIES: dict[str, dict[str, object]] = {
    "valid.mp4": {"vfr": False, "rotation": 0, "has_audio": True},
    "vfr.mp4": {"vfr": True},
    "rotated.mp4": {"rotation": 90},
}


def _encode(out: Path, *, seconds: float, audio: bool = True, extra: list[str] | None = None) -> None:
    args = ["-f", "lavfi", "-i", f"testsrc2=s={SIZE}:r={FPS}:d={seconds}"]
    if audio:
        args += ["-f", "lavfi", "-i", f"sine=f=440:sample_rate=16000:d={seconds}"]
    args += extra or []
    args += ["-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p"]
    args += ["-c:a", "aac", "-shortest"] if audio else ["-an"]
    run_ffmpeg([*args, "-y", safe_path(out)])


def make_fault_corpus(dir: Path) -> dict[str, str | None]:
    """Write the corpus into ``dir``; return file name -> expected probe reject reason (None = valid)."""
    dir = Path(dir)
    dir.mkdir(parents=True, exist_ok=True)
    rng = random.Random(0)
    expected: dict[str, str | None] = {}

    valid = dir / "valid.mp4"
    _encode(valid, seconds=3)
    expected["valid.mp4"] = None
    for name in ODD_NAMES:
        # Remuxed with the name as metadata: same media, different bytes, so a content-deduplicating
        # pipeline still processes each file (and so exercises the odd name) instead of dropping copies.
        run_ffmpeg(
            ["-i", safe_path(valid), "-c", "copy", "-metadata", f"title={name}", "-y", safe_path(dir / name)]
        )
        expected[name] = None

    (dir / "zero.mp4").write_bytes(b"")
    expected["zero.mp4"] = "empty_file"

    # The mp4 muxer writes the moov atom at the end: half a file has no index at all.
    data = valid.read_bytes()
    (dir / "truncated.mp4").write_bytes(data[: len(data) // 2])
    expected["truncated.mp4"] = "unreadable"

    (dir / "text.mp4").write_text("this is a text file with a video extension\n" * 20)
    expected["text.mp4"] = "unreadable"

    (dir / "random.mov").write_bytes(rng.randbytes(64 * 1024))
    expected["random.mov"] = "unreadable"

    _encode(dir / "no_audio.mp4", seconds=2, audio=False)
    expected["no_audio.mp4"] = "no_audio_stream"

    run_ffmpeg(["-f", "lavfi", "-i", "sine=f=440:sample_rate=16000:d=2", "-c:a", "aac", "-y", safe_path(dir / "audio_only.mp4")])  # fmt: skip
    expected["audio_only.mp4"] = "no_video_stream"

    # One video frame beside 1 s of audio (so it is not rejected for missing audio first).
    run_ffmpeg(
        [
            "-f", "lavfi", "-i", f"testsrc2=s={SIZE}:r={FPS}:d={1 / FPS}",
            "-f", "lavfi", "-i", "sine=f=440:sample_rate=16000:d=1",
            "-c:v", "libx264", "-preset", "ultrafast", "-c:a", "aac", "-y", safe_path(dir / "one_frame.mp4"),
        ]
    )  # fmt: skip
    expected["one_frame.mp4"] = "too_short"

    # A sound container whose video payload is zeroed: opens, lists streams, decodes nothing.
    run_ffmpeg(["-i", safe_path(valid), "-c", "copy", "-movflags", "+faststart", "-y", safe_path(dir / "corrupt.mp4")])  # fmt: skip
    data = bytearray((dir / "corrupt.mp4").read_bytes())
    payload = data.index(b"mdat") + 4
    data[payload:] = bytes(len(data) - payload)
    (dir / "corrupt_video.mp4").write_bytes(bytes(data))
    (dir / "corrupt.mp4").unlink()
    expected["corrupt_video.mp4"] = "undecodable_video"

    # 4400x4400 = 19.4 Mpx > default max_pixels (4096^2); gray frames encode fast at any size.
    run_ffmpeg(
        [
            "-f", "lavfi", "-i", f"color=c=gray:s=4400x4400:r={FPS}:d=0.6",
            "-f", "lavfi", "-i", "sine=f=440:sample_rate=16000:d=0.6",
            "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-c:a", "aac", "-shortest",
            "-y", safe_path(dir / "huge_4400.mp4"),
        ]
    )  # fmt: skip
    expected["huge_4400.mp4"] = "resolution_too_large"

    # Real VFR: every third frame is shown 20 ms late, so frame durations alternate 60/20/40 ms.
    _encode(
        dir / "vfr.mp4",
        seconds=3,
        extra=["-vf", "setpts='(N/25+0.02*eq(mod(N,3),0))/TB'", "-fps_mode", "passthrough"],
    )
    expected["vfr.mp4"] = None

    # Phone-style rotation: frames stored landscape, display matrix says turn 90 degrees.
    run_ffmpeg(["-display_rotation", "90", "-i", safe_path(valid), "-c", "copy", "-y", safe_path(dir / "rotated.mp4")])  # fmt: skip
    expected["rotated.mp4"] = None

    return expected


# --- small datasets in the output layout (for validate / inspect / report tests) ----------------


def triplet_row(
    i: int, *, video: bytes | None = None, source: int = 0, duration: float = 2.0
) -> dict[str, object]:
    """A triplet row with every non-null column set; later-stage columns left null."""
    start = 10.0 * i
    return {
        "clip_id": f"{i:024x}",
        "source_id": f"{source:024x}",
        "source_uri": f"/videos/source_{source}.mp4",
        "shot_index": i,
        "clip_index": 0,
        "start_time": start,
        "end_time": start + duration,
        "fps": 25.0,
        "num_frames": int(duration * 25) + 1,
        "width": 160,
        "height": 120,
        "source_duration": 60.0,
        "source_fps": 29.97 if source % 2 else 25.0,
        "source_vfr": False,
        "source_width": 1280 if source % 2 else 640,
        "source_height": 720 if source % 2 else 480,
        "source_rotation": 0,
        "video": video if video is not None else b"\x00" * 64,
        "video_codec": "h264",
        "has_audio": True,
        "audio": b"fLaC" + b"\x00" * 16,
        "audio_format": "flac",
        "audio_sample_rate": 16000,
        "shot_backend": "pyscenedetect-content",
        "stage1": False,
        "stage2": False,
    }


def reject_row(i: int, stage: str, reason: str) -> dict[str, object]:
    return {
        "reject_id": f"r{i:023x}",
        "source_id": None,
        "source_uri": f"/videos/bad_{i}.mp4",
        "stage": stage,
        "reason": reason,
        "detail": f"detail of {reason}",
    }


def rejects_from_working(rows: list[dict[str, object]]) -> list[dict[str, object]]:
    """Reject-table rows of the working rows a stage rejected (``_reject_*`` set)."""
    return [
        {"reject_id": f"r{i:023x}", "source_id": r["source_id"], "source_uri": r["source_uri"],
         "clip_id": r["clip_id"], "stage": r["_reject_stage"], "reason": r["_reject_reason"],
         "detail": r["_reject_detail"], "start_time": r["start_time"], "end_time": r["end_time"]}
        for i, r in enumerate(rows) if r["_reject_reason"]
    ]  # fmt: skip


def write_dataset(
    root: Path,
    triplets: list[dict[str, object]],
    rejects: list[dict[str, object]],
    *,
    rows_per_shard: int = 2,
    status: str = "complete",
    config: dict[str, object] | None = None,
) -> dict[str, object]:
    """Write shards + a compacted ``_manifest.json`` (v2) as a finished curate run leaves them;
    ``config`` sections (e.g. a stage's settings the report reads) join the manifest's config."""
    import datetime as dt
    import hashlib
    import json

    import pyarrow as pa
    import pyarrow.parquet as pq

    from humo_data.schema import rejects_schema, triplet_schema

    root = Path(root)
    shards: dict[str, list[dict[str, object]]] = {}
    for kind, rows, schema in (
        ("triplets", triplets, triplet_schema()),
        ("rejects", rejects, rejects_schema()),
    ):
        (root / kind).mkdir(parents=True, exist_ok=True)
        shards[kind] = []
        for n, lo in enumerate(range(0, len(rows), rows_per_shard)):
            chunk = [{c: r.get(c) for c in schema.names} for r in rows[lo : lo + rows_per_shard]]
            rel = f"{kind}/part-{n:05d}.parquet"
            pq.write_table(pa.Table.from_pylist(chunk, schema=schema), root / rel)
            data = (root / rel).read_bytes()
            shards[kind].append(
                {
                    "key": f"{n:05d}",
                    "path": rel,
                    "rows": len(chunk),
                    "bytes": len(data),
                    "sha256": hashlib.sha256(data).hexdigest(),
                }
            )
    by_reason: dict[str, int] = {}
    by_stage: dict[str, int] = {}
    for r in rejects:
        by_reason[f"{r['stage']}/{r['reason']}"] = by_reason.get(f"{r['stage']}/{r['reason']}", 0) + 1
        by_stage[str(r["stage"])] = by_stage.get(str(r["stage"]), 0) + 1
    now = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
    manifest = {
        "format": "humo-data",
        "schema_versions": {"triplet": 2, "rejects": 2, "manifest": 2},
        "status": status,
        "created_at": now,
        "updated_at": now,
        "config": {"clips": {"fps": 25.0}, **(config or {})},
        "config_hash": "0123456789abcdef",
        "packages": {"humo-data": "0.1.0", "av": "18.1.0"},
        "backends": {"shots": "pyscenedetect-content"},
        "stages": {"clips": {"hash": "0123456789abcdef", "backend": "pyav-libx264+aac"}},
        "phases": {"stream": {"status": "complete"}, "finish": {"status": "complete"}},
        "counts": {
            "sources_done": len({r["source_id"] for r in triplets}) + len(rejects),
            "triplets": len(triplets),
            "rejects": len(rejects),
            "video_seconds": float(sum(float(r["end_time"]) - float(r["start_time"]) for r in triplets)),
            "rejects_by_stage": by_stage,
            "rejects_by_reason": by_reason,
        },
        "tables": shards,
        "retryable": {},
        "open_sources": {},
        "runs": [
            {"run_id": "r0", "started_at": now, "finished_at": now, "input": "/videos", "resumed": False}
        ],
        "log_applied": {},
    }
    (root / "_manifest.json").write_text(json.dumps(manifest, indent=2))
    return manifest
