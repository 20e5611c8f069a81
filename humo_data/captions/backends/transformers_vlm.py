"""``transformers``: an image-text-to-text VLM (Qwen2.5-VL and similar) from a local directory.

Each clip becomes one chat: the versioned system prompt, then a user turn with the clip's frames
as images followed by the instruction. Clips are batched (left padding) into one ``generate``
call per ``batch_clips``; the first answer is greedy, a retry samples at ``retry_temperature``
with a fixed seed. bfloat16 on GPU, float32 on CPU (``dtype: auto``). Only local files are read
(``local_files_only``): a missing file is an error, never a download.
"""

from __future__ import annotations

from pathlib import Path

from humo_data.captions.backends.base import CAPTIONERS, Captioner, CaptionRequest
from humo_data.captions.config import CaptionsConfig
from humo_data.captions.prompts import Prompt
from humo_data.devices import resolve_device


@CAPTIONERS.register("transformers")
class TransformersCaptioner(Captioner):
    def __init__(self, cfg: CaptionsConfig, prompt: Prompt | None):
        super().__init__(cfg, prompt)
        try:
            import torch
            from transformers import AutoModelForImageTextToText, AutoProcessor
        except ImportError as err:  # pragma: no cover - depends on the install
            raise ImportError("captions.backend=transformers needs: pip install 'humo-data[models]'") from err
        path = Path(cfg.model_dir or "")
        if not (path / "config.json").is_file():
            raise FileNotFoundError(f"captions.model_dir={path} holds no config.json (a local VLM directory)")
        self.torch = torch
        self.device = resolve_device(cfg.device, "captions (transformers)")
        dtype_name = (
            cfg.dtype
            if cfg.dtype != "auto"
            else ("bfloat16" if self.device.startswith("cuda") else "float32")
        )
        self.dtype = getattr(torch, dtype_name)
        self.processor = AutoProcessor.from_pretrained(str(path), local_files_only=True)
        self.processor.tokenizer.padding_side = "left"
        model = AutoModelForImageTextToText.from_pretrained(
            str(path), local_files_only=True, dtype=self.dtype
        )
        self.model = model.to(self.device).eval()
        self.model_name = path.name
        #: generate() calls made (batches), for throughput accounting
        self.calls = 0

    @property
    def label(self) -> str:
        return f"transformers:{self.model_name}"

    def chat_text(self, request: CaptionRequest, retry: bool) -> str:
        """The model input text of one clip (chat template applied, generation prompt open)."""
        assert self.prompt is not None
        content = [{"type": "image"} for _ in request.frames]
        content.append({"type": "text", "text": self.user_text(request, retry)})
        messages = [{"role": "system", "content": self.prompt.system}, {"role": "user", "content": content}]
        return self.processor.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)

    def generate(self, requests: list[CaptionRequest], retry: bool = False) -> list[str | None]:
        from PIL import Image

        out: list[str | None] = []
        step = self.cfg.batch_clips
        for i in range(0, len(requests), step):
            chunk = requests[i : i + step]
            texts = [self.chat_text(r, retry) for r in chunk]
            images = [[Image.fromarray(f) for f in r.frames] for r in chunk]
            inputs = self.processor(text=texts, images=images, padding=True, return_tensors="pt").to(
                self.device
            )
            if "pixel_values" in inputs:
                inputs["pixel_values"] = inputs["pixel_values"].to(self.dtype)
            kwargs = dict(max_new_tokens=self.cfg.max_new_tokens, do_sample=False, **self.cfg.generate_kwargs)
            if retry and self.cfg.retry_temperature > 0:
                self.torch.manual_seed(self.cfg.seed)
                kwargs.update(do_sample=True, temperature=self.cfg.retry_temperature, top_p=0.9)
            with self.torch.inference_mode():
                ids = self.model.generate(**inputs, **kwargs)
            self.calls += 1
            new = ids[:, inputs["input_ids"].shape[1] :]
            out.extend(self.processor.batch_decode(new, skip_special_tokens=True))
        return out
