"""One clip's technical quality: measure the sampled frames, then judge against the config.

``measure`` turns a clip's luma frames (+ the cutter's per-frame motion) into numbers; ``judge``
lists every gate the numbers fail, first failure first, each as ``(reason, detail)`` with the
metric and its value in the detail (``too_dark 0.031 < 0.080``). Both are pure: the stage only
decodes and plumbs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from humo_data.quality import metrics
from humo_data.quality.borders import content_region, scale_box
from humo_data.quality.config import QualityConfig

TECHNICAL_BACKEND = "technical-v1"


@dataclass
class ClipQuality:
    exposure: float
    contrast: float
    sharpness: float
    motion: float | None  # mean _motion; None when the cutter's motion is absent
    frozen_fraction: float  # share of frame differences that are repeats
    frozen_source: str  # "motion" (every frame) or "sampled" (the stills only)
    border: list[int] | None  # content region x0,y0,x1,y1 in clip pixels
    content_fraction: float  # content area / frame area
    aspect: float  # long / short side of the content region


def decode_gray(records: Sequence[dict] | None) -> list[np.ndarray]:
    """``_frames`` records -> luma frames in time order (JPEG luma decoded directly, no RGB)."""
    out = []
    for r in sorted(records or [], key=lambda r: r["time"]):
        gray = cv2.imdecode(np.frombuffer(r["image"], np.uint8), cv2.IMREAD_GRAYSCALE)
        if gray is None:
            raise ValueError(f"sampled frame {r.get('index')} is not a decodable image")
        out.append(gray)
    return out


def measure(
    grays: list[np.ndarray],
    motion: Sequence[float] | None,
    clip_size: tuple[int, int] | None,
    cfg: QualityConfig,
) -> ClipQuality:
    """Metrics of one clip. ``clip_size`` (w, h) of the encoded clip maps the border box into
    clip pixels; the frames may be at any resolution (source-capped or a 480p re-sample)."""
    h, w = grays[0].shape[:2]
    whole_exposure = float(np.mean([metrics.exposure(g) for g in grays]))
    box = None
    # Borders are looked for only in frames bright enough to tell a bar from a dark scene.
    if cfg.exposure_min is None or whole_exposure >= cfg.exposure_min:
        box = content_region(grays, cfg.border_dark, cfg.border_flat, cfg.border_min_fraction)
    x0, y0, x1, y1 = box or (0, 0, w, h)
    inner = [g[y0:y1, x0:x1] if g.shape[:2] == (h, w) else g for g in grays]

    if motion is not None and len(motion) >= 2:
        diffs, source = np.asarray(motion, np.float64), "motion"
        mean_motion: float | None = float(diffs.mean())
    else:  # a rerun on stored clips without the cutter's motion: the stills are all we have
        diffs, source = np.asarray(metrics.frame_differences(grays) or [1.0], np.float64), "sampled"
        mean_motion = None
    clip_w, clip_h = clip_size or (w, h)
    bw, bh = max(x1 - x0, 1), max(y1 - y0, 1)
    return ClipQuality(
        exposure=float(np.mean([metrics.exposure(g) for g in inner])),
        contrast=float(np.mean([metrics.contrast(g) for g in inner])),
        sharpness=float(np.median([metrics.sharpness(g) for g in inner])),
        motion=mean_motion,
        frozen_fraction=float(np.mean(diffs < cfg.still_diff)),
        frozen_source=source,
        border=scale_box(box, (w, h), (clip_w, clip_h)) if box else None,
        content_fraction=(bw * bh) / float(w * h),
        aspect=max(bw, bh) / float(min(bw, bh)),
    )


def judge(q: ClipQuality, cfg: QualityConfig) -> list[tuple[str, str]]:
    """Every failed gate as (reason, detail): framing first (bars, aspect), then light, focus, motion."""
    fails: list[tuple[str, str]] = []

    def below(reason: str, name: str, value: float | None, bound: float | None, digits: int = 3) -> None:
        if bound is not None and value is not None and value < bound:
            fails.append((reason, f"{reason} {name}{_pair(value, bound, digits, '<')}"))

    def above(reason: str, name: str, value: float | None, bound: float | None, digits: int = 3) -> None:
        if bound is not None and value is not None and value > bound:
            fails.append((reason, f"{reason} {name}{_pair(value, bound, digits, '>')}"))

    if q.border is not None:
        covered = 1.0 - q.content_fraction
        if cfg.borders == "reject" and covered > cfg.max_border_fraction:
            fails.append(
                (
                    "black_borders",
                    f"black_borders cover {covered:.2f} > {cfg.max_border_fraction:.2f} (content {q.border})",
                )
            )
        elif cfg.borders == "crop" and q.content_fraction < cfg.min_content_fraction:
            fails.append(
                (
                    "black_borders",
                    f"black_borders content {q.content_fraction:.2f} < {cfg.min_content_fraction:.2f} "
                    f"of the frame (content {q.border})",
                )
            )
    above("extreme_aspect", "content aspect ", q.aspect, cfg.max_aspect, 2)
    below("too_dark", "exposure ", q.exposure, cfg.exposure_min)
    above("too_bright", "exposure ", q.exposure, cfg.exposure_max)
    below("low_contrast", "contrast ", q.contrast, cfg.contrast_min)
    below("blurry", "sharpness ", q.sharpness, cfg.sharpness_min, 1)
    if cfg.max_frozen_fraction is not None and q.frozen_fraction > cfg.max_frozen_fraction:
        fails.append(
            (
                "frozen",
                f"frozen {q.frozen_fraction:.2f} of {q.frozen_source} frame differences < {cfg.still_diff:g} "
                f"(max {cfg.max_frozen_fraction:.2f})",
            )
        )
    below("too_static", "motion ", q.motion, cfg.motion_min, 4)
    above("too_much_motion", "motion ", q.motion, cfg.motion_max, 4)
    return fails


def _pair(value: float, bound: float, digits: int, op: str) -> str:
    """``value op bound`` with enough decimals that the two printed numbers differ."""
    while digits < 6 and f"{value:.{digits}f}" == f"{bound:.{digits}f}":
        digits += 1
    return f"{value:.{digits}f} {op} {bound:.{digits}f}"
