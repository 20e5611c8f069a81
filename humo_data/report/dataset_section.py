"""Report fragment for the dataset-level operations: ``section(dataset_root) -> str`` (HTML).

- splits: clips, hours, identities and sources per split (identity-disjoint, ``humo-data split``),
  the split settings and their warnings, rows added since the last split;
- near-duplicates (``humo-data dedup``): clips removed, the backend, and for a few of them the
  clip that was kept (middle frame of the stored clip) with the evidence;
- takedowns: requests applied and rows removed (never who).

Reads light columns and the manifest, plus the media of at most ``max_items`` kept clips.
"""

from __future__ import annotations

import base64
import html
from typing import Any

from humo_data.io.dataset import open_dataset
from humo_data.io.splits import split_sizes
from humo_data.media.frames import encode_image, frames_from_clip

STYLE = (
    "<style>section.dataset-ops table { border-collapse: collapse; margin: 6px 0; }"
    " section.dataset-ops td, section.dataset-ops th { border: 1px solid #ccc; padding: 2px 8px; font-size: 13px; }"
    " section.dataset-ops .grid { display: flex; flex-wrap: wrap; gap: 12px; }"
    " section.dataset-ops figure { margin: 0; width: 220px; } section.dataset-ops figcaption { font-size: 11px; }"
    " section.dataset-ops .warn { color: #a60; }</style>"
)


def _table(head: list[str], rows: list[list[Any]]) -> str:
    th = "".join(f"<th>{html.escape(h)}</th>" for h in head)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in r) + "</tr>" for r in rows)
    return f"<table><tr>{th}</tr>{body}</table>"


def _thumb(video: bytes | None) -> str:
    if not video:
        return "<div>(no media)</div>"
    try:
        frames = frames_from_clip(video, (0.5,), 25.0)
    except Exception:  # noqa: BLE001 - a broken clip must not break the report
        return "<div>(unreadable)</div>"
    if not frames:
        return "<div>(no frames)</div>"
    from humo_data.media.frames import decode_frames

    rgb = decode_frames(frames)[0].rgb
    h, w = rgb.shape[:2]
    import cv2

    small = cv2.resize(rgb, (200, max(2, int(h * 200 / w))), interpolation=cv2.INTER_AREA)
    data = base64.b64encode(encode_image(small, "jpeg", 80)).decode()
    return f"<img src='data:image/jpeg;base64,{data}' width='200'>"


def section(dataset_root: str, max_items: int = 6) -> str:
    ds = open_dataset(str(dataset_root))
    phases = ds.manifest.get("phases", {})
    parts = [STYLE, "<section class='dataset-ops'><h2>Dataset operations</h2>"]
    sizes = split_sizes(ds)
    split = phases.get("split")
    parts.append("<h3>Splits</h3>")
    parts.append(_table(["split", "clips", "hours", "identities", "sources"],
                        [[s, v["clips"], f"{v['hours']:.3f}", v["identities"], v["sources"]] for s, v in sizes.items()]))  # fmt: skip
    if split:
        parts.append(
            f"<p>group_by <code>{html.escape(str(split.get('group_by')))}</code>, seed {split.get('seed')}, target "
            f"{html.escape(str(split.get('fractions')))}; {split.get('groups')} groups, the largest "
            f"{split.get('largest_group_clips')} clips.</p>"
        )
        parts += [f"<p class='warn'>{html.escape(w)}</p>" for w in split.get("warnings") or []]
    else:
        parts.append("<p>No split yet: <code>humo-data split OUT</code> makes identity-disjoint ones.</p>")
    dedup = phases.get("dedup")
    parts.append("<h3>Near-duplicates across sources</h3>")
    if not dedup or dedup.get("status") != "complete":
        parts.append("<p>Not run: <code>humo-data dedup OUT</code>.</p>")
    else:
        rejects = [r for r in ds.read("rejects", ["clip_id", "stage", "reason", "detail"]).to_pylist()
                   if r.get("reason") == "near_duplicate"]  # fmt: skip
        parts.append(f"<p>{len(rejects)} clip(s) removed as near-duplicates ({html.escape(str(dedup.get('backend')))}; "
                     f"{dedup.get('pairs', 0)} duplicate pairs verified).</p>")  # fmt: skip
        kept_ids = {}
        for r in rejects[:max_items]:
            kept_ids.setdefault((r.get("detail") or "").split()[2] if r.get("detail") else "", []).append(r)
        videos = {}
        if kept_ids:
            for _entry, batch in ds.iter_batches("triplets", ["clip_id", "video"], batch_size=8):
                for cid, video in zip(batch.column(0).to_pylist(), batch.column(1).to_pylist(), strict=True):
                    if cid in kept_ids:
                        videos[cid] = video
        figures = []
        for kept, removed in kept_ids.items():
            text = "<br>".join(html.escape(r["detail"] or "") for r in removed)
            figures.append(
                f"<figure>{_thumb(videos.get(kept))}<figcaption>kept {html.escape(kept)}<br>{text}</figcaption></figure>"
            )
        parts.append("<div class='grid'>" + "".join(figures) + "</div>")
    requests = (phases.get("takedown") or {}).get("requests") or []
    if requests:
        parts.append("<h3>Takedowns</h3>")
        parts.append(_table(["request", "kind", "at", "rows", "reference images", "feature rows"],
                            [[r["id"], r["kind"], r["at"], r["rows"], r["references"], r["feature_rows"]] for r in requests]))  # fmt: skip
    parts.append("</section>")
    return "".join(parts)
