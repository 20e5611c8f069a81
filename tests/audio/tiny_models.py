"""Tiny randomly initialised audio models in the formats the real backends load (tests only); the
writers live in the package so the GPU-profile rehearsal builds the same ones.

- ``tiny_whisper(dir)``: a 2+2-layer Whisper converted to CTranslate2 (faster-whisper's format);
- ``mdx_onnx(path, ...)``: an ONNX model with MDX-Net's signature [B, 4, dim_f, dim_t] -> same;
- ``segmentation_onnx(path, ...)``: pyannote segmentation's signature [B, 1, samples] -> [B, frames, 7].
"""

from humo_data.rehearsal.tiny_onnx import mdx_onnx, segmentation_onnx
from humo_data.rehearsal.tiny_torch import LANGS, tiny_whisper

__all__ = ["LANGS", "mdx_onnx", "segmentation_onnx", "tiny_whisper"]
