"""Tiny random ONNX models with the signatures of InsightFace's buffalo_l pack, for tests.

``det_10g.onnx`` has SCRFD's 9 outputs (score, bbox, kps for strides 8/16/32, two anchors per
cell, rows ordered y, x, anchor): insightface's model_zoo routes it to SCRFD by that count. Its score
is a sigmoid of the mean brightness under each stride-32 cell (strides 8 and 16 never fire), so a
black frame has no face and a bright patch has one: plumbing with a predictable answer.
``w600k_r50.onnx`` maps [N, 3, 112, 112] to [N, 512] (ArcFace's signature) with random weights.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

STRIDES = (8, 16, 32)
ANCHORS = 2
PER_ANCHOR = 1 + 4 + 10  # score, bbox distances, 5 keypoints


def _detector(rng: np.random.Generator) -> onnx.ModelProto:
    nodes, inits = [], []
    outs: dict[str, list[str]] = {"score": [], "bbox": [], "kps": []}
    inp = helper.make_tensor_value_info("input.1", TensorProto.FLOAT, [1, 3, "h", "w"])
    for s in STRIDES:
        w = rng.normal(0, 0.01, (ANCHORS * PER_ANCHOR, 3, s, s)).astype(np.float32)
        b = np.zeros(ANCHORS * PER_ANCHOR, np.float32)
        for a in range(ANCHORS):
            o = a * PER_ANCHOR
            # score channel: mean brightness (input is (x - 127.5) / 128), scaled; only stride 32 can fire
            w[o] = 6.0 / (3 * s * s) if s == 32 else 0.0
            b[o] = 0.0 if s == 32 else -10.0
            b[o + 1 : o + 5] = 2.0  # box distances ~ softplus(2) strides each side
        inits += [numpy_helper.from_array(w, f"w{s}"), numpy_helper.from_array(b, f"b{s}")]
        nodes += [
            helper.make_node(
                "Conv", ["input.1", f"w{s}", f"b{s}"], [f"c{s}"], kernel_shape=[s, s], strides=[s, s]
            ),
            helper.make_node("Transpose", [f"c{s}"], [f"t{s}"], perm=[0, 2, 3, 1]),
            helper.make_node("Reshape", [f"t{s}", "shape"], [f"r{s}"]),
            helper.make_node("Slice", [f"r{s}", "s0", "s1", "ax"], [f"ls{s}"]),
            helper.make_node("Sigmoid", [f"ls{s}"], [f"score_{s}"]),
            helper.make_node("Slice", [f"r{s}", "s1", "s5", "ax"], [f"lb{s}"]),
            helper.make_node("Softplus", [f"lb{s}"], [f"bbox_{s}"]),
            helper.make_node("Slice", [f"r{s}", "s5", "s15", "ax"], [f"kps_{s}"]),
        ]
        outs["score"].append(f"score_{s}")
        outs["bbox"].append(f"bbox_{s}")
        outs["kps"].append(f"kps_{s}")
    consts = {"shape": [-1, PER_ANCHOR], "s0": [0], "s1": [1], "s5": [5], "s15": [15], "ax": [1]}
    inits += [numpy_helper.from_array(np.array(v, np.int64), k) for k, v in consts.items()]
    widths = {"score": 1, "bbox": 4, "kps": 10}
    outputs = [
        helper.make_tensor_value_info(name, TensorProto.FLOAT, [None, widths[kind]])
        for kind in ("score", "bbox", "kps")
        for name in outs[kind]
    ]
    graph = helper.make_graph(nodes, "tiny_scrfd", [inp], outputs, inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])


def _recognizer(rng: np.random.Generator, dim: int = 512) -> onnx.ModelProto:
    inp = helper.make_tensor_value_info("input.1", TensorProto.FLOAT, ["N", 3, 112, 112])
    out = helper.make_tensor_value_info("683", TensorProto.FLOAT, ["N", dim])
    inits = [
        numpy_helper.from_array(rng.normal(0, 0.1, (8, 3, 16, 16)).astype(np.float32), "cw"),
        numpy_helper.from_array(np.zeros(8, np.float32), "cb"),
        numpy_helper.from_array(rng.normal(0, 0.1, (8 * 7 * 7, dim)).astype(np.float32), "fw"),
        numpy_helper.from_array(np.zeros(dim, np.float32), "fb"),
    ]
    nodes = [
        helper.make_node("Conv", ["input.1", "cw", "cb"], ["c"], kernel_shape=[16, 16], strides=[16, 16]),
        helper.make_node("Relu", ["c"], ["r"]),
        helper.make_node("Flatten", ["r"], ["f"]),
        helper.make_node("Gemm", ["f", "fw", "fb"], ["683"]),
    ]
    graph = helper.make_graph(nodes, "tiny_arcface", [inp], [out], inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])


def write_tiny_pack(folder: Path, seed: int = 0) -> Path:
    """Write det_10g.onnx + w600k_r50.onnx (buffalo_l names) into ``folder``; returns it."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    for name, model in (("det_10g.onnx", _detector(rng)), ("w600k_r50.onnx", _recognizer(rng))):
        onnx.checker.check_model(model)
        onnx.save(model, str(folder / name))
    return folder
