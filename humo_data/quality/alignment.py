"""``CaptionAlignmentStage``: CLIP cosine similarity of each caption to its clip's sampled frames.

Runs in the survivors-only phase right after the captions stage, on committed rows whose
``_frames`` the job re-sampled from the stored clip. A caption that scores under ``min_score``
describes something the frames do not show (a hallucinating VLM): the caption is withdrawn
(null) and ``caption_reason`` says why, which makes it a stage-1 gate, never a reject. The score
is kept either way so the threshold can be re-tuned from the data.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa

from humo_data.media.frames import decode_frames
from humo_data.quality.aesthetic import crop_to_border
from humo_data.quality.config import AlignmentConfig
from humo_data.stage import Stage


class CaptionAlignmentStage(Stage[AlignmentConfig]):
    """The ``caption_alignment`` section; runs right after the captions stage."""

    name = "caption_alignment"
    actor = True
    needs = ("captions",)
    inputs = ("_frames", "caption", "caption_reason", "quality_border", "width", "height")
    outputs = ("quality_clip_score", "quality_clip_backend", "caption", "caption_reason")

    def setup(self) -> None:
        from humo_data.quality.clip_model import ClipModel

        cfg = self.config
        self.clip = ClipModel(cfg.clip_model, cfg.clip_weights or "", cfg.device)

    @property
    def backend_name(self) -> str:
        return f"open_clip:{self.config.clip_model}"

    def provenance(self) -> dict[str, Any]:
        return {"backend": self.backend_name}

    def weights(self) -> dict[str, str | None]:
        return {"clip_weights": self.config.clip_weights}

    def transform(self, live: pa.Table) -> dict[str, list]:
        cols = {c: live.column(c).to_pylist() for c in self.inputs}
        n = live.num_rows
        frames, owner = [], []
        scored = [i for i in range(n) if cols["caption"][i]]
        for i in scored:
            for f in decode_frames(cols["_frames"][i]):
                frames.append(
                    crop_to_border(f.rgb, cols["quality_border"][i], cols["width"][i], cols["height"][i])
                )
                owner.append(i)
        scores: dict[int, float] = {}
        if frames:
            img = self.clip.embed_images(frames)
            txt = self.clip.embed_texts([cols["caption"][i] for i in scored])
            row_of = {i: k for k, i in enumerate(scored)}
            sims = np.einsum("nd,nd->n", img, txt[[row_of[i] for i in owner]])
            owner_arr = np.asarray(owner)
            scores = {i: float(sims[owner_arr == i].mean()) for i in set(owner)}
        out: dict[str, list] = {c: [] for c in self.outputs}
        bound = self.config.min_score
        for i in range(n):
            score = scores.get(i)
            caption, reason = cols["caption"][i], cols["caption_reason"][i]
            if score is not None and bound is not None and score < bound:
                caption, reason = None, f"low_clip_score {score:.3f} < {bound:.3f} ({self.backend_name})"
            out["quality_clip_score"].append(score)
            out["quality_clip_backend"].append(self.backend_name if score is not None else None)
            out["caption"].append(caption)
            out["caption_reason"].append(reason)
        return out
