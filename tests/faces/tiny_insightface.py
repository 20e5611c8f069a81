"""Tiny random ONNX models with the signatures of InsightFace's buffalo_l pack (writer in the package,
shared with the GPU-profile rehearsal): a bright patch is a face, a black frame has none."""

from humo_data.rehearsal.tiny_onnx import ANCHORS, PER_ANCHOR, STRIDES, write_tiny_pack

__all__ = ["ANCHORS", "PER_ANCHOR", "STRIDES", "write_tiny_pack"]
