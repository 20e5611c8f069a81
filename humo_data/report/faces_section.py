"""Report fragment for faces and identity: ``section(dataset_root) -> str`` (an HTML fragment).

- a summary: clips with a face, dataset-wide identities, backends;
- references by kind (the best kind of each clip, every reference's kind, and how many clips the
  stage-1 rule keeps at the configured ``identity.min_reference_kind``): the trade-off in one table;
- face rejects by reason (no_face, face_too_small, face_cut_by_border);
- histograms: people per clip, reference identity similarity (0.5 = the backend's match threshold),
  reference context similarity (lower = the reference shows another scene);
- a grid of target clips (middle frame, main face box drawn) beside their reference crops, a few of
  each kind.

Reads the light columns of every triplet shard a batch at a time and the media of at most
``max_items`` clips, so memory stays bounded on a large dataset. No plotting library.
"""

from __future__ import annotations

import base64
import html
from collections import Counter
from typing import Any

import cv2
import numpy as np

from humo_data.identity.config import KIND_RANK, KINDS
from humo_data.io.dataset import open_dataset
from humo_data.media.frames import decode_image, encode_image, frames_from_clip

SCAN = ["clip_id", "people_count", "face_count", "identity_id", "reference_kind", "reference_images",
        "face_backend", "reference_backend", "stage1", "stage1_reason"]  # fmt: skip
THUMB = 160
STYLE = (
    "<style>.faces table.refs td{vertical-align:top;padding:4px}.faces figure{display:inline-block;"
    "margin:2px;text-align:center;font-size:11px}.faces svg rect.col{fill:#4a7bd0}.faces svg line.thr"
    "{stroke:#c33;stroke-width:1.5}.faces svg text{font-size:11px;fill:#555}</style>"
)


def section(dataset_root: str, max_items: int = 12) -> str:
    """The faces + identity fragment of ``OUT/report/index.html``."""
    ds = open_dataset(str(dataset_root))
    scan = _Scan(max_items)
    for _, batch in ds.iter_batches("triplets", SCAN, batch_size=64):
        scan.add(batch.to_pylist())
    rejects = ds.read("rejects", ["stage", "reason"])
    reasons = Counter(
        r["reason"] for r in rejects.to_pylist() if r.get("stage") == "faces"
    ) if rejects.num_rows else Counter()  # fmt: skip
    cfg = ((ds.manifest.get("config") or {}).get("identity")) or {}
    min_kind = cfg.get("min_reference_kind", "cross_shot")
    frames = _target_frames(ds, {item["clip_id"] for item in scan.gallery})
    return "\n".join([
        "<section class='faces'><h2>Faces and identity</h2>", STYLE,
        _summary(scan), _kinds_table(scan, min_kind), _rejects_table(reasons),
        "<div class='charts'>",
        _figure("people per clip", svg_bars([(str(k), v) for k, v in sorted(scan.people.items())])),
        _figure("reference identity similarity", svg_histogram(scan.similarity, 0.0, 1.0, threshold=0.5)),
        _figure("reference context similarity", svg_histogram(scan.context, -0.3, 1.0)),
        "</div>",
        _grid(scan.gallery, frames), "</section>",
    ])  # fmt: skip


class _Scan:
    """Counts and a kind-balanced gallery, gathered a batch at a time."""

    def __init__(self, max_items: int):
        self.max_items = max_items
        self.clips = self.with_face = 0
        self.people: Counter[int] = Counter()
        self.best: Counter[str] = Counter()
        self.per_ref: Counter[str] = Counter()
        self.similarity: list[float] = []
        self.context: list[float] = []
        self.identities: set[str] = set()
        self.backends: Counter[str] = Counter()
        self.gallery: list[dict[str, Any]] = []

    def add(self, rows: list[dict[str, Any]]) -> None:
        for r in rows:
            self.clips += 1
            if r.get("people_count") is not None:
                self.people[min(int(r["people_count"]), 5)] += 1
                self.with_face += r["people_count"] > 0
            if r.get("identity_id"):
                self.identities.add(r["identity_id"])
            for col in ("face_backend", "reference_backend"):
                if r.get(col):
                    self.backends[f"{col}: {r[col]}"] += 1
            refs = r.get("reference_images") or []
            self.best[r.get("reference_kind") or "none"] += 1
            for ref in refs:
                self.per_ref[ref.get("kind") or "?"] += 1
                if ref.get("similarity") is not None:
                    self.similarity.append(float(ref["similarity"]))
                if ref.get("context_similarity") is not None:
                    self.context.append(float(ref["context_similarity"]))
            self._maybe_show(r, refs)

    def _maybe_show(self, r: dict[str, Any], refs: list[dict[str, Any]]) -> None:
        """Keep up to max_items targets, the same share for each best kind (a kind may take the
        leftover share of kinds with fewer clips only while the gallery has room)."""
        kind = r.get("reference_kind")
        if not refs or kind not in KINDS:
            return
        share = max(1, self.max_items // len(KINDS))
        shown = sum(1 for g in self.gallery if g["kind"] == kind)
        if len(self.gallery) >= self.max_items or shown >= share:
            return
        thumbs = [(_thumb(ref.get("image")), ref) for ref in refs]
        self.gallery.append({"clip_id": r["clip_id"], "kind": kind,
                             "refs": [(t, _ref_caption(ref)) for t, ref in thumbs]})  # fmt: skip


def _summary(scan: _Scan) -> str:
    rows = [
        ("clips", scan.clips),
        ("clips with a kept face", scan.with_face),
        ("dataset-wide identities", len(scan.identities)),
        *sorted(scan.backends.items()),
    ]
    body = "".join(f"<tr><td>{html.escape(str(k))}</td><td>{v}</td></tr>" for k, v in rows)
    return f"<table class='summary'>{body}</table>"


def _kinds_table(scan: _Scan, min_kind: str) -> str:
    need = KIND_RANK.get(min_kind, max(KIND_RANK.values()))  # the rule finish applies
    head = "<tr><th>kind</th><th>clips (best kind)</th><th>references</th><th>counts for stage 1</th></tr>"
    body = "".join(
        f"<tr><td>{k}</td><td>{scan.best.get(k, 0)}</td><td>{scan.per_ref.get(k, 0)}</td>"
        f"<td>{'yes' if KIND_RANK[k] >= need else 'no'}</td></tr>"
        for k in KINDS
    )
    body += f"<tr><td>none</td><td>{scan.best.get('none', 0)}</td><td>0</td><td>no</td></tr>"
    return (
        f"<h3>References by kind</h3><p>stage 1 needs a reference of at least <b>{html.escape(min_kind)}</b> "
        f"(identity.min_reference_kind); best kind first: {' &gt; '.join(KINDS)}.</p>"
        f"<table class='kinds'>{head}{body}</table>"
    )


def _rejects_table(reasons: Counter[str]) -> str:
    if not reasons:
        return "<p>No clip rejected by the face stage.</p>"
    body = "".join(f"<tr><td>{html.escape(k)}</td><td>{v}</td></tr>" for k, v in reasons.most_common())
    return f"<h3>Face rejects</h3><table class='rejects'><tr><th>reason</th><th>clips</th></tr>{body}</table>"


# --- gallery ------------------------------------------------------------------------------------


def _thumb(image: bytes | None, box: list[float] | None = None) -> str | None:
    """A JPEG data URI of an image, at most THUMB px wide, with ``box`` drawn when given."""
    if not image:
        return None
    try:
        rgb = decode_image(image)
    except ValueError:
        return None
    return _thumb_rgb(rgb, box)


def _thumb_rgb(rgb: np.ndarray, box: list[float] | None = None) -> str:
    f = min(1.0, THUMB / rgb.shape[1])
    small = cv2.resize(rgb, None, fx=f, fy=f, interpolation=cv2.INTER_AREA) if f < 1 else rgb.copy()
    if box:
        x0, y0, x1, y1 = (int(round(v * f)) for v in box)
        cv2.rectangle(small, (x0, y0), (x1, y1), (255, 60, 60), 2)
    return "data:image/jpeg;base64," + base64.b64encode(encode_image(small, "jpeg", 85)).decode()


def _ref_caption(ref: dict[str, Any]) -> str:
    sim, ctx = ref.get("similarity"), ref.get("context_similarity")
    parts = [ref.get("kind") or "?"]
    if sim is not None:
        parts.append(f"id {sim:.2f}")
    if ctx is not None:
        parts.append(f"ctx {ctx:.2f}")
    return " · ".join(parts)


def _target_frames(ds: Any, wanted: set[str]) -> dict[str, str | None]:
    """Middle frame (main face box drawn) of each wanted clip; stops reading once all are found."""
    found: dict[str, str | None] = {}
    if not wanted:
        return found
    for _, batch in ds.iter_batches("triplets", ["clip_id", "video", "fps", "face_track"], batch_size=8):
        for r in batch.to_pylist():
            if r["clip_id"] in wanted and r["clip_id"] not in found:
                found[r["clip_id"]] = _middle_frame(r)
        if len(found) == len(wanted):
            break
    return found


def _middle_frame(r: dict[str, Any]) -> str | None:
    if not r.get("video"):
        return None
    try:
        rec = frames_from_clip(r["video"], [0.5], float(r.get("fps") or 25.0))
    except Exception:  # noqa: BLE001 - a report shows what it can; a broken clip shows no frame
        return None
    if not rec:
        return None
    track = r.get("face_track") or {}
    return _thumb_rgb(decode_image(rec[0]["image"]), track.get("mean_box"))


def _img(uri: str | None, alt: str) -> str:
    return f"<img src='{uri}' alt='{alt}'>" if uri else f"(no {alt} image)"


def _grid(gallery: list[dict[str, Any]], frames: dict[str, str | None]) -> str:
    if not gallery:
        return "<p>No clip has reference images yet.</p>"
    rows = []
    for item in gallery:
        target = frames.get(item["clip_id"])
        cell = _img(target, "target")
        refs = "".join(
            f"<figure>{_img(uri, 'reference')}<figcaption>{html.escape(cap)}</figcaption></figure>"
            for uri, cap in item["refs"]
        )
        rows.append(
            f"<tr><td><figure>{cell}<figcaption>{html.escape(item['clip_id'][:12])} · best "
            f"{html.escape(item['kind'])}</figcaption></figure></td><td>{refs}</td></tr>"
        )
    return (
        "<h3>Targets and their references</h3><table class='refs'><tr><th>target (middle frame, main face)"
        f"</th><th>reference images</th></tr>{''.join(rows)}</table>"
    )


# --- charts -------------------------------------------------------------------------------------


def _figure(title: str, inner: str) -> str:
    return f"<figure class='chart'><figcaption>{html.escape(title)}</figcaption>{inner}</figure>"


def svg_bars(items: list[tuple[str, int]], width: int = 360, height: int = 140) -> str:
    """Vertical bars for categories (labels under the bars, counts above)."""
    if not items:
        return "<p>no data</p>"
    top = max(v for _, v in items) or 1
    bw = (width - 20) / len(items)
    parts = []
    for i, (label, v) in enumerate(items):
        h = (height - 30) * v / top
        x = 10 + i * bw
        parts.append(
            (
                f"<rect class='col' x='{x + 2:.1f}' y='{height - 18 - h:.1f}' width='{bw - 4:.1f}' height='{h:.1f}'>"
                f"<title>{html.escape(label)}: {v}</title></rect>"
                if v
                else ""
            )
            + f"<text x='{x + bw / 2:.1f}' y='{height - 4}' text-anchor='middle'>{html.escape(label)}</text>"
            f"<text x='{x + bw / 2:.1f}' y='{height - 21 - h:.1f}' text-anchor='middle'>{v}</text>"
        )
    return f"<svg viewBox='0 0 {width} {height}' width='{width}' height='{height}' role='img'>{''.join(parts)}</svg>"


def svg_histogram(
    values: list[float], lo: float, hi: float, bins: int = 20, threshold: float | None = None,
    width: int = 360, height: int = 140,
) -> str:  # fmt: skip
    """A histogram of ``values`` on [lo, hi] with an optional red threshold line. Bars are
    ``rect.col``, not ``.bar``: the page's ``.bar`` rule (a 12 px high HTML bar) would set every
    rect's height and draw empty bins as squares on the baseline."""
    if not values:
        return "<p>no data</p>"
    counts, edges = np.histogram(np.clip(values, lo, hi), bins=bins, range=(lo, hi))
    top = int(counts.max()) or 1
    bw = (width - 20) / bins
    parts = [  # an empty bin draws nothing
        f"<rect class='col' x='{10 + i * bw + 1:.1f}' y='{height - 18 - (height - 30) * c / top:.1f}' "
        f"width='{bw - 2:.1f}' height='{(height - 30) * c / top:.1f}'><title>{edges[i]:.2f}-{edges[i + 1]:.2f}: "
        f"{int(c)}</title></rect>"
        for i, c in enumerate(counts)
        if c
    ]
    parts.append(f"<text x='10' y='{height - 4}'>{lo:g}</text>")
    parts.append(f"<text x='{width - 10}' y='{height - 4}' text-anchor='end'>{hi:g}</text>")
    if threshold is not None:
        x = 10 + (threshold - lo) / (hi - lo) * (width - 20)
        parts.append(
            f"<line class='thr' x1='{x:.1f}' x2='{x:.1f}' y1='8' y2='{height - 18}'>"
            f"<title>threshold {threshold:g}</title></line>"
        )
    parts.append(f"<text x='{width - 10}' y='12' text-anchor='end'>n={len(values)}</text>")
    return f"<svg viewBox='0 0 {width} {height}' width='{width}' height='{height}' role='img'>{''.join(parts)}</svg>"
