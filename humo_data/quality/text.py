"""Burned-in text (subtitles, tickers, titles, watermarks): the share of the frame covered by text.

Backend ``ppocr-det``: PaddleOCR's PP-OCRv4 DB text detector (Apache-2.0), the ONNX file that
ships inside the ``rapidocr-onnxruntime`` wheel (install it with ``pip install --no-deps``: its
declared opencv-python would clash with the headless OpenCV), or any local copy. Only detection
runs, on onnxruntime, no recognition. The probability map is thresholded as DB does (pixels >
0.3, regions scoring > 0.5), each region grown by DB's unclip distance (area x 1.6 / perimeter),
and the grown boxes' area summed over the frame area. On the shared test media, footage of
people scores 0-0.06 (a watermark line, a screen's UI, glasses) and frames with a few lines of overlaid
captions 0.15-0.5. The detector also fires now and then on glasses or a nose in a close-up
(0.11 on one frame of liveportrait_d19), which is why the stage keeps the median over stills.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import cv2
import numpy as np

RAPIDOCR_MODEL = "models/ch_PP-OCRv4_det_infer.onnx"


def shipped_model() -> Path:
    """The PP-OCRv4 detector inside the installed rapidocr-onnxruntime package."""
    spec = importlib.util.find_spec("rapidocr_onnxruntime")
    if spec is None or not spec.origin:
        raise FileNotFoundError(
            "quality.text.backend=ppocr-det with no model path needs the detector that ships in "
            "rapidocr-onnxruntime: pip install --no-deps rapidocr-onnxruntime==1.4.4 (or set quality.text.model)"
        )
    path = Path(spec.origin).parent / RAPIDOCR_MODEL
    if not path.is_file():
        raise FileNotFoundError(f"rapidocr-onnxruntime is installed but {path} is missing")
    return path


class TextDetector:
    def __init__(self, model: str | None = None, long_side: int = 640, threads: int = 1):
        import onnxruntime as ort

        path = Path(model) if model else shipped_model()
        if not path.is_file():
            raise FileNotFoundError(f"text detector model not found: {path}")
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
        self.session = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
        self.input = self.session.get_inputs()[0].name
        self.long_side = long_side

    def probability(self, rgb: np.ndarray) -> np.ndarray:
        """DB text probability map of ``rgb`` resized to ``long_side`` (sides multiples of 32)."""
        h, w = rgb.shape[:2]
        scale = self.long_side / max(h, w)
        nh, nw = (max(32, int(round(v * scale / 32)) * 32) for v in (h, w))
        x = cv2.resize(rgb, (nw, nh), interpolation=cv2.INTER_AREA).astype(np.float32)
        x = (x / 127.5 - 1.0).transpose(2, 0, 1)[None]
        return self.session.run(None, {self.input: x})[0][0, 0]

    def area(self, rgb: np.ndarray) -> float:
        """Share of the frame inside detected text boxes, in [0, 1]."""
        prob = self.probability(rgb)
        return text_area(prob)


def text_area(prob: np.ndarray, thresh: float = 0.3, box_thresh: float = 0.5, unclip: float = 1.6) -> float:
    """DB post-processing reduced to an area: regions over ``thresh`` whose mean probability passes
    ``box_thresh``, each grown by ``area * unclip / perimeter`` on every side."""
    mask = (prob > thresh).astype(np.uint8)
    n, labels, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=4)
    if n <= 1:
        return 0.0
    means = np.bincount(labels.ravel(), weights=prob.ravel(), minlength=n) / np.maximum(stats[:, 4], 1)
    total = 0.0
    for i in range(1, n):
        _, _, bw, bh, area = stats[i]
        if min(bw, bh) < 3 or means[i] < box_thresh:
            continue
        d = area * unclip / (2.0 * (bw + bh))
        total += (bw + 2 * d) * (bh + 2 * d)
    return float(min(1.0, total / prob.size))
