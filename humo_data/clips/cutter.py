"""The cut stage: one pass over a source -> shots -> clips, each encoded once (H.264 + AAC, FLAC).

Per source it decodes every frame once onto the constant-fps grid, feeds a downscaled copy to
the shot detector and the full-size planes to the encoder of the open clip, so memory stays at
a few frames plus the compressed clips waiting for their audio. While it holds the decoded
frames it also hands later stages what they need, so no stage decodes the source again:

- ``_frames``: stills at source resolution (short side capped) at ``frames.fractions`` of the
  clip, taken from candidates kept every ``frames.every_seconds`` (a clip's length is known only
  when it closes);
- ``_motion``: mean |difference| of consecutive detection-size frames;
- ``_audio_pcm``: the clip's 16 kHz audio with ``audio_margin_seconds`` on both sides, so the
  sync stage can shift audio without re-reading the source.

It yields one row per clip, one reject row per shot too short to give a clip (and ``all_blank``
when a source is nothing but near-black frames), and a final ``done`` marker listing every unit
id the source produced plus its drop counts (the writer tracks completion by those ids).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import cv2
import numpy as np
from pydantic import Field

from humo_data.clips.planner import (
    ClipClose,
    ClipFrames,
    ClipOpen,
    ClipPlanner,
    ShotTooShort,
    frame_bounds,
)
from humo_data.config import ClipsConfig, FramesConfig, ShotsConfig, StrictModel
from humo_data.ids import clip_id_for, reject_id_for
from humo_data.io.retry import describe, is_retryable
from humo_data.media.audio import pcm_to_bytes
from humo_data.media.decode import OutputFrame, SourceReader
from humo_data.media.encode import ClipEncoder, encode_audio
from humo_data.shots import build_shot_detector
from humo_data.stage import FanOutStage, Row

# Muxers interleave audio within a second or two of video; waiting longer means no audio is coming.
AUDIO_WAIT_SECONDS = 10.0


class CutConfig(StrictModel):
    shots: ShotsConfig = ShotsConfig()
    clips: ClipsConfig = ClipsConfig()
    frames: FramesConfig = FramesConfig()
    audio_margin_seconds: float = Field(
        0.0, ge=0, description="Audio kept on both sides of each clip for the sync stage (_audio_pcm)."
    )
    #: working columns later stages need; False skips them (a cut-only job, benchmarks of the cutter)
    hand_on: bool = True

    @property
    def resources(self):
        return self.clips.resources


def encode_bgr(bgr: np.ndarray, fmt: str, quality: int) -> bytes:
    """BGR uint8 -> JPEG/PNG bytes, the same files ``media.frames.encode_image`` writes from RGB."""
    if fmt == "png":
        ok, buf = cv2.imencode(".png", bgr, [cv2.IMWRITE_PNG_COMPRESSION, 3])
    else:
        ok, buf = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    if not ok:
        raise ValueError(f"could not encode a {bgr.shape} image as {fmt}")
    return buf.tobytes()


def mean_level(small_bgr: np.ndarray) -> float:
    """Mean pixel value over all channels (OpenCV's per-channel sums: no float64 copy of the image).
    Under ``shots.blank_threshold`` a frame is blank (fade, black separator)."""
    channels = small_bgr.shape[2] if small_bgr.ndim == 3 else 1
    return sum(cv2.mean(small_bgr)[:channels]) / channels


@dataclass
class _Still:
    """A candidate sampled frame, encoded at once (a 10 s clip keeps ~25 of them)."""

    index: int  # output-grid index in the source
    width: int
    height: int
    image: bytes


@dataclass
class _OpenClip:
    event: ClipOpen
    encoder: ClipEncoder
    stills: list[_Still] = field(default_factory=list)
    motion: list[float] = field(default_factory=list)


@dataclass
class _PendingClip:
    """A clip whose video is complete, waiting until the audio stream has reached its end."""

    event: ClipOpen
    encoder: ClipEncoder
    length: int
    stills: list[_Still]
    motion: list[float]

    def end_time(self, fps: float) -> float:
        return (self.event.start + self.length) / fps


@dataclass
class _SourceStats:
    """What a source lost without a clip row, so the manifest can count every drop."""

    frames: int = 0
    blank_frames: int = 0
    blank_level_sum: float = 0.0
    dropped_tails: int = 0
    dropped_tail_frames: int = 0

    def to_row(self, fps: float) -> dict:
        return {
            "frames": self.frames,
            "blank_frames": self.blank_frames,
            "dropped_tails": self.dropped_tails,
            "dropped_tail_seconds": self.dropped_tail_frames / fps,
        }


class ClipCutStage(FanOutStage[CutConfig]):
    name = "clips"
    emit_rows = 1  # each clip row carries MBs of media: hand it on as soon as it exists

    def process(self, rows: list[Row]) -> Iterator[Row]:
        for row in rows:
            yield from self.cut(row)

    def reject_row(self, row: Row, reason: str, detail: str | None = None) -> Row:
        out = dict(row, _kind="clip", _reject_stage=self.name, _reject_reason=reason, _reject_detail=detail)
        out["_unit"] = reject_id_for(out)
        return out

    def cut(self, source: Row) -> Iterator[Row]:
        from humo_data.io.sources import open_media  # io/ owns URI access (local or fsspec)

        units: list[str] = []
        stats = _SourceStats()
        try:
            with open_media(source["source_uri"]) as media:
                for row in self._cut_media(source, media, stats):
                    units.append(row["_unit"])
                    yield row
        except Exception as err:  # noqa: BLE001 - bad media becomes a reject row, never a crash
            if is_retryable(err):  # the store failed, not the video: the next run tries again
                yield dict(source, _kind="retry", _reject_stage=self.name, _reject_reason="retryable_io",
                           _reject_detail=describe(err), _unit=None)  # fmt: skip
                return
            row = self.reject_row(source, "decode_error", describe(err))
            units.append(row["_unit"])
            yield row
        yield dict(
            source, _kind="done", _unit=None, _expected_units=units,
            _source_stats=stats.to_row(self.config.clips.fps),
        )  # fmt: skip

    def _still_due(self, clip: _OpenClip, index: int) -> bool:
        step = max(1, int(round(self.config.frames.every_seconds * self.config.clips.fps)))
        return (index - clip.event.start) % step == 0

    def _cut_media(self, source: Row, media, stats: _SourceStats) -> Iterator[Row]:
        cfg, shots = self.config.clips, self.config.shots
        snap = 4 if cfg.frame_rule == "4k+1" else 1
        min_frames, max_frames = frame_bounds(cfg.min_seconds, cfg.max_seconds, cfg.fps, snap)
        detector = build_shot_detector(shots, cfg.fps)
        has_audio = bool(source.get("has_audio"))
        planner = ClipPlanner(
            min_frames=min_frames,
            max_frames=max_frames,
            margin=int(round(cfg.shot_margin_seconds * cfg.fps)),
            latency=detector.latency,
            snap=snap,
        )
        open_clip: _OpenClip | None = None
        pending: list[_PendingClip] = []
        with SourceReader(
            media,
            fps=cfg.fps,
            short_side=cfg.short_side,
            upscale=cfg.upscale,
            detect_width=None
            if shots.backend == "none" and shots.blank_threshold is None
            else shots.detect_width,
            audio_rate=cfg.audio_sample_rate,
            with_audio=has_audio,
            threads=cfg.decode_threads,
        ) as reader:
            hand_on = self.config.hand_on

            def handle(events, frame: OutputFrame | None = None) -> Iterator[Row]:
                nonlocal open_clip
                for ev in events:
                    if isinstance(ev, ClipOpen):
                        encoder = ClipEncoder(
                            *reader.size,
                            cfg.fps,
                            crf=cfg.crf,
                            preset=cfg.preset,
                            x264_params=cfg.x264_params,
                            threads=cfg.encode_threads,
                            audio_rate=cfg.audio_sample_rate if has_audio else None,
                            background=True,  # x264 beside the decoding thread
                        )
                        open_clip = _OpenClip(ev, encoder)
                    elif isinstance(ev, ClipFrames):
                        for f in ev.frames:
                            open_clip.encoder.add(f.frame)
                            if hand_on:
                                self._observe(open_clip, f, reader, motion)
                    elif isinstance(ev, ClipClose):
                        if ev.keep:
                            pending.append(
                                _PendingClip(open_clip.event, open_clip.encoder, ev.length,
                                             open_clip.stills, open_clip.motion)
                            )  # fmt: skip
                        else:
                            open_clip.encoder.abort()
                            if planner.shot_clips:  # a tail after kept clips (a short shot is its own reject)
                                stats.dropped_tails += 1
                                stats.dropped_tail_frames += ev.length
                        open_clip = None
                    elif isinstance(ev, ShotTooShort):
                        yield self._shot_reject(source, ev, min_frames)

            last = -1
            was_blank = False
            emitted = 0
            motion: dict[int, float] = {}  # output index -> |diff| to the previous frame (recent only)
            prev_gray: np.ndarray | None = None
            for frame in reader.frames():
                last = frame.index
                stats.frames += 1
                cuts = detector.push(frame.index, frame.small_bgr) if frame.small_bgr is not None else []
                level = mean_level(frame.small_bgr) if frame.small_bgr is not None else None
                blank = (
                    shots.blank_threshold is not None and level is not None and level < shots.blank_threshold
                )
                if blank:
                    stats.blank_frames += 1
                    stats.blank_level_sum += level
                if blank != was_blank and frame.index > 0:
                    cuts.append(frame.index)  # entering or leaving a blank run is a shot boundary
                was_blank = blank
                if hand_on and frame.small_bgr is not None:
                    gray = cv2.cvtColor(frame.small_bgr, cv2.COLOR_BGR2GRAY)
                    if prev_gray is not None and prev_gray.shape == gray.shape:
                        motion[frame.index] = cv2.mean(cv2.absdiff(gray, prev_gray))[0] / 255.0
                    prev_gray = gray
                    motion.pop(
                        frame.index - planner.hold - 8, None
                    )  # committed frames lag by hold + a 4k group
                for row in handle(planner.push(frame.index, frame, cuts, usable=not blank)):
                    emitted += 1
                    yield row
                for row in self._flush_ready(source, reader, pending, final=False, now=frame.time):
                    emitted += 1
                    yield row
            if last < 0:
                yield self.reject_row(source, "no_decodable_frames", "no video frame decoded")
                return
            for row in handle(planner.finish(last, detector.flush(last))):
                emitted += 1
                yield row
            for row in self._flush_ready(source, reader, pending, final=True, now=last / cfg.fps):
                emitted += 1
                yield row
            if emitted == 0:
                yield self._no_clip_reject(source, stats)
            duration = source.get("source_duration")
            decoded = (last + 1) / cfg.fps
            if reader.decode_errors or (duration and decoded < 0.9 * duration - 1.0):
                yield self.reject_row(
                    dict(source, start_time=decoded, end_time=duration),
                    "truncated_stream",
                    f"decoded {decoded:.2f}s of {duration or 0:.2f}s ({reader.decode_errors} bad packets); "
                    "clips before the damage were kept",
                )

    def _observe(self, clip: _OpenClip, frame: OutputFrame, reader: SourceReader, motion: dict[int, float]):
        """Per-frame hand-on data of the open clip: motion, and a still when one is due."""
        if frame.index != clip.event.start and frame.index in motion:
            clip.motion.append(motion[frame.index])
        if self._still_due(clip, frame.index):
            fr = self.config.frames
            bgr = reader.still(frame, fr.short_side, pix_fmt="bgr24")  # OpenCV's order: no extra conversion
            image = encode_bgr(bgr, fr.format, fr.jpeg_quality)
            clip.stills.append(_Still(frame.index, bgr.shape[1], bgr.shape[0], image))

    def _no_clip_reject(self, source: Row, stats: _SourceStats) -> Row:
        """A decodable source that gave no clip and no shot reject: say why, never vanish."""
        fps = self.config.clips.fps
        if stats.blank_frames and stats.blank_frames >= 0.95 * stats.frames:
            level = stats.blank_level_sum / stats.blank_frames
            return self.reject_row(
                source, "all_blank",
                f"{stats.blank_frames}/{stats.frames} frames are near-black (mean level {level:.1f} < "
                f"shots.blank_threshold={self.config.shots.blank_threshold})",
            )  # fmt: skip
        return self.reject_row(
            source, "no_clips",
            f"{stats.frames / fps:.2f}s decoded, {stats.blank_frames} blank frames, {stats.dropped_tails} "
            f"piece(s) shorter than clips.min_seconds={self.config.clips.min_seconds}",
        )  # fmt: skip

    def _flush_ready(
        self, source: Row, reader: SourceReader, pending: list[_PendingClip], final: bool, now: float
    ):
        """Emit clips whose audio has arrived. Video running ``AUDIO_WAIT_SECONDS`` ahead means the
        audio track ended early (its clips get zero-padded audio), so clips never pile up."""
        fps, margin = self.config.clips.fps, self.config.audio_margin_seconds
        while pending and (
            final
            or not source.get("has_audio")
            or reader.audio.end_time >= pending[0].end_time(fps) + margin
            or now - pending[0].end_time(fps) > AUDIO_WAIT_SECONDS
        ):
            yield self._clip_row(source, reader, pending.pop(0))
        if not final:
            horizon = min([p.event.start / fps for p in pending], default=None)
            if horizon is not None:
                reader.audio.release_before(horizon - max(1.0, margin + 0.5))

    def _clip_row(self, source: Row, reader: SourceReader, clip: _PendingClip) -> Row:
        cfg = self.config.clips
        start, n = clip.event.start, clip.length
        t0, t1 = start / cfg.fps, (start + n) / cfg.fps
        margin = self.config.audio_margin_seconds
        hand_on = self.config.hand_on
        audio = reader.audio.slice(t0, t1) if source.get("has_audio") else None
        padded = reader.audio.slice(t0 - margin, t1 + margin) if audio is not None and hand_on else None
        video = clip.encoder.finish(audio)
        if audio is not None:
            reader.audio.release_before(t0 - max(1.0, margin + 0.5))
        width, height = reader.size
        clip_id = clip_id_for(source["source_id"], cfg.fps, start, n)
        return dict(
            source,
            _kind="clip",
            _unit=clip_id,
            _frames=self._pick_stills(clip, start, n) if hand_on else None,
            _motion=clip.motion if hand_on else None,
            _audio_pcm=pcm_to_bytes(padded) if padded is not None else None,
            _audio_margin=margin if padded is not None else None,
            clip_id=clip_id,
            shot_index=clip.event.shot_index,
            clip_index=clip.event.clip_index,
            start_time=t0,
            end_time=t1,
            fps=cfg.fps,
            num_frames=n,
            width=width,
            height=height,
            video=video,
            video_codec="h264",
            has_audio=audio is not None,
            audio=encode_audio(audio, cfg.audio_sample_rate, cfg.audio_format) if audio is not None else None,
            audio_format=cfg.audio_format if audio is not None else None,
            audio_sample_rate=cfg.audio_sample_rate if audio is not None else None,
            audio_offset_frames=0 if audio is not None else None,
            shot_backend=self.config.shots.backend,
            stage1=False,
            stage2=False,
        )

    def _pick_stills(self, clip: _PendingClip, start: int, n: int) -> list[dict]:
        """The candidates nearest to ``frames.fractions`` of the final clip length, as ``_frames``."""
        fr = self.config.frames
        inside = [s for s in clip.stills if start <= s.index < start + n]
        chosen: dict[int, _Still] = {}
        for f in fr.fractions:
            target = start + f * (n - 1)
            best = min(inside, key=lambda s: abs(s.index - target), default=None)
            if best is not None:
                chosen[best.index] = best
        fps = self.config.clips.fps
        return [
            {"index": s.index - start, "time": (s.index - start) / fps, "width": s.width, "height": s.height,
             "image": s.image}
            for s in sorted(chosen.values(), key=lambda s: s.index)
        ]  # fmt: skip

    def _shot_reject(self, source: Row, ev: ShotTooShort, min_frames: int) -> Row:
        fps = self.config.clips.fps
        row = dict(source, shot_index=ev.shot_index, start_time=ev.start / fps, end_time=ev.end / fps)
        return self.reject_row(
            row,
            "shot_too_short",
            f"shot {ev.shot_index} lasts {(ev.end - ev.start) / fps:.2f}s; clips need >= {min_frames / fps:.2f}s "
            "after trimming the shot margins",
        )


def cut_config(cfg, clips: ClipsConfig | None = None) -> CutConfig:
    """The cutter's settings from a CurateConfig: the audio margin is the sync stage's search range."""
    margin = cfg.sync.max_offset_frames / cfg.clips.fps if cfg.sync.enabled else 0.0
    return CutConfig(
        shots=cfg.shots, clips=clips or cfg.clips, frames=cfg.frames, audio_margin_seconds=margin
    )


def cut_source(uri: str, cfg=None) -> pa.Table:  # noqa: F821 - pyarrow imported inside
    """Probe and cut one file in this process: the working table later stages receive (clip rows
    with ``_frames``, ``_motion``, ``_audio_pcm``; reject rows; the ``done`` marker). For tests,
    notebooks and benchmarks of single stages; the job runs the same stages on Ray."""
    import pyarrow as pa

    from humo_data.config import CurateConfig
    from humo_data.io.sources import source_size
    from humo_data.media.probe import ProbeStage
    from humo_data.stage import rows_to_table

    cfg = cfg or CurateConfig()
    source = {"source_uri": str(uri), "_kind": "source", "_source_size": source_size(str(uri))}
    rows = ProbeStage(cfg.probe).process([source])
    tables = list(ClipCutStage(cut_config(cfg))(rows_to_table(rows)))
    return pa.concat_tables(tables) if tables else rows_to_table([])
