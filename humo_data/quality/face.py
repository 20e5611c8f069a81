"""``FaceQualityStage``: sharpness of the main face, right after the faces stage.

A sharp background behind a blurred face (shallow focus on the wrong plane, a face in motion)
passes the whole-frame gate; this one looks at the face itself. For each time in
``face_track.times`` it takes the sampled frame at that time, maps the box from encoded-clip
pixels to the frame's own pixels (frames keep source resolution, the clip is 480p), resizes the
crop to ``face_size`` on its short side and takes the variance of the Laplacian; the clip's value
is the median. Clips without a face track get no value and no reject (the faces stage already
spoke).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa

from humo_data.quality.config import FaceQualityConfig
from humo_data.quality.metrics import sharpness
from humo_data.quality.technical import decode_gray
from humo_data.stage import Stage

FACE_SHARPNESS_BACKEND = "face-laplacian-v1"
#: a face time matches a sampled frame within this many seconds (half a frame at 25 fps)
TIME_TOLERANCE = 0.021


def face_crops(
    frames: list[dict], track: dict[str, Any], clip_w: int, clip_h: int, margin: float = 0.0
) -> list[np.ndarray]:
    """Luma crops of the track's boxes in the sampled frames taken at the track's times."""
    grays = decode_gray(frames)
    times = [float(r["time"]) for r in sorted(frames, key=lambda r: r["time"])]
    crops = []
    for t, box in zip(track.get("times") or [], track.get("boxes") or [], strict=False):
        if not times or box is None or len(box) != 4:
            continue
        j = int(np.argmin([abs(t - ft) for ft in times]))
        if abs(times[j] - t) > TIME_TOLERANCE:
            continue
        g = grays[j]
        sx, sy = g.shape[1] / clip_w, g.shape[0] / clip_h
        x0, y0, x1, y1 = box
        mx, my = margin * (x1 - x0), margin * (y1 - y0)
        xa, xb = int(round((x0 - mx) * sx)), int(round((x1 + mx) * sx))
        ya, yb = int(round((y0 - my) * sy)), int(round((y1 + my) * sy))
        crop = g[max(0, ya) : min(g.shape[0], yb), max(0, xa) : min(g.shape[1], xb)]
        if min(crop.shape[:2], default=0) >= 8:
            crops.append(crop)
    return crops


def face_sharpness(crops: list[np.ndarray], face_size: int) -> float | None:
    """Median Laplacian variance of the face crops, each at ``face_size`` short side."""
    values = [sharpness(c, face_size) for c in crops]
    return float(np.median(values)) if values else None


class FaceQualityStage(Stage[FaceQualityConfig]):
    """The ``face_quality`` section; runs right after the faces stage."""

    name = "face_quality"
    needs = ("faces",)
    inputs = ("_frames", "face_track", "width", "height")
    outputs = ("quality_face_sharpness",)

    def provenance(self) -> dict[str, Any]:
        return {"backend": FACE_SHARPNESS_BACKEND}

    def transform(self, live: pa.Table) -> dict[str, list]:
        cfg = self.config
        cols = {c: live.column(c).to_pylist() for c in self.inputs}
        values: list[float | None] = []
        reasons: list[str | None] = []
        details: list[str | None] = []
        for frames, track, w, h in zip(*(cols[c] for c in self.inputs), strict=True):
            value = reason = detail = None
            if frames and track and w and h:
                try:
                    value = face_sharpness(
                        face_crops(frames, track, int(w), int(h), cfg.margin), cfg.face_size
                    )
                except ValueError as err:  # an undecodable still: no value, said so, no crash
                    detail = f"face sharpness not measured: {err}"
            if value is not None and cfg.sharpness_min is not None and value < cfg.sharpness_min:
                reason = "blurry_face"
                detail = f"blurry_face face sharpness {value:.1f} < {cfg.sharpness_min:.1f}"
            values.append(value)
            reasons.append(reason)
            details.append(detail)
        return {"quality_face_sharpness": values, **self.rejects(reasons, details)}
