"""Sampled frames: the images the cutter hands to later stages (``_frames`` working column).

The cutter samples each clip while it holds the decoded source (no stage decodes a source again):
source resolution with the short side capped (``FramesConfig.short_side``), rotated for display,
encoded as JPEG (or PNG). A stage reads them with ``decode_frames``:

    for frame in decode_frames(row["_frames"]):
        rgb = frame.rgb            # H x W x 3 uint8
        t = frame.time             # seconds from the clip's first frame
        scale = clip_width / frame.width   # to map boxes into encoded-clip pixels

A stage rerun on an existing dataset (no sources at hand) samples the stored clip instead:
``frames_from_clip(video_bytes, times)``.
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import av
import cv2
import numpy as np


@dataclass
class SampledFrame:
    index: int  # frame index within the clip at the output fps
    time: float  # seconds from the clip's first frame
    rgb: np.ndarray  # H x W x 3 uint8

    @property
    def width(self) -> int:
        return int(self.rgb.shape[1])

    @property
    def height(self) -> int:
        return int(self.rgb.shape[0])

    @property
    def gray(self) -> np.ndarray:
        return cv2.cvtColor(self.rgb, cv2.COLOR_RGB2GRAY)


def encode_image(rgb: np.ndarray, fmt: str = "jpeg", quality: int = 92) -> bytes:
    """RGB uint8 -> JPEG/PNG bytes (OpenCV: fast, no PIL round trip)."""
    bgr = cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2BGR)
    if fmt == "png":
        ok, buf = cv2.imencode(".png", bgr, [cv2.IMWRITE_PNG_COMPRESSION, 3])
    else:
        ok, buf = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    if not ok:
        raise ValueError(f"could not encode a {rgb.shape} image as {fmt}")
    return buf.tobytes()


def decode_image(data: bytes) -> np.ndarray:
    """JPEG/PNG bytes -> RGB uint8."""
    bgr = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    if bgr is None:
        raise ValueError("not a decodable image")
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def frame_record(index: int, time: float, rgb: np.ndarray, fmt: str = "jpeg", quality: int = 92) -> dict:
    """One ``_frames`` list item (see ``humo_data.schema.FRAME_TYPE``)."""
    return {
        "index": int(index),
        "time": float(time),
        "width": int(rgb.shape[1]),
        "height": int(rgb.shape[0]),
        "image": encode_image(rgb, fmt, quality),
    }


def decode_frames(records: Iterable[dict[str, Any]] | None) -> list[SampledFrame]:
    """The ``_frames`` value of one row -> decoded frames, in time order."""
    frames = [
        SampledFrame(int(r["index"]), float(r["time"]), decode_image(r["image"])) for r in records or []
    ]
    return sorted(frames, key=lambda f: f.time)


def capped_size(width: int, height: int, short_side: int) -> tuple[int, int]:
    """(w, h) with the short side at most ``short_side``, aspect kept, both even."""
    scale = min(1.0, short_side / min(width, height))
    return max(2, int(round(width * scale / 2)) * 2), max(2, int(round(height * scale / 2)) * 2)


def pick_indices(num_frames: int, fractions: Sequence[float]) -> list[int]:
    """Frame indices at ``fractions`` of a clip of ``num_frames`` (deduplicated, in order)."""
    picks = [min(num_frames - 1, max(0, int(round(f * (num_frames - 1))))) for f in fractions]
    return sorted(set(picks))


def frames_from_clip(
    video: bytes, fractions: Sequence[float], fps: float, fmt: str = "jpeg", quality: int = 92
) -> list[dict]:
    """``_frames`` records sampled from an encoded clip (for stage reruns on a finished dataset,
    where the source may be gone): one decode of the clip, frames at ``fractions`` of its length."""
    with av.open(io.BytesIO(video)) as container:
        stream = container.streams.video[0]
        total = stream.frames or 0
        decoded = [f for f in container.decode(stream)] if total == 0 else None
        if decoded is not None:
            total = len(decoded)
        wanted = set(pick_indices(total, fractions)) if total else set()
        out = []
        frames = decoded if decoded is not None else container.decode(stream)
        for i, frame in enumerate(frames):
            if i in wanted:
                out.append(frame_record(i, i / fps, frame.to_ndarray(format="rgb24"), fmt, quality))
                if len(out) == len(wanted):
                    break
    return out
