"""Which copy of a near-duplicate group stays: the one a trainer wants, by ``dedup.keep_order``.

The cutter re-encodes every clip to the same 480p, so the stored clips of two copies look alike; a
copy's worth is read from what the pipeline recorded about its SOURCE. The keys (higher is better):

    face_source_px    the main face's size in source pixels (eye distance, median over the track):
                      a copy shown smaller inside a larger frame (picture-in-picture, blurred-fill
                      vertical re-uploads) has fewer, even when its frame is as large
    source_pixels     picture pixels of the source, black borders excluded
    content_fraction  share of the frame without black borders (the stored clip's picture is that
                      much smaller)
    bits_per_pixel    the source's video bits per pixel and frame, per picture pixel
                      (source_bits_per_pixel / content_fraction): a low-bitrate re-encode loses to
                      its original (x264 CRF 34 spends ~1/4 of CRF 23's bits)
    quality_sharpness Laplacian variance from the quality stage
    quality_aesthetic aesthetic score (quality stage with an aesthetic backend)
    duration          clip seconds
    stage2, stage1    usability flags
    source_duration   seconds of the source: a trimmed re-upload is shorter than its original

Measurements (the first five) are compared within a duplicate group, in steps below the group's
best: 2^(1/4) (~19%; for bits about 1.5 x264 CRF steps), and 2^(1/2) for sharpness (the Laplacian
variance of one picture moves by 10-20% with the encode alone: compression ringing adds "detail").
A copy within half a step of the best ties with it, so measurement noise (a re-encode's ringing, a
landmark's pixel) never picks a copy over a better one on a later key. A missing value ranks last
(no preference when every copy lacks it). Ties fall to the next key, then to clip_id.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

Row = dict[str, Any]


def face_source_px(row: Row) -> float | None:
    """The main face's eye distance in source pixels (the track records it in stored-clip pixels)."""
    eye = (row.get("face_track") or {}).get("eye_distance_px")
    w, h, sw, sh = (row.get(k) for k in ("width", "height", "source_width", "source_height"))
    if not eye or not (w and h and sw and sh):
        return None
    return float(eye * min(sw, sh) / min(w, h))


def _face_px(row: Row) -> float | None:
    return row["face_source_px"] if "face_source_px" in row else face_source_px(row)


def _picture_pixels(row: Row) -> float | None:
    px = (
        (row.get("source_width") or 0)
        * (row.get("source_height") or 0)
        * (row.get("content_fraction") or 1.0)
    )
    return px or None


def _bits_per_picture_pixel(row: Row) -> float | None:
    bpp = row.get("source_bits_per_pixel")
    return bpp / (row.get("content_fraction") or 1.0) if bpp else None


def _duration(row: Row) -> float:
    return (row.get("end_time") or 0.0) - (row.get("start_time") or 0.0)


def _field(name: str) -> Callable[[Row], Any]:
    return lambda row: row.get(name)


#: key -> (value of a row, steps per octave below the group's best (0: compared as is), unit)
KEYS: dict[str, tuple[Callable[[Row], Any], int, str]] = {
    "face_source_px": (_face_px, 4, "px eye distance in the source"),
    "source_pixels": (_picture_pixels, 4, "source picture pixels"),
    "content_fraction": (_field("content_fraction"), 4, "of the frame without borders"),
    "bits_per_pixel": (_bits_per_picture_pixel, 4, "bits per picture pixel"),
    "quality_sharpness": (_field("quality_sharpness"), 2, "sharpness"),
    "quality_aesthetic": (_field("quality_aesthetic"), 0, "aesthetic score"),
    "duration": (_duration, 0, "s clip"),
    "stage2": (_field("stage2"), 0, "stage 2"),
    "stage1": (_field("stage1"), 0, "stage 1"),
    "source_duration": (_field("source_duration"), 0, "s source"),
}


def _value(row: Row, key: str) -> float | None:
    v = KEYS[key][0](row)
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return None
    v = float(v)
    return None if KEYS[key][1] and v <= 0 else v


def keep_ranks(meta: Sequence[Row], groups: Sequence[int], order: Sequence[str]) -> list[tuple]:
    """Sort key per clip (lower is better): per key of ``order``, steps below the best of the clip's
    group (``groups[i]``: any id shared by a duplicate group) for measurements, the negated value
    otherwise; then clip_id."""
    best: dict[tuple[int, str], float] = {}
    for row, g in zip(meta, groups, strict=True):
        for key in order:
            v = _value(row, key)
            if v is not None and KEYS[key][1]:
                best[(g, key)] = max(best.get((g, key), v), v)

    def rank(row: Row, g: int, key: str) -> float:
        v = _value(row, key)
        if v is None:
            return math.inf
        if not KEYS[key][1]:
            return -v
        return float(math.floor(math.log2(best[(g, key)] / v) * KEYS[key][1] + 0.5))

    return [(*(rank(r, g, k) for k in order), r["clip_id"]) for r, g in zip(meta, groups, strict=True)]


def keep_rank(meta: Sequence[Row], order: Sequence[str]) -> list[tuple]:
    """``keep_ranks`` with every clip in one group."""
    return keep_ranks(meta, [0] * len(meta), order)


def _show(row: Row, key: str) -> str:
    v = KEYS[key][0](row)
    if v is None:
        return "unknown"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if key == "source_pixels":
        return f"{v / 1e6:.2f} M"
    return f"{v:.3g}"


def why_kept(kept: Row, gone: Row, kept_rank: tuple, gone_rank: tuple, order: Sequence[str]) -> str:
    """The first keep_order key that decided between two clips, with both values."""
    for i, key in enumerate(order):
        if kept_rank[i] != gone_rank[i]:
            return f"kept for {key} ({_show(kept, key)} vs {_show(gone, key)} {KEYS[key][2]})"
    return "kept by clip_id (equal by every keep_order key)"
