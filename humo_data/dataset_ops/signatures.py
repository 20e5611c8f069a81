"""Per-clip visual signatures for near-duplicate detection, from the stored 480p clip (one decode).

A signature is a time series, because appearance alone cannot tell two windows of one talking-head
video apart (same person, same room: their perceptual hashes differ by ~6 bits of 63, less than a
10% crop of the same frames, ~14), while the motion over time can:

    clip ──decode (gray, decode_width)──> crop letterbox/pillarbox borders
         ──> per frame: 32x32 thumbnail, normalised (brightness/contrast/scale/re-encode drop out)
         ──> motion: |frame - previous| in grid x grid cells + whole frame, low-passed and read
             at the centre of each bin (bins of step_seconds from the clip's first frame)
         ──> pHash (63 bits of the 8x8 DCT, DC dropped) of the frame nearest each bin centre
         ──> appearance vector: mean normalised 8x8 thumbnail (or a CLIP embedding, appearance.py)

Matching (matching.py) slides two motion series against each other (a re-upload trimmed by 1 s
shifts every clip window), and the candidates come from anchor keys (``anchor_keys``): motion
windows centred on the clip's strongest motion peaks, which are defined by the content and so land
on the same frames in every copy, whatever the shift. Still clips carry no motion; they match on
appearance alone.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Any

import av
import cv2
import numpy as np
from scipy.fft import dctn
from scipy.ndimage import gaussian_filter1d, uniform_filter1d

from humo_data.dataset_ops.config import DedupConfig

THUMB = 32
VECTOR_SIDE = 8
PHASH_BITS = 63


@dataclass
class Signature:
    """One clip's signature (a row of features/signatures, decoded)."""

    clip_id: str
    source_id: str
    motion: np.ndarray  # [bins, 1 + grid^2] float32, channel 0 = whole frame
    phash: np.ndarray  # [bins] uint64
    vector: np.ndarray | None  # appearance vector, unit norm
    step: float
    backend: str
    content_fraction: float = 1.0

    @property
    def bins(self) -> int:
        return len(self.motion)

    def is_static(self, floor: float) -> bool:
        """No motion to compare (a still, or too short): appearance decides alone."""
        return self.bins < 2 or float(self.motion[:, 0].mean()) < floor

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> Signature:
        motion = np.asarray(row["motion"] or [], np.float32)
        if motion.ndim == 1:
            motion = motion.reshape(0, 1)
        vector = row.get("vector")
        return cls(
            clip_id=row["clip_id"],
            source_id=row["source_id"],
            motion=motion,
            phash=np.asarray(row["phash"] or [], np.int64).view(np.uint64),
            vector=None if vector is None else np.asarray(vector, np.float32),
            step=float(row["step"]),
            backend=row.get("backend") or "phash",
            content_fraction=float(row.get("content_fraction") or 1.0),
        )


# --- decoding -----------------------------------------------------------------------------------


def decode_gray(video: bytes, width: int) -> tuple[np.ndarray, np.ndarray]:
    """Every frame of an encoded clip as small grayscale images (swscale resizes while converting)
    and their times in seconds from the first frame."""
    frames: list[np.ndarray] = []
    times: list[float] = []
    with av.open(io.BytesIO(video)) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        for frame in container.decode(stream):
            height = max(2, int(round(frame.height * width / max(1, frame.width))))
            frames.append(frame.to_ndarray(format="gray", width=width, height=height))
            times.append(float(frame.time) if frame.time is not None else len(times) / 25.0)
    if not frames:
        return np.zeros((0, 2, width), np.uint8), np.zeros(0)
    t = np.asarray(times, np.float64)
    return np.stack(frames), t - t[0]


def content_box(frames: np.ndarray, level: float) -> tuple[int, int, int, int]:
    """x0, y0, x1, y1 of the region inside black borders: rows/columns whose brightest value over
    the whole clip stays under ``level`` (a letterbox bar is dark in every frame; a dark scene is
    not dark in every frame at once). The whole frame when that would leave under a third."""
    h, w = frames.shape[1:]
    brightest = frames.max(0)
    rows = np.flatnonzero(brightest.max(1) > level)
    cols = np.flatnonzero(brightest.max(0) > level)
    if len(rows) == 0 or len(cols) == 0:
        return 0, 0, w, h
    x0, x1, y0, y1 = int(cols[0]), int(cols[-1]) + 1, int(rows[0]), int(rows[-1]) + 1
    if (x1 - x0) * 3 < w or (y1 - y0) * 3 < h:
        return 0, 0, w, h
    return x0, y0, x1, y1


def _normalised(thumbs: np.ndarray) -> np.ndarray:
    flat = thumbs.reshape(len(thumbs), -1).astype(np.float32)
    flat = (flat - flat.mean(1, keepdims=True)) / (flat.std(1, keepdims=True) + 1.0)
    return flat.reshape(thumbs.shape)


def phash(gray32: np.ndarray) -> int:
    """63-bit perceptual hash: 8x8 lowest DCT frequencies (DC dropped) above their median."""
    coeffs = dctn(gray32.astype(np.float32), norm="ortho")[:8, :8].ravel()[1:]
    bits = (coeffs > np.median(coeffs)).astype(np.uint64)
    return int((bits << np.arange(PHASH_BITS, dtype=np.uint64)).sum())


def _resize_all(frames: np.ndarray, side: int) -> np.ndarray:
    return np.stack([cv2.resize(f, (side, side), interpolation=cv2.INTER_AREA) for f in frames])


# --- the signature ------------------------------------------------------------------------------


def motion_bins(norm: np.ndarray, times: np.ndarray, step: float, grid: int, smooth: float) -> np.ndarray:
    """[bins, 1 + grid^2]: |difference| of consecutive normalised thumbnails for the whole frame
    (channel 0) and each grid cell, low-passed (Gaussian, ``smooth`` seconds) and read at each bin
    centre. The low-pass keeps a copy trimmed by a fraction of a bin correlated (measured on a
    twice re-encoded copy half a bin off: r 0.74 unsmoothed; 0.96 smoothed at 0.15 s and matched at
    half-bin shifts, matching.py)."""
    n = len(norm)
    channels = 1 + grid * grid
    if n < 2:
        return np.zeros((0, channels), np.float32)
    diff = np.abs(np.diff(norm, axis=0))
    cell = THUMB // grid
    cropped = diff[:, : cell * grid, : cell * grid]
    cells = cropped.reshape(n - 1, grid, cell, grid, cell).mean((2, 4)).reshape(n - 1, -1)
    per_frame = np.concatenate([diff.mean((1, 2))[:, None], cells], 1)
    t = times[1:]
    frame_step = float(np.median(np.diff(times))) if n > 2 else step
    if smooth > 0:
        per_frame = gaussian_filter1d(per_frame, smooth / max(frame_step, 1e-3), axis=0, mode="nearest")
    nbins = int(np.floor((t[-1] + frame_step) / step + 1e-6))
    if nbins < 1:
        return np.zeros((0, channels), np.float32)
    centres = (np.arange(nbins) + 0.5) * step
    nearest = np.abs(t[None, :] - centres[:, None]).argmin(1)
    return per_frame[nearest].astype(np.float32)


def bin_hashes(thumbs: np.ndarray, times: np.ndarray, step: float, nbins: int) -> np.ndarray:
    centres = (np.arange(nbins) + 0.5) * step
    nearest = np.abs(times[None, :] - centres[:, None]).argmin(1) if len(times) else np.zeros(0, int)
    return np.array([phash(thumbs[i]) for i in nearest], np.uint64)


def thumbnail_vector(frames: np.ndarray) -> np.ndarray | None:
    """Appearance vector of the phash backend: mean normalised 8x8 thumbnail, unit norm (64 floats:
    it only finds candidates for stills, which pHash then verifies)."""
    if len(frames) == 0:
        return None
    v = _normalised(_resize_all(frames, VECTOR_SIDE)).mean(0).ravel()
    return (v / (np.linalg.norm(v) + 1e-9)).astype(np.float32)


def compute_signature(
    video: bytes | None, cfg: DedupConfig, embedder: Any | None = None
) -> dict[str, Any] | None:
    """features/signatures row fields (without ids) of one encoded clip; None when it has no frames.

    ``embedder`` (appearance.py) replaces the thumbnail vector with an embedding of a few frames."""
    if not video:
        return None
    frames, times = decode_gray(video, cfg.decode_width)
    if len(frames) == 0:
        return None
    x0, y0, x1, y1 = content_box(frames, cfg.border_level)
    content = frames[:, y0:y1, x0:x1]
    thumbs = _resize_all(content, THUMB)
    motion = motion_bins(_normalised(thumbs), times, cfg.step_seconds, cfg.grid, cfg.smooth_seconds)
    hashes = bin_hashes(thumbs, times, cfg.step_seconds, len(motion))
    vector = embedder.clip_vector(video, (x0, y0, x1, y1), frames.shape[1:]) if embedder else None
    if vector is None and embedder is None:
        vector = thumbnail_vector(content)
    return {
        "backend": embedder.name if embedder else "phash",
        "step": float(cfg.step_seconds),
        "duration": float(times[-1]) + (float(np.median(np.diff(times))) if len(times) > 1 else 0.0),
        "content_box": [x0, y0, x1, y1],
        "content_fraction": float((x1 - x0) * (y1 - y0)) / float(frames.shape[1] * frames.shape[2]),
        "motion": motion.tolist(),
        "phash": hashes.view(np.int64).tolist(),
        "vector": None if vector is None else np.asarray(vector, np.float32).tolist(),
    }


# --- keys (the index) ----------------------------------------------------------------------------


def anchor_bins(motion: np.ndarray, half: int, max_keys: int) -> list[int]:
    """Bins of the clip's strongest motion events (local maxima and minima of the smoothed
    whole-frame motion, by prominence, at least 3 bins apart) where a full key window fits. The
    events are defined by the content, so each copy of a clip has them on the same frames."""
    n = len(motion)
    if n < 2 * half + 1:
        return []
    m = uniform_filter1d(motion[:, 0].astype(np.float64), 3, mode="nearest")
    valid = range(half, n - half)
    events = []
    for i in valid:
        lo, hi = m[i - 1], m[i + 1]
        if (m[i] >= lo and m[i] >= hi and m[i] > min(lo, hi)) or (
            m[i] <= lo and m[i] <= hi and m[i] < max(lo, hi)
        ):
            events.append(i)
    if not events:
        events = [max(valid, key=lambda i: (m[i], -i))]
    window = {i: m[max(0, i - half) : i + half + 1] for i in events}
    prominence = {i: max(m[i] - window[i].min(), window[i].max() - m[i]) for i in events}
    chosen: list[int] = []
    for i in sorted(events, key=lambda i: (-prominence[i], i)):
        if all(abs(i - j) >= 3 for j in chosen):
            chosen.append(i)
        if len(chosen) >= max_keys:
            break
    return sorted(chosen)


def window_key(motion: np.ndarray, centre: int, half: int) -> np.ndarray:
    """The z-scored motion window around ``centre`` (every channel), flattened, unit norm: the inner
    product of two keys is their mean per-channel correlation."""
    w = motion[centre - half : centre + half + 1].astype(np.float64)
    w = (w - w.mean(0)) / (w.std(0) + 1e-6)
    v = w.ravel()
    return (v / (np.linalg.norm(v) + 1e-9)).astype(np.float32)


def _keys_at(motion: np.ndarray, centres: list[int], half: int, grid: int) -> tuple[np.ndarray, np.ndarray]:
    channels = motion.shape[1] if motion.ndim == 2 and motion.shape[1] else 1 + grid * grid
    if not centres:
        return np.zeros((0, (2 * half + 1) * channels), np.float32), np.zeros(0, np.int32)
    return np.stack([window_key(motion, c, half) for c in centres]), np.asarray(centres, np.int32)


def index_keys(motion: np.ndarray, cfg: DedupConfig) -> tuple[np.ndarray, np.ndarray]:
    """Keys the index holds: a window every ``key_stride`` bins (and at the last valid bin), so any
    position of the clip lies within stride // 2 bins of an indexed key."""
    half, n = cfg.key_half_window, len(motion)
    if n < 2 * half + 1:
        return _keys_at(motion, [], half, cfg.grid)
    centres = list(range(half, n - half, cfg.key_stride))
    if centres[-1] < n - half - 1 - cfg.key_stride // 2:
        centres.append(n - half - 1)
    return _keys_at(motion, centres, half, cfg.grid)


def query_keys(motion: np.ndarray, cfg: DedupConfig) -> tuple[np.ndarray, np.ndarray]:
    """Keys a clip searches with: its first and last full window and its motion events, each also
    shifted by up to stride // 2 bins either side, so one of them lines up exactly with an indexed
    key of any copy it overlaps by a window or more. A partial overlap (a trimmed re-upload) always
    holds one clip's start or end; a clip inside a longer one has both inside it."""
    half, n = cfg.key_half_window, len(motion)
    if n < 2 * half + 1:
        return _keys_at(motion, [], half, cfg.grid)
    reach = cfg.key_stride // 2
    seeds = {half, n - half - 1, *anchor_bins(motion, half, cfg.max_keys)}
    centres = sorted({a + d for a in seeds for d in range(-reach, reach + 1) if half <= a + d < n - half})
    return _keys_at(motion, centres, half, cfg.grid)
