"""``QualityStage``: technical gates on the cutter's sampled frames, in the streaming pass before faces.

Cheap (five JPEG luma decodes and a few OpenCV reductions per clip), so it runs as Ray tasks and
removes dark, washed-out, blurry, frozen, letterboxed-away and oddly shaped clips before any model
sees them. Every live row gets its metric columns; a failed gate is a reject whose detail names
the metric and value. The learned aesthetic score is a separate actor stage (``AestheticStage``)
that runs right after this one, on its survivors only.
"""

from __future__ import annotations

from typing import Any

import pyarrow as pa

from humo_data.quality.aesthetic import AestheticStage
from humo_data.quality.alignment import CaptionAlignmentStage
from humo_data.quality.config import QualityConfig
from humo_data.quality.face import FaceQualityStage
from humo_data.quality.technical import TECHNICAL_BACKEND, decode_gray, judge, measure
from humo_data.stage import REJECT_DETAIL, REJECT_REASON, Stage

# Every quality stage takes the whole ``quality`` section, so the job imports them from here.
__all__ = ["AestheticStage", "CaptionAlignmentStage", "FaceQualityStage", "QualityStage"]


class QualityStage(Stage[QualityConfig]):
    name = "quality"
    inputs = ("_frames", "_motion", "width", "height")
    outputs = (
        "quality_exposure", "quality_contrast", "quality_sharpness", "quality_motion",
        "quality_border", "quality_backend",
    )  # fmt: skip

    def transform(self, live: pa.Table) -> dict[str, list]:
        cols = {c: live.column(c).to_pylist() for c in self.inputs}
        rows = [self.measure_row(*(cols[c][i] for c in self.inputs)) for i in range(live.num_rows)]
        names = [*self.outputs, REJECT_REASON, REJECT_DETAIL]
        return {n: [r.get(n) for r in rows] for n in names}

    def measure_row(self, frames: Any, motion: Any, width: Any, height: Any) -> dict[str, Any]:
        cfg = self.config
        if not frames:
            return {REJECT_REASON: "no_frames", REJECT_DETAIL: "no_frames: the clip has no sampled frames"}
        try:
            grays = decode_gray(frames)
        except ValueError as err:
            return {REJECT_REASON: "undecodable_frames", REJECT_DETAIL: f"undecodable_frames: {err}"}
        size = (int(width), int(height)) if width and height else None
        q = measure(grays, motion, size, cfg)
        out: dict[str, Any] = {
            "quality_exposure": q.exposure,
            "quality_contrast": q.contrast,
            "quality_sharpness": q.sharpness,
            "quality_motion": q.motion,
            "quality_border": q.border,
            "quality_backend": TECHNICAL_BACKEND,
        }
        fails = judge(q, cfg)
        if fails:
            out[REJECT_REASON] = fails[0][0]
            out[REJECT_DETAIL] = "; ".join(detail for _, detail in fails)
        return out
