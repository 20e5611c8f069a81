"""The cut stage: one pass over a source -> shots -> clips, each encoded once (H.264 + AAC, FLAC).

Per source it decodes every frame once onto the constant-fps grid, feeds a downscaled copy to
the shot detector and the full-size planes to the encoder of the open clip, so memory stays at
a few frames plus the compressed clips waiting for their audio. It yields one row per clip, one
reject row per shot too short to give a clip, and a final ``done`` marker carrying the number
of rows the source produced (the writer uses it to know the source is complete).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass

from humo_data.clips.planner import (
    ClipClose,
    ClipFrames,
    ClipOpen,
    ClipPlanner,
    ShotTooShort,
    frame_bounds,
)
from humo_data.config import ClipsConfig, ShotsConfig, StrictModel
from humo_data.media.decode import SourceReader
from humo_data.media.encode import ClipEncoder, encode_audio
from humo_data.shots import build_shot_detector
from humo_data.stage import Row, Stage

# Muxers interleave audio within a second or two of video; waiting longer means no audio is coming.
AUDIO_WAIT_SECONDS = 10.0


class CutConfig(StrictModel):
    shots: ShotsConfig = ShotsConfig()
    clips: ClipsConfig = ClipsConfig()

    @property
    def resources(self):
        return self.clips.resources


def is_blank(small_bgr, threshold: float | None) -> bool:
    """A near-black frame (fade, black separator): mean pixel value under ``threshold``."""
    return threshold is not None and small_bgr is not None and float(small_bgr.mean()) < threshold


def clip_id_for(source_id: str, fps: float, start_frame: int, num_frames: int) -> str:
    key = f"{source_id}|{fps:g}|{start_frame}|{num_frames}"
    return hashlib.sha256(key.encode()).hexdigest()[:24]


@dataclass
class _OpenClip:
    event: ClipOpen
    encoder: ClipEncoder


@dataclass
class _PendingClip:
    """A clip whose video is complete, waiting until the audio stream has reached its end."""

    event: ClipOpen
    encoder: ClipEncoder
    length: int

    def end_time(self, fps: float) -> float:
        return (self.event.start + self.length) / fps


class ClipCutStage(Stage[CutConfig]):
    name = "clips"
    emit_rows = 1  # each clip row carries MBs of media: hand it on as soon as it exists

    def process(self, rows: list[Row]) -> Iterator[Row]:
        for row in rows:
            yield from self.cut(row)

    def cut(self, source: Row) -> Iterator[Row]:
        from humo_data.io.sources import open_media  # io/ owns URI access (local or fsspec)

        emitted = 0
        try:
            with open_media(source["source_uri"]) as media:
                for row in self._cut_media(source, media):
                    emitted += 1
                    yield row
        except Exception as err:  # noqa: BLE001 - bad media becomes a reject row, never a crash
            emitted += 1
            yield self.reject(
                dict(source, _kind="clip"), "decode_error", f"{type(err).__name__}: {err}"[:500]
            )
        yield dict(source, _kind="done", _rows_expected=emitted)

    def _cut_media(self, source: Row, media) -> Iterator[Row]:
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

            def handle(events) -> Iterator[Row]:
                nonlocal open_clip
                for ev in events:
                    if isinstance(ev, ClipOpen):
                        encoder = ClipEncoder(
                            *reader.size,
                            cfg.fps,
                            crf=cfg.crf,
                            preset=cfg.preset,
                            threads=cfg.encode_threads,
                            audio_rate=cfg.audio_sample_rate if has_audio else None,
                        )
                        open_clip = _OpenClip(ev, encoder)
                    elif isinstance(ev, ClipFrames):
                        for frame in ev.frames:
                            open_clip.encoder.add(frame.frame)
                    elif isinstance(ev, ClipClose):
                        if ev.keep:
                            pending.append(_PendingClip(open_clip.event, open_clip.encoder, ev.length))
                        else:
                            open_clip.encoder.abort()
                        open_clip = None
                    elif isinstance(ev, ShotTooShort):
                        yield self._shot_reject(source, ev, min_frames)

            last = -1
            was_blank = False
            for frame in reader.frames():
                last = frame.index
                cuts = detector.push(frame.index, frame.small_bgr) if frame.small_bgr is not None else []
                blank = is_blank(frame.small_bgr, shots.blank_threshold)
                if blank != was_blank and frame.index > 0:
                    cuts.append(frame.index)  # entering or leaving a blank run is a shot boundary
                was_blank = blank
                yield from handle(planner.push(frame.index, frame, cuts, usable=not blank))
                yield from self._flush_ready(source, reader, pending, final=False, now=frame.time)
            if last < 0:
                yield self.reject(dict(source, _kind="clip"), "no_decodable_frames", "no video frame decoded")
                return
            yield from handle(planner.finish(last, detector.flush(last)))
            yield from self._flush_ready(source, reader, pending, final=True, now=last / cfg.fps)
            duration = source.get("source_duration")
            decoded = (last + 1) / cfg.fps
            if reader.decode_errors or (duration and decoded < 0.9 * duration - 1.0):
                yield self.reject(
                    dict(source, _kind="clip", start_time=decoded, end_time=duration),
                    "truncated_stream",
                    f"decoded {decoded:.2f}s of {duration or 0:.2f}s ({reader.decode_errors} bad packets); "
                    "clips before the damage were kept",
                )

    def _flush_ready(
        self, source: Row, reader: SourceReader, pending: list[_PendingClip], final: bool, now: float
    ):
        """Emit clips whose audio has arrived. Video running ``AUDIO_WAIT_SECONDS`` ahead means the
        audio track ended early (its clips get zero-padded audio), so clips never pile up."""
        fps = self.config.clips.fps
        while pending and (
            final
            or not source.get("has_audio")
            or reader.audio.end_time >= pending[0].end_time(fps)
            or now - pending[0].end_time(fps) > AUDIO_WAIT_SECONDS
        ):
            yield self._clip_row(source, reader, pending.pop(0))
        if not final:
            horizon = min([p.event.start / fps for p in pending], default=None)
            if horizon is not None:
                reader.audio.release_before(horizon - 1.0)

    def _clip_row(self, source: Row, reader: SourceReader, clip: _PendingClip) -> Row:
        cfg = self.config.clips
        start, n = clip.event.start, clip.length
        t0, t1 = start / cfg.fps, (start + n) / cfg.fps
        audio = reader.audio.slice(t0, t1) if source.get("has_audio") else None
        video = clip.encoder.finish(audio)
        if audio is not None:
            reader.audio.release_before(t0 - 1.0)
        width, height = reader.size
        return dict(
            source,
            _kind="clip",
            clip_id=clip_id_for(source["source_id"], cfg.fps, start, n),
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
            reference_images=[],
            stage1=False,
            stage2=False,
        )

    def _shot_reject(self, source: Row, ev: ShotTooShort, min_frames: int) -> Row:
        fps = self.config.clips.fps
        row = dict(
            source, _kind="clip", shot_index=ev.shot_index, start_time=ev.start / fps, end_time=ev.end / fps
        )
        return self.reject(
            row,
            "shot_too_short",
            f"shot {ev.shot_index} lasts {(ev.end - ev.start) / fps:.2f}s; clips need >= {min_frames / fps:.2f}s "
            "after trimming the shot margins",
        )
