"""A tiny randomly initialised Qwen2.5-VL saved the way a real checkpoint ships (writer in the package,
shared with the GPU-profile rehearsal)."""

from humo_data.rehearsal.tiny_torch import CHAT_TEMPLATE, CORPUS, SPECIAL, tiny_qwen25_vl

__all__ = ["CHAT_TEMPLATE", "CORPUS", "SPECIAL", "tiny_qwen25_vl"]
