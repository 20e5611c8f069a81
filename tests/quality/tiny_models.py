"""Tiny randomly initialised open_clip models and LAION aesthetic heads (writers in the package, shared
with the GPU-profile rehearsal)."""

from humo_data.rehearsal.tiny_torch import TINY_CLIP, laion_mlp, tiny_aesthetic_head, tiny_open_clip

__all__ = ["TINY_CLIP", "laion_mlp", "tiny_aesthetic_head", "tiny_open_clip"]
