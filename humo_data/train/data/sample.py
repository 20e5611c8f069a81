"""One triplet row -> one training sample (decoded, windowed, fitted to the bucket).

Every random choice (text dropout, window start) comes from a generator seeded by
(seed, epoch, clip_id), so a sample is the same whichever worker or rank builds it and a resumed
run rebuilds exactly what the interrupted one would have.

A row that cannot be used says why: ``SkipRow(reason)`` for data that is fine but unusable
(too short, filtered by stage flag, no cached features) and ``BadRow(reason, detail)`` for data
that is broken (corrupt clip, unreadable reference, undecodable audio); the dataset turns a
BadRow into an error naming shard and row, or a counted skip (``data.on_error``).
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, field
from typing import Any

import fsspec
import numpy as np

from humo_data.train.config import DataConfig
from humo_data.train.data import columns as C
from humo_data.train.data.audio import cut_window, decode_audio_bytes, decode_audio_track, window_samples
from humo_data.train.data.cached import NULL_TEXT_ID, CachedFeatures, FeatureIndex
from humo_data.train.data.references import fit_reference
from humo_data.train.data.video import ClipTooShort, Crop, clip_info, decode_window
from humo_data.train.data.video_decord import decode_window_decord, decord_available


class SkipRow(Exception):
    def __init__(self, reason: str, detail: str = ""):
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail


class BadRow(SkipRow):
    """Broken input (as opposed to merely unusable)."""


@dataclass
class Sample:
    clip_id: str
    video: np.ndarray | None  # uint8 [F, H, W, 3]; None when cached latents replace it
    references: np.ndarray  # uint8 [R, H, W, 3], R = data.max_references (padding white)
    reference_valid: np.ndarray  # bool [R]
    audio: np.ndarray  # float32 [S]
    has_audio: bool
    caption: str
    face_box: np.ndarray  # float32 [4], NaN when absent
    start: int
    cached: CachedFeatures | None = None
    notes: list[str] = field(default_factory=list)  # counted, not skipped: no_reference, caption_dropped


def row_rng(seed: int, epoch: int, clip_id: str) -> np.random.Generator:
    digest = int.from_bytes(hashlib.blake2b(clip_id.encode(), digest_size=8).digest(), "little")
    return np.random.default_rng([seed, epoch, digest])


def resolve_video_reader(name: str) -> str:
    """``data.video_reader`` checked before the first clip: decord must be installed to be chosen."""
    if name == "decord" and not decord_available():
        raise ImportError("data.video_reader=decord needs decord: pip install 'humo-data[decord]'")
    return name


class SampleBuilder:
    def __init__(self, cfg: DataConfig, seed: int, features: FeatureIndex | None = None):
        self.cfg = cfg
        self.seed = seed
        self.features = features
        self.video_reader = resolve_video_reader(cfg.video_reader)
        self._decode_window = decode_window_decord if self.video_reader == "decord" else decode_window
        self._null_text: np.ndarray | None = None
        if features is not None:
            null = features.get(NULL_TEXT_ID)
            self._null_text = null.text_embeddings if null is not None else None

    # -- pieces ---------------------------------------------------------------------------------
    def _video_bytes(self, row: dict[str, Any]) -> bytes:
        data = row.get(C.VIDEO)
        if data:
            return data
        uri = row.get(C.VIDEO_URI)
        if uri:
            try:
                with fsspec.open(uri, "rb") as f:
                    return f.read()
            except Exception as err:
                raise BadRow("unreadable_video_uri", f"{uri}: {err}") from err
        raise BadRow("no_video", "row has neither video bytes nor video_uri")

    def _clip_shape(self, row: dict[str, Any], video: bytes) -> tuple[int, int, int]:
        """(output frames available at cfg.fps, source height, source width), from the row or the container."""
        n, fps, h, w = row.get(C.NUM_FRAMES), row.get(C.FPS), row.get(C.HEIGHT), row.get(C.WIDTH)
        if n and fps and h and w:
            return int(math.floor(n / fps * self.cfg.fps + 1e-6)), int(h), int(w)
        try:
            duration, h, w = clip_info(video)
        except Exception as err:
            raise BadRow("corrupt_clip", str(err) or type(err).__name__) from err
        return int(math.floor(duration * self.cfg.fps + 1e-6)), h, w

    def _references(self, row: dict[str, Any], height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
        cfg = self.cfg
        refs = (row.get(C.REFERENCES) or [])[: cfg.max_references]
        out = np.full((cfg.max_references, height, width, 3), 255, np.uint8)
        valid = np.zeros(cfg.max_references, bool)
        for i, ref in enumerate(refs):
            image = ref.get(C.REF_IMAGE) if isinstance(ref, dict) else ref
            try:
                out[i] = fit_reference(image, height, width)
            except Exception as err:
                raise BadRow("unreadable_reference", f"reference {i}: {err}") from err
            valid[i] = True
        return out, valid

    def _audio(self, row: dict[str, Any], video: bytes | None, start: int) -> tuple[np.ndarray, bool]:
        cfg = self.cfg
        n = window_samples(cfg.frames, cfg.fps, cfg.audio_sample_rate)
        if row.get(C.HAS_AUDIO) is False:
            return np.zeros(n, np.float32), False
        try:
            if row.get(C.AUDIO):
                wave = decode_audio_bytes(row[C.AUDIO], cfg.audio_sample_rate)
            elif video is not None and row.get(C.HAS_AUDIO) is not False:
                wave = decode_audio_track(video, cfg.audio_sample_rate)  # HuMoSet: the clip's own track
            else:
                return np.zeros(n, np.float32), False
        except ValueError as err:
            if "no audio stream" in str(err) and row.get(C.HAS_AUDIO) is None:
                return np.zeros(n, np.float32), False
            raise BadRow("corrupt_audio", str(err)) from err
        except Exception as err:
            raise BadRow("corrupt_audio", str(err) or type(err).__name__) from err
        if wave.size == 0:
            return np.zeros(n, np.float32), False
        return cut_window(
            wave, start_frame=start, frames=cfg.frames, fps=cfg.fps, sample_rate=cfg.audio_sample_rate
        ), True

    def _face_box(self, row: dict[str, Any], crop: Crop) -> np.ndarray:
        track = row.get(C.FACE_TRACK)
        box = track.get(C.TRACK_MEAN_BOX) if isinstance(track, dict) else None
        if not box or len(box) != 4 or not all(np.isfinite(box)):
            return np.full(4, np.nan, np.float32)
        return np.asarray(crop.box_to_unit(tuple(box)), np.float32)

    # -- the sample -----------------------------------------------------------------------------
    def build(self, row: dict[str, Any], epoch: int) -> Sample:
        cfg = self.cfg
        clip_id = row[C.CLIP_ID]
        if cfg.row_filter == "stage1" and not row.get(C.STAGE1):
            raise SkipRow("not_stage1")
        if cfg.row_filter == "stage2" and not row.get(C.STAGE2):
            raise SkipRow("not_stage2")
        rng = row_rng(self.seed, epoch, clip_id)
        drop_text = rng.random() < cfg.text_dropout
        start_u = rng.random()

        video_bytes = self._video_bytes(row)
        available, src_h, src_w = self._clip_shape(row, video_bytes)
        bh, bw = cfg.bucket_for(src_h, src_w)
        cached = None
        if self.features is not None:
            cached = self.features.get(clip_id)
            if cached is None:
                raise SkipRow("no_cached_features")
            if (cached.num_frames, cached.height, cached.width) != (cfg.frames, bh, bw):
                raise SkipRow(
                    "cached_features_mismatch",
                    f"cached {cached.num_frames}x{cached.height}x{cached.width}, want {cfg.frames}x{bh}x{bw}",
                )
        if cached is not None:
            start = cached.frame_start
        elif available < cfg.frames:
            raise SkipRow("too_short", f"{available} frames < {cfg.frames}")
        else:
            start = int(start_u * (available - cfg.frames + 1)) if cfg.clip_start == "random" else 0

        if cached is not None and cached.video_latents is not None:
            video = None
            crop = Crop.cover(src_h, src_w, bh, bw)
        else:
            video, crop, start = self._decode(video_bytes, start, bh, bw)
        references, valid = self._references(row, bh, bw)
        audio, has_audio = self._audio(row, video_bytes, start)
        caption = row.get(C.CAPTION) or ""
        notes = []
        if not valid.any():
            notes.append("no_reference")
        if not caption:
            notes.append("no_caption")
        if drop_text:
            caption = ""
            notes.append("caption_dropped")
        if cached is not None and drop_text and cached.text_embeddings is not None:
            if self._null_text is None:
                raise SkipRow("no_cached_null_text", f"features lack the {NULL_TEXT_ID} row")
            cached.text_embeddings = self._null_text
        box = self._face_box(row, crop)
        return Sample(clip_id, video, references, valid, audio, has_audio, caption, box, start, cached, notes)

    def _decode(self, video: bytes, start: int, height: int, width: int) -> tuple[np.ndarray, Crop, int]:
        """The window at ``start``; when the container overstated its length, the last full window."""
        cfg = self.cfg
        kw = dict(frames=cfg.frames, fps=cfg.fps, height=height, width=width)
        try:
            try:
                d = self._decode_window(video, start=start, **kw)
            except ClipTooShort as short:
                total = getattr(short, "total", 0)
                if total < cfg.frames:
                    raise SkipRow("too_short", f"{total} frames < {cfg.frames}") from short
                d = self._decode_window(video, start=total - cfg.frames, **kw)
        except SkipRow:
            raise
        except Exception as err:
            raise BadRow("corrupt_clip", str(err) or type(err).__name__) from err
        return d.frames, d.crop, d.start
