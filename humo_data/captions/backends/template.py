"""``template``: the offline default captioner (measured facts; see humo_data/captions/template.py)."""

from __future__ import annotations

from humo_data.captions.backends.base import CAPTIONERS, Captioner, CaptionRequest
from humo_data.captions.template import TEMPLATE_VERSION, template_caption


@CAPTIONERS.register("template")
class TemplateCaptioner(Captioner):
    free_text = False
    needs_frames = False

    @property
    def version(self) -> str:
        return TEMPLATE_VERSION

    def generate(self, requests: list[CaptionRequest], retry: bool = False) -> list[str | None]:
        return [template_caption(r.row, self.cfg.template) for r in requests]
