"""``CaptionStage``: one caption per committed clip, in the survivors-only phase after identity.

Inputs are committed triplet columns plus ``_frames``, which the job fills there by sampling the
stored 480p clip (``frames_from_clip``); nothing here assumes the source's resolution. A VLM's
answer is cleaned and bounded (captions/postprocess.py); an empty, refusing, looping or too short
answer is retried ``retries`` times, then the caption stays null with ``caption_reason`` saying
why. A missing caption is a stage-1 gate (the finish phase sets stage1_reason), never a reject:
this stage writes no ``_reject_reason``.
"""

from __future__ import annotations

import math
from typing import Any

import cv2
import numpy as np
import pyarrow as pa

from humo_data.captions.backends import CAPTIONERS, Captioner, CaptionRequest
from humo_data.captions.config import CaptionsConfig
from humo_data.captions.postprocess import clean_caption
from humo_data.captions.prompts import load_prompt
from humo_data.captions.template import FACT_COLUMNS
from humo_data.media.frames import decode_frames
from humo_data.stage import Stage


def pick_evenly(n: int, k: int) -> list[int]:
    """``k`` indices spread evenly over ``range(n)`` (all of them when n <= k)."""
    if n <= k:
        return list(range(n))
    return sorted({int(round(x)) for x in np.linspace(0, n - 1, k)})


def fit_pixels(rgb: np.ndarray, max_pixels: int, min_side: int = 56) -> np.ndarray:
    """Downscale to at most ``max_pixels`` (aspect kept); tiny frames grow to ``min_side``."""
    h, w = rgb.shape[:2]
    scale = min(1.0, math.sqrt(max_pixels / float(w * h)))
    scale = max(scale, min_side / float(min(h, w)))
    if abs(scale - 1.0) < 1e-3:
        return rgb
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    return cv2.resize(rgb, size, interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC)


class CaptionStage(Stage[CaptionsConfig]):
    name = "captions"
    actor = True
    inputs = ("clip_id", "_frames", "start_time", "end_time", "num_frames", "fps")
    #: measured facts the template writes about (null when the stage measuring one is off)
    optional_inputs = FACT_COLUMNS
    outputs = ("caption", "caption_backend", "caption_prompt_version", "caption_reason")

    def __init__(self, config: CaptionsConfig):
        super().__init__(config)
        # a model loads once per actor; the template writes from the row's facts, so tasks serve
        self.actor = config.backend != "template"

    def setup(self) -> None:
        if self.config.backend == "vllm":
            raise ValueError(
                "captions.backend=vllm runs as a Ray Data processor, not a batch stage: "
                "use humo_data.captions.vllm.caption_dataset(ds, config)"
            )
        cls = CAPTIONERS.get(self.config.backend)
        prompt = load_prompt(self.config.prompt) if cls.free_text else None
        self.captioner: Captioner = cls(self.config, prompt)

    def provenance(self) -> dict[str, Any]:
        cfg = self.config
        return {"backend": cfg.backend, "prompt": cfg.prompt}

    def weights(self) -> dict[str, str | None]:
        return {"model_dir": self.config.model_dir} if self.config.backend != "template" else {}

    def request(self, row: dict[str, Any]) -> CaptionRequest | None:
        """The clip as the captioner sees it; None when it needs frames and has none."""
        seconds = 0.0
        if row.get("start_time") is not None and row.get("end_time") is not None:
            seconds = float(row["end_time"]) - float(row["start_time"])
        elif row.get("num_frames") and row.get("fps"):
            seconds = float(row["num_frames"]) / float(row["fps"])
        frames: list[np.ndarray] = []
        if self.captioner.needs_frames:
            decoded = decode_frames(row.get("_frames"))
            frames = [
                fit_pixels(decoded[i].rgb, self.config.max_pixels)
                for i in pick_evenly(len(decoded), self.config.num_frames)
            ]
            if not frames:
                return None
        return CaptionRequest(frames=frames, seconds=seconds, row=row)

    def generate(
        self, requests: list[CaptionRequest], retry: bool
    ) -> tuple[list[str | None], list[str | None]]:
        """Answers for a batch; when the batch fails (one odd clip: an aspect ratio the processor
        refuses), each clip alone, so only the clip that fails gets an error instead of a crash."""
        try:
            return self.captioner.generate(requests, retry=retry), [None] * len(requests)
        except (ValueError, RuntimeError) as err:
            if len(requests) == 1:
                return [None], [f"{type(err).__name__}: {err}"[:300]]
        answers, errors = [], []
        for r in requests:
            a, e = self.generate([r], retry)
            answers += a
            errors += e
        return answers, errors

    def transform(self, live: pa.Table) -> dict[str, list]:
        rows = live.to_pylist()
        captions: list[str | None] = [None] * len(rows)
        reasons: list[str | None] = [None] * len(rows)
        pending: list[int] = []
        requests: dict[int, CaptionRequest] = {}
        for i, row in enumerate(rows):
            try:
                req = self.request(row)
            except ValueError as err:  # an undecodable still
                req, reasons[i] = None, f"no_frames {err}"
            if req is None:
                reasons[i] = reasons[i] or "no_frames the clip has no sampled frames to show the captioner"
                continue
            requests[i] = req
            pending.append(i)
        attempts = 1 + (self.config.retries if self.captioner.free_text else 0)
        for attempt in range(attempts):
            if not pending:
                break
            answers, errors = self.generate([requests[i] for i in pending], retry=attempt > 0)
            still = []
            for i, answer, error in zip(pending, answers, errors, strict=True):
                if error is not None:
                    captions[i], reasons[i] = None, f"vlm_error {error}"
                elif self.captioner.free_text:
                    captions[i], reasons[i] = clean_caption(
                        answer, self.config.min_words, self.config.max_words
                    )
                else:
                    captions[i], reasons[i] = (answer, None) if answer else (None, "empty template")
                if captions[i] is None:
                    still.append(i)
            pending = still
        n = len(rows)
        return {
            "caption": captions,
            "caption_backend": [self.captioner.label] * n,
            "caption_prompt_version": [self.captioner.version] * n,
            "caption_reason": reasons,
        }
