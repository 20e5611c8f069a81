"""Tiny randomly initialised ONNX models with the signatures of the real backends' files.

- ``write_tiny_pack(dir)``: InsightFace's buffalo_l pack (``det_10g.onnx`` SCRFD with 9 outputs,
  ``w600k_r50.onnx`` ArcFace [N, 3, 112, 112] -> [N, 512]);
- ``mdx_onnx(path, dim_f, dim_t)``: an MDX-Net vocal model, [B, 4, dim_f, dim_t] -> same;
- ``segmentation_onnx(path)``: pyannote segmentation-3.0 exported, [B, 1, samples] -> [B, frames, 7].

The detector's score is a sigmoid of the mean brightness under each stride-32 cell (strides 8
and 16 never fire), so a black frame has no face and a bright patch has one: plumbing with a
predictable answer. Used by the tests and by the GPU-profile rehearsal (``humo_data.rehearsal``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

STRIDES = (8, 16, 32)
ANCHORS = 2
PER_ANCHOR = 1 + 4 + 10  # score, bbox distances, 5 keypoints


def _detector(rng: np.random.Generator, one_face: bool = False):
    """``one_face``: only the brightest stride-32 cell of the frame scores high (a logistic of its
    brightness minus the frame's maximum), so real footage gets one "face" per frame, not one
    per bright cell."""
    from onnx import TensorProto, helper, numpy_helper

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
            *(
                _brightest(f"ls{s}", f"score_{s}")
                if one_face and s == 32
                else [helper.make_node("Sigmoid", [f"ls{s}"], [f"score_{s}"])]
            ),
            helper.make_node("Slice", [f"r{s}", "s1", "s5", "ax"], [f"lb{s}"]),
            helper.make_node("Softplus", [f"lb{s}"], [f"bbox_{s}"]),
            helper.make_node("Slice", [f"r{s}", "s5", "s15", "ax"], [f"kps_{s}"]),
        ]
        outs["score"].append(f"score_{s}")
        outs["bbox"].append(f"bbox_{s}")
        outs["kps"].append(f"kps_{s}")
    consts = {"shape": [-1, PER_ANCHOR], "s0": [0], "s1": [1], "s5": [5], "s15": [15], "ax": [1]}
    inits += [numpy_helper.from_array(np.array(v, np.int64), k) for k, v in consts.items()]
    # the brightest cell: sigmoid(50 * (logit - max logit) + 3) -> 0.95 there, < 0.05 a shade darker
    inits += [numpy_helper.from_array(np.array(v, np.float32), k) for k, v in (("k50", 50.0), ("c3", 3.0))]
    widths = {"score": 1, "bbox": 4, "kps": 10}
    outputs = [
        helper.make_tensor_value_info(name, TensorProto.FLOAT, [None, widths[kind]])
        for kind in ("score", "bbox", "kps")
        for name in outs[kind]
    ]
    graph = helper.make_graph(nodes, "tiny_scrfd", [inp], outputs, inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])


def _brightest(logits: str, out: str) -> list:
    from onnx import helper

    return [
        helper.make_node("ReduceMax", [logits], [f"{logits}_max"], axes=[0], keepdims=1),
        helper.make_node("Sub", [logits, f"{logits}_max"], [f"{logits}_d"]),
        helper.make_node("Mul", [f"{logits}_d", "k50"], [f"{logits}_m"]),
        helper.make_node("Add", [f"{logits}_m", "c3"], [f"{logits}_z"]),
        helper.make_node("Sigmoid", [f"{logits}_z"], [out]),
    ]


def _recognizer(rng: np.random.Generator, dim: int = 512):
    from onnx import TensorProto, helper, numpy_helper

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


def write_tiny_pack(folder: Path, seed: int = 0, one_face: bool = False) -> Path:
    """Write det_10g.onnx + w600k_r50.onnx (buffalo_l names) into ``folder``; returns it.
    ``one_face``: the detector finds the frame's brightest region only (see ``_detector``)."""
    import onnx

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    for name, model in (("det_10g.onnx", _detector(rng, one_face)), ("w600k_r50.onnx", _recognizer(rng))):
        onnx.checker.check_model(model)
        onnx.save(model, str(folder / name))
    return folder


def _save(graph, path: Path) -> Path:
    import onnx
    from onnx import helper

    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


def mdx_onnx(path: Path, dim_f: int, dim_t: int, identity: bool = False, seed: int = 0) -> Path:
    """MDX signature. ``identity`` passes the spectrogram through (a separator that keeps all);
    otherwise a random 1x1 convolution over the 4 channels."""
    from onnx import TensorProto, helper, numpy_helper

    x = helper.make_tensor_value_info("input", TensorProto.FLOAT, ["batch", 4, dim_f, dim_t])
    y = helper.make_tensor_value_info("output", TensorProto.FLOAT, ["batch", 4, dim_f, dim_t])
    if identity:
        nodes, inits = [helper.make_node("Identity", ["input"], ["output"])], []
    else:
        w = np.random.default_rng(seed).standard_normal((4, 4, 1, 1)).astype(np.float32) * 0.5
        nodes = [helper.make_node("Conv", ["input", "w"], ["output"])]
        inits = [numpy_helper.from_array(w, "w")]
    return _save(helper.make_graph(nodes, "mdx_tiny", [x], [y], inits), path)


def segmentation_onnx(path: Path, favour: int | None = None, frames: int = 589, seed: int = 0) -> Path:
    """pyannote segmentation signature: 7 powerset log-probabilities per frame. ``favour`` makes
    one class win everywhere (a known answer); None = random weights on framed audio energy."""
    from onnx import TensorProto, helper, numpy_helper

    hop = 160000 // frames
    kernel = 160000 - (frames - 1) * hop  # exactly ``frames`` outputs, as the real model gives
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 1, 160000])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", frames, 7])
    rng = np.random.default_rng(seed)
    conv_w = rng.standard_normal((8, 1, kernel)).astype(np.float32) * 0.1
    lin_w = rng.standard_normal((8, 7)).astype(np.float32)
    bias = np.zeros(7, np.float32)
    if favour is not None:
        lin_w[:] = 0
        bias[favour] = 10.0
    inits = [
        numpy_helper.from_array(conv_w, "cw"),
        numpy_helper.from_array(lin_w, "lw"),
        numpy_helper.from_array(bias, "b"),
    ]
    nodes = [
        helper.make_node("Conv", ["x", "cw"], ["c"], strides=[hop]),  # [N, 8, frames]
        helper.make_node("Transpose", ["c"], ["t"], perm=[0, 2, 1]),  # [N, frames, 8]
        helper.make_node("MatMul", ["t", "lw"], ["m"]),
        helper.make_node("Add", ["m", "b"], ["z"]),
        helper.make_node("LogSoftmax", ["z"], ["y"], axis=-1),
    ]
    return _save(helper.make_graph(nodes, "seg_tiny", [x], [y], inits), path)
