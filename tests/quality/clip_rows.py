"""Working rows from a media file, the way the cutter hands them on (``_frames`` + ``_motion``).

Used by the quality and captions tests and the quality benchmark until they run on the cutter's
own rows: one PyAV decode on a 25 fps grid, an optional per-frame ``transform`` (to make
degraded copies: blurred, darkened, frozen), motion as the mean |difference| of consecutive
256-wide luma frames, stills at ``fractions`` of the clip with the short side capped at 720.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import av
import cv2
import numpy as np

from humo_data.media.frames import capped_size, frame_record, pick_indices
from humo_data.quality.metrics import diff_image

FRACTIONS = (0.05, 0.25, 0.5, 0.75, 0.95)
Transform = Callable[[np.ndarray, int], np.ndarray]


def decode_rgb(path: Path, seconds: float = 4.0, start: float = 0.0, fps: float = 25.0) -> list[np.ndarray]:
    """RGB frames of ``path`` on a constant ``fps`` grid from ``start`` for ``seconds``."""
    frames: list[np.ndarray] = []
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        next_t = start
        for frame in container.decode(stream):
            t = float(frame.time or 0.0)
            if t + 1e-6 < next_t:
                continue
            rgb = frame.to_ndarray(format="rgb24")
            while next_t <= t + 1e-6 and next_t < start + seconds:
                frames.append(rgb)
                next_t += 1.0 / fps
            if next_t >= start + seconds:
                break
    return frames


def row_from_frames(
    frames: list[np.ndarray],
    transform: Transform | None = None,
    fps: float = 25.0,
    clip_short_side: int = 480,
    **extra: Any,
) -> dict[str, Any]:
    """One live clip row (``_kind='clip'``) with ``_frames``, ``_motion`` and the clip size."""
    if transform is not None:
        frames = [transform(f, i) for i, f in enumerate(frames)]
    grays = [diff_image(cv2.cvtColor(f, cv2.COLOR_RGB2GRAY)) for f in frames]
    motion = [float(cv2.absdiff(a, b).mean()) / 255.0 for a, b in zip(grays, grays[1:], strict=False)]
    h, w = frames[0].shape[:2]
    still_w, still_h = capped_size(w, h, 720)
    stills = []
    for i in pick_indices(len(frames), FRACTIONS):
        rgb = (
            frames[i]
            if (still_w, still_h) == (w, h)
            else cv2.resize(frames[i], (still_w, still_h), cv2.INTER_AREA)
        )
        stills.append(frame_record(i, i / fps, rgb))
    clip_w, clip_h = capped_size(w, h, clip_short_side)
    row = {
        "_kind": "clip",
        "clip_id": extra.pop("clip_id", "clip"),
        "source_id": "src",
        "fps": fps,
        "num_frames": len(frames),
        "width": clip_w,
        "height": clip_h,
        "start_time": 0.0,
        "end_time": len(frames) / fps,
        "_frames": stills,
        "_motion": motion,
    }
    row.update(extra)
    return row


def media_row(
    path: Path, seconds: float = 4.0, start: float = 0.0, transform: Transform | None = None, **extra
):
    return row_from_frames(decode_rgb(path, seconds, start), transform, **extra)


# --- degradations (numpy, resolution-relative so they hit any source equally) --------------------


def blurred(rgb: np.ndarray, _i: int) -> np.ndarray:
    """Out of focus: Gaussian blur with sigma 1% of the short side (~5 px at 480p), run at half
    resolution (same low-pass, a quarter of the work on 1080p sources)."""
    h, w = rgb.shape[:2]
    half = cv2.resize(rgb, (w // 2, h // 2), interpolation=cv2.INTER_AREA)
    soft = cv2.GaussianBlur(half, (0, 0), sigmaX=0.005 * min(h, w))
    return cv2.resize(soft, (w, h), interpolation=cv2.INTER_LINEAR)


def scaled(rgb: np.ndarray, gain: float) -> np.ndarray:
    """Every channel times ``gain`` (saturating uint8)."""
    return cv2.convertScaleAbs(rgb, alpha=gain)


def letterboxed(rgb: np.ndarray, _i: int) -> np.ndarray:
    """Black bars top and bottom covering 30% of the height (content kept, squeezed)."""
    h, w = rgb.shape[:2]
    bar = int(round(0.15 * h))
    inner = cv2.resize(rgb, (w, h - 2 * bar), interpolation=cv2.INTER_AREA)
    out = np.zeros_like(rgb)
    out[bar : h - bar] = inner
    return out


def frozen(frames: list[np.ndarray]) -> list[np.ndarray]:
    """A still picture for the whole clip (the first frame repeated)."""
    return [frames[0]] * len(frames)
