"""``OUT/report/index.html``: one self-contained page to eyeball a curated dataset.

Funnel (sources -> passed probe -> with clips -> clips), rejects by reason with an example detail,
histograms (clip duration, source fps, source resolution) as inline SVG/HTML bars, and a grid of
thumbnails: the middle frame of up to ``max_thumbs`` clips, decoded from the ``video`` bytes with
PyAV and inlined as base64 JPEG. No plotting library, no external file: the page can be mailed.

    write_report("out/")   # -> out/report/index.html
"""

from __future__ import annotations

import base64
import html
import io
import math
from collections import Counter
from pathlib import Path
from typing import Any

import av
import cv2
import numpy as np

from humo_data.io.sources import open_media
from humo_data.io.store import Store
from humo_data.report import stages_section
from humo_data.report.inspect import iter_rows, load_manifest, read_columns, shard_paths

MAX_THUMBS = 24
#: funnel order when a manifest predates per-stage records (newer ones list their stages in plan order)
STAGE_ORDER = ("clips", "quality", "faces", "audio", "sync", "identity", "captions", "finish")
CAPABILITY_SECTIONS = (
    "humo_data.report.faces_section",
    "humo_data.report.quality_section",
    "humo_data.report.audio_section",
)
THUMB_WIDTH = 224
JPEG_QUALITY = 80


def write_report(out_dir: str | Path, max_thumbs: int = MAX_THUMBS) -> Path:
    """Write ``out_dir/report/index.html`` (atomically) and return its path."""
    root = str(out_dir)
    manifest = load_manifest(root)
    triplet_paths = shard_paths(root, manifest, "triplets")
    reject_paths = shard_paths(root, manifest, "rejects")
    clips = read_columns(
        triplet_paths,
        [
            "source_id",
            "start_time",
            "end_time",
            "source_fps",
            "source_width",
            "source_height",
            "width",
            "height",
        ],
        "triplets",
    ).to_pylist()
    rejects = read_columns(
        reject_paths, ["stage", "reason", "detail", "source_uri", "clip_id"], "rejects"
    ).to_pylist()
    thumbs = _thumbnails(triplet_paths, max_thumbs)

    body = "\n".join(
        [
            _header(root, manifest),
            _funnel(manifest, clips, rejects),
            _subsets(manifest),
            stages_section.section(manifest),
            _rejects_section(rejects),
            _histograms(clips),
            *_capability_sections(root),
            _thumb_grid(thumbs, len(clips)),
        ]
    )
    name = root.rstrip("/").rsplit("/", 1)[-1]
    page = _PAGE.format(title=html.escape(f"humo-data report: {name}"), body=body)
    store = Store.open(root, create=False)
    store.write_bytes("report/index.html", page.encode("utf-8"))
    return Path(store.path("report/index.html")) if store.local else store.url("report/index.html")


# --- sections -----------------------------------------------------------------------------------


def _header(root: str, manifest: dict[str, Any]) -> str:
    counts = manifest.get("counts", {})
    seconds = float(counts.get("video_seconds", 0.0))
    status = manifest.get("status", "?")
    warn = "" if status == "complete" else ' <span class="warn">(run not finished: rerun to resume)</span>'
    facts = [
        ("dataset", root),
        ("status", f"{status}"),
        ("clips", f"{counts.get('triplets', 0)} ({seconds / 3600:.3f} h, {seconds:.1f} s of video)"),
        ("rejects", str(counts.get("rejects", 0))),
        ("backends", ", ".join(f"{k}={v}" for k, v in manifest.get("backends", {}).items()) or "-"),
        ("config hash", str(manifest.get("config_hash", "-"))),
        ("updated", str(manifest.get("updated_at", "-"))),
    ]
    rows = "".join(f"<tr><th>{html.escape(k)}</th><td>{html.escape(v)}</td></tr>" for k, v in facts)
    return f"<h1>humo-data dataset{warn}</h1><table class='facts'>{rows}</table>"


def _funnel(manifest: dict[str, Any], clips: list[dict[str, Any]], rejects: list[dict[str, Any]]) -> str:
    """Sources through the filters; source-level rejects (no clip_id) at sources/probe stages."""
    counts = manifest.get("counts", {})
    sources = int(counts.get("sources_done", 0))
    early = sum(1 for r in rejects if r["stage"] in ("sources", "probe") and not r.get("clip_id"))
    with_clips = len({c["source_id"] for c in clips})
    steps = [
        ("sources processed", sources),
        ("passed probe", max(sources - early, 0)),
        ("sources with clips", with_clips),
    ]
    clip_rejects = Counter(r["stage"] for r in rejects if r.get("clip_id"))
    cut = len(clips) + sum(clip_rejects.values())
    steps.append(("clips cut", cut))
    left = cut
    order = [n for n in manifest.get("stages", {}) if n not in ("probe", "shots")] or list(STAGE_ORDER)
    for stage in order:
        if clip_rejects.get(stage):
            left -= clip_rejects[stage]
            steps.append((f"after {stage} ({clip_rejects[stage]} rejected)", left))
    for stage, n in clip_rejects.items():  # stages outside the usual order (dedup, takedown, ...)
        if stage not in order:
            left -= n
            steps.append((f"after {stage} ({n} rejected)", left))
    steps.append(("clips in the dataset", len(clips)))
    subsets = counts.get("subsets") or {}
    if subsets:
        steps += [
            ("stage 1 rows", int(subsets.get("stage1", 0))),
            ("stage 2 rows", int(subsets.get("stage2", 0))),
        ]
    return "<h2>Funnel</h2>" + _bars([(k, v) for k, v in steps], unit="")


def _subsets(manifest: dict[str, Any]) -> str:
    """Why rows are not stage 1 / stage 2 (subset gates keep rows; they are not rejects)."""
    sub = manifest.get("counts", {}).get("subsets") or {}
    if not sub:
        return ""
    parts = ["<h2>Subsets: stage 1 (subject) and stage 2 (audio-visual sync)</h2>"]
    for key, title in (("stage1_reason", "not stage 1, by first failed gate"),
                       ("stage2_reason", "not stage 2, by first failed gate"),
                       ("reference_kind", "best reference kind per row"),
                       ("stage2_by_language", "stage-2 rows by spoken language")):  # fmt: skip
        items = sorted((sub.get(key) or {}).items(), key=lambda kv: -kv[1])
        if items:
            parts.append(f"<h3>{html.escape(title)}</h3>" + _bars(items, unit=""))
    return "".join(parts)


def _capability_sections(root: str) -> list[str]:
    """Sections the capability packages contribute (faces, quality/captions, audio/sync); a broken
    section becomes a note, never a missing report."""
    import importlib

    out = []
    for module in CAPABILITY_SECTIONS:
        try:
            out.append(importlib.import_module(module).section(root))
        except ModuleNotFoundError:
            continue
        except Exception as err:  # noqa: BLE001 - the rest of the report still helps
            out.append(
                f"<p class='warn'>{html.escape(module)}: section not rendered ({html.escape(str(err))})</p>"
            )
    return out


def _rejects_section(rejects: list[dict[str, Any]]) -> str:
    if not rejects:
        return "<h2>Rejects by reason</h2><p>No rejects.</p>"
    counter = Counter(f"{r['stage']}/{r['reason']}" for r in rejects)
    example: dict[str, dict[str, Any]] = {}
    for r in rejects:
        example.setdefault(f"{r['stage']}/{r['reason']}", r)
    peak = max(counter.values())
    rows = []
    for key, n in counter.most_common():
        ex = example[key]
        where = Path(str(ex.get("source_uri") or "")).name
        rows.append(
            f"<tr><td class='key'>{html.escape(key)}</td><td class='n'>{n}</td>"
            f"<td><div class='bar' style='width:{100 * n / peak:.1f}%'></div></td>"
            f"<td class='detail'>{html.escape(where)}: {html.escape(str(ex.get('detail') or ''))[:300]}</td></tr>"
        )
    head = "<tr><th>stage/reason</th><th>rows</th><th></th><th>example</th></tr>"
    return f"<h2>Rejects by reason</h2><table class='bars'>{head}{''.join(rows)}</table>"


def _histograms(clips: list[dict[str, Any]]) -> str:
    if not clips:
        return "<h2>Distributions</h2><p>No clips.</p>"
    durations = [c["end_time"] - c["start_time"] for c in clips]
    fps = Counter(f"{c['source_fps']:.3g}" if c["source_fps"] is not None else "?" for c in clips)
    res = Counter(f"{c['source_width']}x{c['source_height']}" if c["source_width"] else "?" for c in clips)
    out_res = Counter(f"{c['width']}x{c['height']}" for c in clips)
    parts = [
        "<h2>Distributions</h2><div class='hists'>",
        _figure("clip duration (s)", _svg_histogram(durations)),
        _figure("source fps (clips)", _bars(sorted(fps.items(), key=lambda kv: _num(kv[0])), unit="")),
        _figure("source resolution (clips)", _bars(res.most_common(12), unit="")),
        _figure("clip resolution", _bars(out_res.most_common(12), unit="")),
        "</div>",
    ]
    return "".join(parts)


def _thumb_grid(thumbs: list[dict[str, Any]], total: int) -> str:
    cells = []
    for t in thumbs:
        caption = (
            f"{html.escape(t['clip_id'])}<br>{html.escape(t['source'])}<br>"
            f"{t['start_time']:.2f}-{t['end_time']:.2f} s"
        )
        if t["jpeg"] is None:
            img = f"<div class='nothumb'>{html.escape(t['error'])}</div>"
        else:
            img = f"<img alt='middle frame of {html.escape(t['clip_id'])}' src='data:image/jpeg;base64,{t['jpeg']}'>"
        cells.append(f"<figure class='thumb'>{img}<figcaption>{caption}</figcaption></figure>")
    note = f"{len(thumbs)} of {total} clips" if total > len(thumbs) else f"{total} clips"
    return f"<h2>Clips (middle frame; {note})</h2><div class='grid'>{''.join(cells)}</div>"


# --- thumbnails ---------------------------------------------------------------------------------


def _thumbnails(paths: list, cap: int) -> list[dict[str, Any]]:
    thumbs: list[dict[str, Any]] = []
    if cap <= 0:
        return thumbs
    columns = ["clip_id", "source_uri", "start_time", "end_time", "video", "video_uri"]
    for row in iter_rows(paths, columns, batch_size=4):
        jpeg, error = None, ""
        try:
            jpeg = _middle_frame_jpeg(row.get("video"), row.get("video_uri"))
        except (av.FFmpegError, OSError, ValueError) as err:
            error = f"cannot decode: {err}"[:200]
        thumbs.append(
            {
                "clip_id": row["clip_id"],
                "source": Path(str(row["source_uri"])).name,
                "start_time": row["start_time"],
                "end_time": row["end_time"],
                "jpeg": jpeg,
                "error": error or "no video",
            }
        )
        if len(thumbs) >= cap:
            break
    return thumbs


def _middle_frame_jpeg(video: bytes | None, video_uri: str | None) -> str | None:
    """Base64 JPEG of the clip's middle frame, THUMB_WIDTH wide; None without media."""
    if video is not None:
        return _decode_middle(io.BytesIO(video))
    if video_uri:
        with open_media(video_uri) as media:
            return _decode_middle(media)
    return None


def _decode_middle(media: Any) -> str | None:
    with av.open(media) as container:
        stream = container.streams.video[0]
        duration = float(stream.duration * stream.time_base) if stream.duration else None
        if duration is None and container.duration:
            duration = container.duration / av.time_base
        target = (duration or 0.0) / 2
        if target > 0:
            container.seek(int(target / stream.time_base), stream=stream, backward=True)
        frame = None
        for frame in container.decode(stream):
            if frame.time is None or frame.time >= target:
                break
        if frame is None:
            return None
        height = max(2, round(frame.height * THUMB_WIDTH / frame.width / 2) * 2)
        rgb = frame.to_ndarray(format="bgr24", width=THUMB_WIDTH, height=height)
    ok, buf = cv2.imencode(".jpg", np.ascontiguousarray(rgb), [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
    if not ok:
        raise ValueError("JPEG encoding failed")
    return base64.b64encode(buf.tobytes()).decode("ascii")


# --- drawing ------------------------------------------------------------------------------------


def _bars(items: list[tuple[str, int]], unit: str) -> str:
    if not items:
        return "<p>-</p>"
    peak = max(v for _, v in items) or 1
    rows = "".join(
        f"<tr><td class='key'>{html.escape(str(k))}</td><td class='n'>{v}{unit}</td>"
        f"<td><div class='bar' style='width:{100 * v / peak:.1f}%'></div></td></tr>"
        for k, v in items
    )
    return f"<table class='bars'>{rows}</table>"


def _svg_histogram(values: list[float], bins: int = 16, width: int = 360, height: int = 140) -> str:
    lo, hi = min(values), max(values)
    if math.isclose(lo, hi):
        lo, hi = lo - 0.5, hi + 0.5
    counts, edges = np.histogram(values, bins=bins, range=(lo, hi))
    peak = int(counts.max()) or 1
    bar_w = width / bins
    plot_h = height - 22
    rects = []
    for i, n in enumerate(counts):
        if not n:  # an empty bin draws nothing
            continue
        h = plot_h * int(n) / peak
        rects.append(
            f"<rect x='{i * bar_w + 1:.1f}' y='{plot_h - h:.1f}' width='{bar_w - 2:.1f}' height='{h:.1f}'>"
            f"<title>{edges[i]:.2f}-{edges[i + 1]:.2f} s: {int(n)}</title></rect>"
        )
    labels = (
        f"<text x='0' y='{height - 6}'>{lo:.2f}</text>"
        f"<text x='{width}' y='{height - 6}' text-anchor='end'>{hi:.2f}</text>"
        f"<text x='{width / 2}' y='{height - 6}' text-anchor='middle'>n={len(values)}, max bin {peak}</text>"
    )
    return (
        f"<svg class='hist' viewBox='0 0 {width} {height}' width='{width}' height='{height}' role='img'>"
        f"{''.join(rects)}{labels}</svg>"
    )


def _figure(title: str, inner: str) -> str:
    return f"<figure class='chart'><figcaption>{html.escape(title)}</figcaption>{inner}</figure>"


def _num(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        return math.inf


_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
body {{ font: 14px/1.4 system-ui, sans-serif; margin: 24px; color: #222; max-width: 1400px; }}
h1 {{ font-size: 20px; }} h2 {{ font-size: 16px; margin-top: 28px; border-bottom: 1px solid #ddd; }}
.warn {{ color: #b35c00; font-size: 14px; }}
table.facts th {{ text-align: left; padding-right: 16px; color: #555; font-weight: 600; }}
table.bars {{ border-collapse: collapse; min-width: 420px; }}
table.bars td, table.bars th {{ padding: 2px 8px; text-align: left; vertical-align: middle; }}
table.bars td.n {{ text-align: right; font-variant-numeric: tabular-nums; }}
table.bars td:nth-child(3) {{ width: 220px; }}
td.detail {{ color: #555; font-size: 12px; max-width: 560px; }}
.bar {{ background: #4a7bd0; height: 12px; min-width: 1px; }}
.hists {{ display: flex; flex-wrap: wrap; gap: 24px; }}
figure.chart {{ margin: 0; }} figure.chart figcaption {{ font-weight: 600; margin-bottom: 4px; }}
svg.hist rect {{ fill: #4a7bd0; }} svg.hist text {{ font-size: 11px; fill: #555; }}
.grid {{ display: grid; grid-template-columns: repeat(auto-fill, minmax(230px, 1fr)); gap: 12px; }}
figure.thumb {{ margin: 0; }} figure.thumb img {{ width: 100%; border-radius: 4px; background: #eee; }}
figure.thumb figcaption {{ font: 11px/1.3 ui-monospace, monospace; color: #444; word-break: break-all; }}
.nothumb {{ height: 120px; background: #eee; color: #a00; font-size: 12px; padding: 8px; }}
</style></head>
<body>
{body}
</body></html>
"""
