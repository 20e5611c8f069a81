"""Report fragment for quality and captions: ``section(dataset_root) -> str`` (an HTML fragment).

- distributions of every quality metric (inline SVG histograms, the configured thresholds drawn
  as red lines from the manifest's config), sharpness on a log axis;
- quality rejects by reason, and how many clips have black borders cropped;
- captions: backends and prompt versions, caption lengths in words, why captions are missing;
- a gallery of accepted clips (middle frame of the stored clip, caption, metrics) and one of
  quality rejects (reason and detail; a frame from the source when it can still be opened).

Reads metadata columns of every shard and media of at most ``max_items`` rows per gallery, so
memory stays bounded on a large dataset. No plotting library; the fragment inlines everything.
"""

from __future__ import annotations

import base64
import html
import math
from collections import Counter
from typing import Any

import cv2
import numpy as np

from humo_data.io.dataset import open_dataset
from humo_data.media.frames import encode_image, frames_from_clip

#: (column, label, config key under ``quality`` for a lower bound, upper bound key, log axis)
METRICS = (
    ("quality_exposure", "exposure (mean luma)", "exposure_min", "exposure_max", False),
    ("quality_contrast", "contrast (luma std)", "contrast_min", None, False),
    ("quality_sharpness", "sharpness (Laplacian variance, 360 px)", "sharpness_min", None, True),
    ("quality_motion", "motion (mean frame difference)", "motion_min", "motion_max", False),
    ("quality_face_sharpness", "face sharpness", "face.sharpness_min", None, True),
    ("quality_text_area", "burned-in text (share of frame)", None, "text.max_area", False),
    ("quality_aesthetic", "aesthetic score", "aesthetic.min_score", None, False),
    ("quality_clip_score", "caption-frame CLIP score", "alignment.min_score", None, False),
)
META = [m[0] for m in METRICS] + [
    "clip_id", "quality_border", "quality_backend", "caption", "caption_backend",
    "caption_prompt_version", "caption_reason",
]  # fmt: skip
THUMB_WIDTH = 200
STYLE = (
    "<style>section.quality .charts, section.quality .grid { display: flex; flex-wrap: wrap; gap: 12px; }"
    " section.quality figure { margin: 0; max-width: 330px; } section.quality .stats { font-size: 11px; color: #555; }"
    " section.quality figure.thumb { width: 200px; } section.quality figcaption { font-size: 11px; }"
    " section.quality .nomedia { width: 200px; height: 112px; background: #eee; font-size: 11px; }</style>"
)


def section(dataset_root: str, max_items: int = 12) -> str:
    """The quality + captions fragment of ``OUT/report/index.html``."""
    ds = open_dataset(str(dataset_root))
    rows = ds.read("triplets", META).to_pylist()
    rejects = [r for r in ds.read("rejects", ["clip_id", "stage", "reason", "detail", "source_uri",
                                               "start_time", "end_time"]).to_pylist()
               if r.get("stage") == "quality"]  # fmt: skip
    qcfg = (ds.manifest.get("config") or {}).get("quality") or {}
    parts = [
        "<section class='quality'><h2>Quality and captions</h2>",
        STYLE,
        _distributions(rows, qcfg),
        _reject_table(rejects, rows),
        _captions(rows),
        _accepted_gallery(ds, max_items),
        _rejected_gallery(rejects, max_items),
        "</section>",
    ]
    return "\n".join(parts)


# --- distributions ------------------------------------------------------------------------------


def _lookup(cfg: dict[str, Any], dotted: str | None) -> float | None:
    node: Any = cfg
    for key in (dotted or "").split("."):
        if not dotted or not isinstance(node, dict):
            return None
        node = node.get(key)
    return float(node) if isinstance(node, (int, float)) and not isinstance(node, bool) else None


def _distributions(rows: list[dict[str, Any]], qcfg: dict[str, Any]) -> str:
    charts = []
    for col, label, lo_key, hi_key, log in METRICS:
        values = [float(r[col]) for r in rows if r.get(col) is not None and math.isfinite(r[col])]
        if not values:
            continue
        marks = [v for v in (_lookup(qcfg, lo_key), _lookup(qcfg, hi_key)) if v is not None]
        stats = f"n={len(values)} median {np.median(values):.4g} (p5 {np.percentile(values, 5):.3g}, p95 {np.percentile(values, 95):.3g})"
        charts.append(
            f"<figure class='chart'><figcaption>{html.escape(label)}</figcaption>"
            f"{svg_histogram(values, marks, log=log)}<div class='stats'>{stats}</div></figure>"
        )
    bordered = sum(1 for r in rows if r.get("quality_border"))
    note = (
        f"<p>{bordered} of {len(rows)} kept clips have black borders (content region in quality_border).</p>"
    )
    if not charts:
        return "<h3>Metric distributions</h3><p>No quality metrics in this dataset (quality stage off).</p>"
    return "<h3>Metric distributions</h3><div class='charts'>" + "".join(charts) + "</div>" + note


def svg_histogram(
    values: list[float],
    marks: list[float] = (),
    log: bool = False,
    bins: int = 20,
    width: int = 320,
    height: int = 110,
) -> str:
    """Inline SVG histogram; ``marks`` (thresholds) drawn as red vertical lines."""
    tx = (lambda v: math.log10(max(v, 1e-6))) if log else (lambda v: v)
    xs = [tx(v) for v in values]
    lo, hi = min(xs + [tx(m) for m in marks]), max(xs + [tx(m) for m in marks])
    if math.isclose(lo, hi):
        lo, hi = lo - 0.5, hi + 0.5
    pad = 0.04 * (hi - lo)  # thresholds at the extremes stay visible inside the frame
    lo, hi = lo - pad, hi + pad
    counts, _ = np.histogram(xs, bins=bins, range=(lo, hi))
    peak = int(counts.max()) or 1
    bw = width / bins
    bars = "".join(
        f"<rect x='{i * bw:.1f}' y='{height - 14 - (c / peak) * (height - 20):.1f}' width='{bw - 1:.1f}' "
        f"height='{(c / peak) * (height - 20):.1f}' fill='#4a7ab5'><title>{c}</title></rect>"
        for i, c in enumerate(counts)
        if c  # an empty bin draws nothing
    )
    lines = "".join(
        f"<line x1='{(tx(m) - lo) / (hi - lo) * width:.1f}' x2='{(tx(m) - lo) / (hi - lo) * width:.1f}' y1='0' "
        f"y2='{height - 14}' stroke='#c0392b' stroke-width='2'><title>threshold {m:g}</title></line>"
        for m in marks
    )
    back = (lambda x: 10**x) if log else (lambda x: x)
    axis = (
        f"<text x='0' y='{height - 2}' font-size='10'>{back(lo):.3g}</text>"
        f"<text x='{width}' y='{height - 2}' font-size='10' text-anchor='end'>{back(hi):.3g}{' (log)' if log else ''}</text>"
    )
    return f"<svg width='{width}' height='{height}' role='img'>{bars}{lines}{axis}</svg>"


# --- tables -------------------------------------------------------------------------------------


def _reject_table(rejects: list[dict[str, Any]], rows: list[dict[str, Any]]) -> str:
    if not rejects:
        return "<h3>Quality rejects</h3><p>No clip was rejected by the quality gates.</p>"
    counts = Counter(r["reason"] for r in rejects)
    total = len(rejects) + len(rows)
    body = "".join(
        f"<tr><td>{html.escape(k)}</td><td class='n'>{v}</td><td class='n'>{100 * v / total:.1f}%</td></tr>"
        for k, v in counts.most_common()
    )
    return f"<h3>Quality rejects</h3><table class='facts'><tr><th>reason</th><th>clips</th><th>share</th></tr>{body}</table>"


def _captions(rows: list[dict[str, Any]]) -> str:
    if not rows:
        return "<h3>Captions</h3><p>No clips.</p>"
    backends = Counter(
        f"{r.get('caption_backend')} / {r.get('caption_prompt_version')}"
        for r in rows
        if r.get("caption_backend")
    )
    missing = Counter(
        (r.get("caption_reason") or "not run").split(" ", 1)[0] for r in rows if not r.get("caption")
    )
    words = [len(r["caption"].split()) for r in rows if r.get("caption")]
    out = ["<h3>Captions</h3>"]
    out.append(f"<p>{len(words)} of {len(rows)} clips have a caption.</p>")
    if backends:
        out.append(
            "<p>backend / prompt version: "
            + ", ".join(f"{html.escape(k)} ({v})" for k, v in backends.most_common())
            + "</p>"
        )
    if words:
        out.append(f"<figure class='chart'><figcaption>caption length (words)</figcaption>{svg_histogram(words)}"
                   f"<div class='stats'>median {int(np.median(words))}, min {min(words)}, max {max(words)}</div></figure>")  # fmt: skip
    if missing:
        out.append(
            "<p>without a caption: "
            + ", ".join(f"{html.escape(k)} ({v})" for k, v in missing.most_common())
            + "</p>"
        )
    return "".join(out)


# --- galleries ----------------------------------------------------------------------------------


def _thumb(rgb: np.ndarray) -> str:
    h, w = rgb.shape[:2]
    small = cv2.resize(rgb, (THUMB_WIDTH, max(1, round(h * THUMB_WIDTH / w))), interpolation=cv2.INTER_AREA)
    data = base64.b64encode(encode_image(small, "jpeg", 80)).decode()
    return f"<img src='data:image/jpeg;base64,{data}' width='{THUMB_WIDTH}'>"


def _figure(img: str, lines: list[str]) -> str:
    text = "<br>".join(html.escape(x) for x in lines if x)
    return f"<figure class='thumb'>{img}<figcaption>{text}</figcaption></figure>"


def _accepted_gallery(ds, cap: int) -> str:
    cols = ["clip_id", "video", "fps", "caption", "caption_reason", "quality_sharpness", "quality_exposure",
            "quality_motion", "quality_aesthetic", "quality_clip_score"]  # fmt: skip
    cells: list[str] = []
    for _, batch in ds.iter_batches("triplets", cols, batch_size=4):
        for r in batch.to_pylist():
            img = "<div class='nomedia'>no video</div>"
            if r.get("video"):
                try:
                    frames = frames_from_clip(r["video"], [0.5], float(r.get("fps") or 25.0))
                    if frames:
                        img = _thumb(
                            cv2.cvtColor(
                                cv2.imdecode(np.frombuffer(frames[0]["image"], np.uint8), 1),
                                cv2.COLOR_BGR2RGB,
                            )
                        )
                except Exception as err:  # noqa: BLE001 - a bad clip shows as text, the report still renders
                    img = f"<div class='nomedia'>cannot decode: {html.escape(str(err)[:80])}</div>"
            metrics = " ".join(
                f"{k.removeprefix('quality_')} {r[k]:.3g}" for k in cols[5:] if r.get(k) is not None
            )
            caption = r.get("caption") or f"(no caption: {r.get('caption_reason') or 'not run'})"
            cells.append(_figure(img, [r["clip_id"][:12], metrics, caption[:300]]))
            if len(cells) >= cap:
                break
        if len(cells) >= cap:
            break
    body = "".join(cells) or "<p>No clips.</p>"
    return f"<h3>Accepted clips</h3><div class='grid'>{body}</div>"


def _source_frame(uri: str | None, start: float | None, end: float | None) -> np.ndarray | None:
    """The frame in the middle of a rejected span, read from its source when it is still there."""
    if not uri or start is None:
        return None
    import av

    from humo_data.io.sources import open_media

    t = (start + (end if end is not None else start)) / 2
    try:
        with open_media(uri) as media, av.open(media) as container:
            stream = container.streams.video[0]
            container.seek(int(max(0.0, t - 1.0) / stream.time_base), stream=stream)
            for frame in container.decode(stream):
                if frame.time is None or frame.time >= t:
                    return frame.to_ndarray(format="rgb24")
    except Exception:  # noqa: BLE001 - the source moved or is unreadable: text only
        return None
    return None


def _rejected_gallery(rejects: list[dict[str, Any]], cap: int) -> str:
    if not rejects:
        return ""
    # one example per reason first, then the rest, so every reason is shown
    by_reason: dict[str, list[dict[str, Any]]] = {}
    for r in rejects:
        by_reason.setdefault(r["reason"], []).append(r)
    order = [v[0] for v in by_reason.values()] + [x for v in by_reason.values() for x in v[1:]]
    cells = []
    for r in order[:cap]:
        rgb = _source_frame(r.get("source_uri"), r.get("start_time"), r.get("end_time"))
        img = _thumb(rgb) if rgb is not None else "<div class='nomedia'>source not available</div>"
        cells.append(_figure(img, [str(r.get("clip_id") or "")[:12], r["reason"], r.get("detail") or ""]))
    return f"<h3>Rejected by quality</h3><div class='grid'>{''.join(cells)}</div>"
