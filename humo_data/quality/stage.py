"""``QualityStage``: technical gates on the cutter's sampled frames, in the streaming pass before faces.

Cheap (five JPEG luma decodes and a few OpenCV reductions per clip), so it runs as Ray tasks and
removes dark, washed-out, blurry, frozen, letterboxed-away and oddly shaped clips before any model
sees them. Every live row gets its metric columns; a failed gate is a reject whose detail names
the metric and value. The learned aesthetic score is a separate actor stage (``AestheticStage``)
that runs right after this one, on its survivors only.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa

from humo_data.media.frames import decode_frames
from humo_data.quality.config import QualityConfig
from humo_data.quality.technical import TECHNICAL_BACKEND, decode_gray, judge, measure
from humo_data.stage import REJECT_COLUMNS, Stage


class QualityStage(Stage[QualityConfig]):
    name = "quality"
    inputs = ("_frames", "_motion", "width", "height")
    outputs = (
        "quality_exposure", "quality_contrast", "quality_sharpness", "quality_motion",
        "quality_border", "quality_text_area", "quality_backend",
    )  # fmt: skip

    def setup(self) -> None:
        text = self.config.text
        self.text = None
        if text.backend == "ppocr-det":
            from humo_data.quality.text import TextDetector

            self.text = TextDetector(text.model, text.long_side, text.threads)

    @property
    def backend(self) -> str:
        """quality_backend: the technical metrics, plus the text detector when one runs."""
        text = self.config.text.backend
        return TECHNICAL_BACKEND + (f"+{text}" if text != "none" else "")

    def provenance(self) -> dict[str, Any]:
        return {"backend": self.backend}

    def weights(self) -> dict[str, str | None]:
        if self.config.text.backend == "none":
            return {}
        if self.config.text.model:
            return {"text_model": self.config.text.model}
        from humo_data.quality.text import shipped_model

        try:
            return {"text_model": str(shipped_model())}
        except FileNotFoundError:  # said again, with the install command, when the stage loads it
            return {"text_model": None}

    def transform(self, live: pa.Table) -> dict[str, list]:
        cols = {c: live.column(c).to_pylist() for c in self.inputs}
        rows = [self.measure_row(*(cols[c][i] for c in self.inputs)) for i in range(live.num_rows)]
        names = [*self.outputs, *REJECT_COLUMNS]
        return {n: [r.get(n) for r in rows] for n in names}

    def measure_row(self, frames: Any, motion: Any, width: Any, height: Any) -> dict[str, Any]:
        cfg = self.config
        if not frames:
            return self.reject("no_frames", "no_frames: the clip has no sampled frames")
        try:
            grays = decode_gray(frames)
        except ValueError as err:
            return self.reject("undecodable_frames", f"undecodable_frames: {err}")
        size = (int(width), int(height)) if width and height else None
        q = measure(grays, motion, size, cfg)
        out: dict[str, Any] = {
            "quality_exposure": q.exposure,
            "quality_contrast": q.contrast,
            "quality_sharpness": q.sharpness,
            "quality_motion": q.motion,
            "quality_border": q.border,
            "quality_backend": self.backend,
        }
        fails = judge(q, cfg)
        if self.text is not None and not fails:  # the detector is the costly part: survivors only
            area = self.text_area(frames)
            out["quality_text_area"] = area
            bound = cfg.text.max_area
            if bound is not None and area > bound:
                fails.append(("text_overlay", f"text_overlay text area {area:.3f} > {bound:.3f}"))
        if fails:
            out.update(self.reject(fails[0][0], "; ".join(detail for _, detail in fails)))
        return out

    def text_area(self, frames: list[dict]) -> float:
        """Median text-covered share of ``text.frames`` evenly picked stills: burned-in text stays
        on screen, while the detector's false hits (glasses, a nose in a close-up) come and go."""
        decoded = decode_frames(frames)
        k = self.config.text.frames
        picks = (
            sorted({round(i * (len(decoded) - 1) / max(k - 1, 1)) for i in range(k)})
            if k > 1
            else [len(decoded) // 2]
        )
        assert self.text is not None
        return float(np.median([self.text.area(decoded[i].rgb) for i in picks]))
