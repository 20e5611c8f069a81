"""The captioner interface: a batch of clips in, one raw answer per clip out."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from humo_data.captions.config import CaptionsConfig
from humo_data.captions.prompts import Prompt
from humo_data.registry import Registry


@dataclass
class CaptionRequest:
    """One clip to caption: the frames to show (RGB, in time order), its length, its fact columns."""

    frames: list[np.ndarray]
    seconds: float
    row: dict[str, Any] = field(default_factory=dict)


class Captioner:
    backend_name: str = "?"
    #: answers are a model's free text (cleaned, bounded, retried) rather than finished captions
    free_text: bool = True
    #: needs the sampled frames (``_frames``)
    needs_frames: bool = True

    def __init__(self, cfg: CaptionsConfig, prompt: Prompt | None):
        self.cfg = cfg
        self.prompt = prompt

    @property
    def label(self) -> str:
        """The caption_backend value."""
        return self.backend_name

    @property
    def version(self) -> str:
        """The caption_prompt_version value."""
        return self.prompt.version if self.prompt else "none"

    def user_text(self, request: CaptionRequest, retry: bool) -> str:
        assert self.prompt is not None
        return self.prompt.user_text(
            retry=retry,
            num_frames=len(request.frames),
            seconds=request.seconds,
            min_words=self.cfg.min_words,
            max_words=self.cfg.max_words,
        )

    def generate(self, requests: list[CaptionRequest], retry: bool = False) -> list[str | None]:
        """One raw answer per request, in order (None = nothing came back)."""
        raise NotImplementedError


CAPTIONERS: Registry[Captioner] = Registry("captioner")
