"""Captioner backends by name (``CAPTIONERS``): template (offline default), transformers (VLM).
The vllm backend is not a per-batch captioner: it is a Ray Data processor (captions/vllm.py)."""

from __future__ import annotations

from humo_data.captions.backends.base import CAPTIONERS, Captioner, CaptionRequest
from humo_data.captions.backends.template import TemplateCaptioner
from humo_data.captions.backends.transformers_vlm import TransformersCaptioner

__all__ = ["CAPTIONERS", "CaptionRequest", "Captioner", "TemplateCaptioner", "TransformersCaptioner"]
