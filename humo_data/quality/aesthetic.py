"""Aesthetic / IQA backends (registry ``AESTHETIC``) and ``AestheticStage``, the actor stage
that scores the technical survivors' sampled frames.

``laion-mlp`` is LAION's improved aesthetic predictor: an open_clip image embedding (L2-normalised)
through a stack of linear layers (``layers.0`` 768->1024, ``.2`` ->128, ``.4`` ->64, ``.6`` ->16,
``.7`` ->1 in sac+logos+ava1-l14-linearMSE.pth; the dropouts between them do nothing at inference
and there is no activation), scores on a 1-10 scale. A single-layer head (``weight``/``bias``,
LAION's first linear predictor) loads through the same code. The head runs in numpy.

Frames are cropped to the content region the technical stage found (``quality_border``) before
embedding, so letterbox bars do not lower the score.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from humo_data.media.frames import decode_frames
from humo_data.quality.config import AestheticConfig
from humo_data.registry import Registry
from humo_data.stage import Stage


class AestheticBackend:
    backend_name: str = "?"

    def __init__(self, cfg: AestheticConfig):
        self.cfg = cfg

    def score(self, frames: list[np.ndarray]) -> np.ndarray:
        """One score per RGB frame."""
        raise NotImplementedError


AESTHETIC: Registry[AestheticBackend] = Registry("aesthetic")


def load_state_dict(path: str | Path) -> dict[str, np.ndarray]:
    """A state dict as numpy arrays: safetensors, or a torch pickle loaded with weights_only."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"aesthetic head weights not found: {path}")
    if path.suffix == ".safetensors":
        from safetensors.numpy import load_file

        return dict(load_file(str(path)))
    import torch

    state = torch.load(str(path), map_location="cpu", weights_only=True)
    state = state.get("state_dict", state) if isinstance(state, dict) else state
    return {k: v.detach().float().numpy() for k, v in state.items()}


class LinearStack:
    """The linear layers of a state dict applied in order of their index (``layers.N.weight``)."""

    def __init__(self, state: dict[str, np.ndarray]):
        def order(key: str) -> tuple[int, ...]:
            return tuple(int(n) for n in re.findall(r"\d+", key))

        weights = sorted((k for k in state if k.endswith("weight")), key=order)
        if not weights:
            raise ValueError("aesthetic head: no '*weight' tensors in the state dict")
        self.layers = []
        for key in weights:
            w = np.asarray(state[key], np.float32)
            b = np.asarray(state.get(key[: -len("weight")] + "bias", np.zeros(w.shape[0])), np.float32)
            if w.ndim != 2:
                raise ValueError(f"aesthetic head: {key} is not a linear layer ({w.shape})")
            self.layers.append((w, b))
        for (w0, _), (w1, _) in zip(self.layers, self.layers[1:], strict=False):
            if w1.shape[1] != w0.shape[0]:
                raise ValueError(f"aesthetic head: layer shapes do not chain ({w0.shape} -> {w1.shape})")
        if self.layers[-1][0].shape[0] != 1:
            raise ValueError("aesthetic head: the last layer must have one output")

    @property
    def input_dim(self) -> int:
        return int(self.layers[0][0].shape[1])

    def __call__(self, x: np.ndarray) -> np.ndarray:
        for w, b in self.layers:
            x = x @ w.T + b
        return x[:, 0]


@AESTHETIC.register("laion-mlp")
class LaionMlpAesthetic(AestheticBackend):
    def __init__(self, cfg: AestheticConfig):
        super().__init__(cfg)
        from humo_data.quality.clip_model import ClipModel

        self.head = LinearStack(load_state_dict(cfg.head_weights or ""))
        self.clip = ClipModel(cfg.clip_model, cfg.clip_weights or "", cfg.device)

    def score(self, frames: list[np.ndarray]) -> np.ndarray:
        if not frames:
            return np.zeros(0, np.float32)
        emb = self.clip.embed_images(frames, self.cfg.batch_frames)
        if emb.shape[1] != self.head.input_dim:
            raise ValueError(
                f"aesthetic head expects {self.head.input_dim}-d embeddings, {self.cfg.clip_model} gives {emb.shape[1]}"
            )
        return self.head(emb)


def crop_to_border(
    rgb: np.ndarray, border: list[int] | None, clip_w: int | None, clip_h: int | None
) -> np.ndarray:
    """The content region (``quality_border``, clip pixels) of a frame at any resolution."""
    if not border or not clip_w or not clip_h:
        return rgb
    h, w = rgb.shape[:2]
    sx, sy = w / clip_w, h / clip_h
    x0, y0, x1, y1 = (int(round(v)) for v in (border[0] * sx, border[1] * sy, border[2] * sx, border[3] * sy))
    crop = rgb[max(0, y0) : min(h, y1), max(0, x0) : min(w, x1)]
    return crop if crop.size else rgb


class AestheticStage(Stage[AestheticConfig]):
    """Mean aesthetic score of a clip's sampled frames; ``low_aesthetic`` below ``min_score``.
    One forward pass over the frames of all live rows of the batch; on when ``aesthetic.backend``
    names a model. Runs on the technical gates' survivors (it crops to their ``quality_border``)."""

    name = "aesthetic"
    actor = True
    needs = ("quality",)
    inputs = ("_frames", "quality_border", "quality_backend", "width", "height")
    outputs = ("quality_aesthetic", "quality_backend")

    @classmethod
    def is_enabled(cls, config: AestheticConfig) -> bool:
        return config.backend != "none"

    def setup(self) -> None:
        cfg = self.config
        if cfg.backend == "none":
            raise ValueError("AestheticStage needs aesthetic.backend (e.g. laion-mlp); got 'none'")
        self.backend = AESTHETIC.get(cfg.backend)(cfg)

    def provenance(self) -> dict[str, Any]:
        return {"backend": self.config.backend, "clip_model": self.config.clip_model}

    def weights(self) -> dict[str, str | None]:
        return {"clip_weights": self.config.clip_weights, "head_weights": self.config.head_weights}

    def transform(self, live: pa.Table) -> dict[str, list]:
        cols = {c: live.column(c).to_pylist() for c in self.inputs}
        frames, owner = [], []
        for i, recs in enumerate(cols["_frames"]):
            for f in decode_frames(recs):
                frames.append(
                    crop_to_border(f.rgb, cols["quality_border"][i], cols["width"][i], cols["height"][i])
                )
                owner.append(i)
        scores = self.backend.score(frames) if frames else np.zeros(0)
        owner_arr = np.asarray(owner, np.int64)
        n = live.num_rows
        out: dict[str, list] = {"quality_aesthetic": [], "quality_backend": []}
        reasons: list[str | None] = []
        details: list[str | None] = []
        name = self.config.backend
        bound = self.config.min_score
        for i in range(n):
            mine = scores[owner_arr == i] if len(owner_arr) else np.zeros(0)
            value = float(mine.mean()) if mine.size else None
            prior = cols["quality_backend"][i]
            out["quality_aesthetic"].append(value)
            out["quality_backend"].append(
                f"{prior}+{name}" if prior and name not in prior.split("+") else prior or name
            )
            reason = detail = None
            if value is None:
                reason, detail = "no_frames", "no_frames: nothing to score for the aesthetic gate"
            elif bound is not None and value < bound:
                reason, detail = (
                    "low_aesthetic",
                    f"low_aesthetic score {value:.2f} < {bound:.2f} ({name})",
                )
            reasons.append(reason)
            details.append(detail)
        return {**out, **self.rejects(reasons, details)}
