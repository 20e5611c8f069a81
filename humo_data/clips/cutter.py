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

Interlaced sources are deinterlaced by the reader before scaling (``source_interlaced``). Damage
keeps what decodes: frames inside a damage span (``media.damage``: decoder errors, through the
frames that predict from them up to the next clean keyframe) go into no clip, so clips end before
the span and start again after it; a clip that already held frames of a span when the decoder
reported it is dropped. Each span becomes one ``damaged_packets`` reject row naming its times
and what failed; a stream that ends early (or a container unreadable past some point) is
``truncated_stream``; ``decode_error`` is left for sources with no cleanly decoded frame at all.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from contextlib import nullcontext
from dataclasses import dataclass, field

import cv2
import numpy as np
from pydantic import Field

from humo_data.clips.config import ClipsConfig, FramesConfig
from humo_data.clips.planner import (
    ClipClose,
    ClipFrames,
    ClipOpen,
    ClipPlanner,
    ShotTooShort,
)
from humo_data.clips.ranges import (
    RangePart,
    RangeReport,
    RangeResult,
    SplitOutcome,
    cut_in_ranges,
    detector_state,
    plan_ranges,
)
from humo_data.config_base import StrictModel
from humo_data.ids import clip_id_for, reject_id_for
from humo_data.io.retry import describe, is_retryable
from humo_data.media.audio import pcm_to_bytes
from humo_data.media.damage import DamageSpan
from humo_data.media.decode import OutputFrame, SourceReader, first_video_time
from humo_data.media.encode import ClipEncoder, choose_encoder, encode_audio
from humo_data.media.errors import ffmpeg_words
from humo_data.media.hwdecode import choose_decoder
from humo_data.shots import build_shot_detector
from humo_data.shots.config import ShotsConfig
from humo_data.stage import FanOutStage, Row

# Muxers interleave audio within a second or two of video; waiting longer means no audio is coming.
AUDIO_WAIT_SECONDS = 10.0
#: a range reads its audio from the source start; it keeps it this far ahead of the video, as a
#: muxer interleaves it in a whole pass
AUDIO_LEAD_SECONDS = 1.0
#: frames a range decodes past its end cut at most, so that a late damage report on its last clip
#: (``media.damage`` lookback) is seen
SETTLE_FRAMES = 16


@dataclass
class _Seen:
    """A decoded frame and what the detectors made of it (a range holds a few before it owns any)."""

    frame: OutputFrame
    cuts: list[int]
    blank: bool
    level: float | None
    damaged: bool


class CutConfig(StrictModel):
    shots: ShotsConfig = ShotsConfig()
    clips: ClipsConfig = ClipsConfig()
    frames: FramesConfig = FramesConfig()
    audio_margin_seconds: float = Field(
        0.0, ge=0, description="Audio kept on both sides of each clip for the sync stage (_audio_pcm)."
    )
    #: working columns later stages need; False skips them (a cut-only job, benchmarks of the cutter)
    hand_on: bool = True
    #: split only sources of at least this many bytes (the streaming pass sets its run's bytes per
    #: CPU: a source bigger than that share would run alone at the end; 0 = any size)
    split_from_bytes: int = Field(0, ge=0)

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
    first_source_time: float | None = None  # source times of its first and last frame
    last_source_time: float | None = None
    interlaced: bool = False  # a frame of it was deinterlaced

    def took(self, frame: OutputFrame) -> None:
        if self.first_source_time is None:
            self.first_source_time = frame.source_time
        self.last_source_time = frame.source_time
        self.interlaced = self.interlaced or frame.interlaced


@dataclass
class _PendingClip:
    """A clip whose video is complete, waiting until the audio stream has reached its end (and the
    decoder is far enough past it that no late damage report can reach back into it)."""

    event: ClipOpen
    encoder: ClipEncoder
    length: int
    stills: list[_Still]
    motion: list[float]
    first_source_time: float
    last_source_time: float
    interlaced: bool

    def end_time(self, fps: float) -> float:
        return (self.event.start + self.length) / fps


@dataclass(frozen=True)
class _Codecs:
    """The worker's video encoder and decoder (``clips.encoder``/``clips.decoder`` after their
    preflights, once per process)."""

    encoder: str  # libx264 | h264_nvenc
    decoder: str  # cpu | nvdec


@dataclass
class _SourceStats:
    """What a source lost without a clip row, so the manifest can count every drop."""

    frames: int = 0
    blank_frames: int = 0
    blank_level_sum: float = 0.0
    damaged_frames: int = 0
    dropped_tails: int = 0
    dropped_tail_frames: int = 0
    decoder_fallback: str | None = None  # why NVDEC (clips.decoder) did not decode this source
    ranges: int = 0  # time ranges it was cut in (clips/ranges.py; 0: one pass)
    redone: int = 0  # 1: a range was redone from the source start (or the source cut in one pass)

    def add(self, other: _SourceStats) -> None:
        """Add a range's counts (``clips/ranges.py``); a decoder fallback is the first range's."""
        for name, value in vars(other).items():
            mine = getattr(self, name)
            if isinstance(value, (int, float)):
                setattr(self, name, mine + value)
            elif mine is None:
                setattr(self, name, value)

    def to_row(self, fps: float) -> dict:
        return {
            "frames": self.frames,
            "blank_frames": self.blank_frames,
            "dropped_tails": self.dropped_tails,
            "dropped_tail_seconds": self.dropped_tail_frames / fps,
            "decoder_fallback": self.decoder_fallback,
            "ranges": self.ranges,
            "redone": self.redone,
        }


class ClipCutStage(FanOutStage[CutConfig]):
    name = "clips"
    emit_rows = 1  # each clip row carries MBs of media: hand it on as soon as it exists
    inputs = (
        "source_uri", "source_id", "has_audio", "source_width", "source_height", "source_rotation",
        "source_fps", "source_vfr", "source_duration",
    )  # fmt: skip
    outputs = (
        "clip_id", "shot_index", "clip_index", "start_time", "end_time", "fps", "num_frames", "width",
        "height", "video", "video_codec", "video_encoder", "video_decoder", "has_audio", "audio", "audio_format",
        "audio_sample_rate", "audio_offset_frames", "shot_backend", "stage1", "stage2", "source_interlaced",
        # hand-off to later stages: sampled stills, per-frame motion, audio with a margin
        "_frames", "_motion", "_audio_pcm", "_audio_margin",
        # bookkeeping: what each source produced, and what it lost without a row
        "_expected_units", "_source_stats",
    )  # fmt: skip

    last_split: SplitOutcome | None = None

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
        # Outside the per-source try: a GPU codec asked for explicitly (nvenc, nvdec) and missing
        # fails the task, instead of committing every source as a decode_error reject.
        codecs = self._codecs()
        try:
            big = (
                self.config.clips.split_when == "always"
                or (source.get("_source_size") or 0) >= self.config.split_from_bytes
            )
            split = plan_ranges(source.get("source_duration"), self.config.clips) if big else []
            if split:
                with open_media(source["source_uri"]) as media:
                    origin = first_video_time(media)
                split = split if origin is not None else []
            outcome = SplitOutcome(whole=not split)
            self.last_split = outcome if split else None  # what the last source's split did (tests, logs)
            if split:  # a long source: its time ranges by several workers (clips/ranges.py)
                for row in cut_in_ranges(self, source, split, origin, stats, outcome):
                    units.append(row["_unit"])
                    yield row
                if not outcome.whole:
                    if outcome.emitted == 0:
                        row = self._no_clip_reject(source, stats)
                        units.append(row["_unit"])
                        yield row
                    for row in self._damage_rejects(source, outcome.spans, outcome.read_error, outcome.last):
                        units.append(row["_unit"])
                        yield row
                else:
                    stats = _SourceStats()
                stats.ranges, stats.redone = (
                    outcome.ranges,
                    int(outcome.whole or outcome.redone_from is not None),
                )
            if outcome.whole:
                with open_media(source["source_uri"]) as media:
                    for row in self._cut_media(source, media, stats, codecs):
                        units.append(row["_unit"])
                        yield row
        except Exception as err:  # noqa: BLE001 - bad media becomes a reject row, never a crash
            if is_retryable(err):  # the store failed, not the video: the next run tries again
                yield dict(source, _kind="retry", _reject_stage=self.name, _reject_reason="retryable_io",
                           _reject_detail=describe(err), _unit=None)  # fmt: skip
                return
            row = self.reject_row(source, "decode_error", _failure_words(err, stats, self.config.clips.fps))
            units.append(row["_unit"])
            yield row
        yield dict(
            source, _kind="done", _unit=None, _expected_units=units,
            _source_stats=stats.to_row(self.config.clips.fps),
        )  # fmt: skip

    def cut_range(self, source: Row, part: RangePart) -> RangeResult:
        """One time range of a source (``clips/ranges.py``): its rows and what it found. A failure
        is reported, not raised: the source's task redoes the range from the source start."""
        from humo_data.io.sources import open_media

        report = RangeReport(stats=_SourceStats())
        rows: list[Row] = []
        uri = source["source_uri"]
        codecs = self._codecs()
        try:
            with (
                open_media(uri) as media,
                open_media(uri) if source.get("has_audio") else nullcontext() as audio,
            ):
                for row in self._cut_media(source, media, report.stats, codecs, part, report, audio):
                    rows.append(row)
        except Exception as err:  # noqa: BLE001 - the exact redo says what is wrong, once
            if is_retryable(err):
                raise
            report.error = _failure_words(err, report.stats, self.config.clips.fps)
        return RangeResult(rows, report)

    def shot_reject_row(self, source: Row, shot_index: int, start: int, end: int) -> Row:
        """A ``shot_too_short`` row for shot ``shot_index`` spanning frames [start, end)."""
        min_frames, _ = self.config.clips.frame_bounds()
        return self._shot_reject(source, ShotTooShort(shot_index, start, end), min_frames)

    def _codecs(self) -> _Codecs:
        return _Codecs(
            choose_encoder(self.config.clips.encoder).name, choose_decoder(self.config.clips.decoder).name
        )

    def _still_due(self, clip: _OpenClip, index: int) -> bool:
        step = max(1, int(round(self.config.frames.every_seconds * self.config.clips.fps)))
        return (index - clip.event.start) % step == 0

    def _cut_media(
        self, source: Row, media, stats: _SourceStats, codecs: _Codecs, part: RangePart | None = None,
        report: RangeReport | None = None, audio_media=None,
    ) -> Iterator[Row]:  # fmt: skip
        """One pass over ``media``: the whole source, or (``part``) one time range of it, which owns
        the shots starting in [its first cut >= part.start, its first cut >= part.end) and fills
        ``report`` so that ``clips/ranges.py`` can check it against its neighbours and add up the
        source's bookkeeping (a range yields clips and shot rejects only)."""
        cfg, shots = self.config.clips, self.config.shots
        min_frames, max_frames = cfg.frame_bounds()
        detector = build_shot_detector(shots, cfg.fps)
        has_audio = bool(source.get("has_audio"))
        planner = ClipPlanner(
            min_frames=min_frames,
            max_frames=max_frames,
            margin=int(round(cfg.shot_margin_seconds * cfg.fps)),
            latency=detector.latency,
            snap=cfg.snap,
        )
        open_clip: _OpenClip | None = None
        pending: list[_PendingClip] = []
        ranged = part is not None
        try:
            reader = SourceReader(
                media,
                fps=cfg.fps,
                short_side=cfg.short_side,
                upscale=cfg.upscale,
                detect_width=None
                if shots.backend == "none" and shots.blank_threshold is None
                else shots.detect_width,
                audio_rate=cfg.audio_sample_rate,
                with_audio=has_audio and not ranged,  # a range reads audio from the start (below)
                threads=cfg.decode_threads,
                decoder=codecs.decoder,
                start_seconds=part.seek if ranged else None,
                origin=part.origin if ranged else None,
            )
            feed = (
                SourceReader(audio_media, fps=cfg.fps, short_side=cfg.short_side, detect_width=None,
                             audio_rate=cfg.audio_sample_rate, origin=part.origin, threads=1)
                if ranged and has_audio else None
            )  # fmt: skip
        except Exception as err:
            if is_retryable(err):
                raise
            raise _Unusable(f"the container could not be opened for decoding: {ffmpeg_words(err)}") from err
        if feed is not None:
            reader.audio = feed.audio  # the samples of a whole pass, whatever the video seek did
        margin = self.config.audio_margin_seconds

        def pull_audio(until: float) -> None:
            if feed is not None:  # what an open or pending clip may still need stays
                feed.pull_audio(
                    until, keep=cfg.max_seconds + margin + AUDIO_WAIT_SECONDS + AUDIO_LEAD_SECONDS
                )

        with reader, feed if feed is not None else nullcontext():
            hand_on = self.config.hand_on
            damage = reader.damage

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
                            background=True,  # the encoder beside the decoding thread
                            encoder=codecs.encoder,
                            nvenc_preset=cfg.nvenc_preset,
                        )
                        open_clip = _OpenClip(ev, encoder)
                    elif isinstance(ev, ClipFrames):
                        for f in ev.frames:
                            open_clip.encoder.add(f.frame)
                            open_clip.took(f)
                            if hand_on:
                                self._observe(open_clip, f, reader, motion)
                    elif isinstance(ev, ClipClose):
                        if ev.keep:
                            pending.append(
                                _PendingClip(open_clip.event, open_clip.encoder, ev.length,
                                             open_clip.stills, open_clip.motion, open_clip.first_source_time,
                                             open_clip.last_source_time, open_clip.interlaced)
                            )  # fmt: skip
                        else:
                            open_clip.encoder.abort()
                            if planner.shot_clips:  # a tail after kept clips (a short shot is its own reject)
                                stats.dropped_tails += 1
                                stats.dropped_tail_frames += ev.length
                        open_clip = None
                    elif isinstance(ev, ShotTooShort) and not self._damaged_shot(reader, ev):
                        row = self._shot_reject(source, ev, min_frames)  # (a damaged shot: its own row)
                        if report is not None:
                            report.shot_rejects[row["_unit"]] = (ev.shot_index, ev.start, ev.end)
                        yield row

            last = -1
            was_blank = False
            emitted = 0
            motion: dict[int, float] = {}  # output index -> |diff| to the previous frame (recent only)
            prev_gray: np.ndarray | None = None
            # a range: frames before it owns anything wait here until its first cut is known
            owning = not ranged or part.start == 0
            waiting: deque[_Seen] = deque(maxlen=detector.latency + 2)
            counted: deque[_Seen] = deque(maxlen=detector.latency + 2)  # owned frames, the last few
            end_cut: int | None = None
            frames = reader.frames()
            for frame in frames:
                last = frame.index
                cuts = detector.push(frame.index, frame.small_bgr) if frame.small_bgr is not None else []
                level = mean_level(frame.small_bgr) if frame.small_bgr is not None else None
                blank = (
                    shots.blank_threshold is not None and level is not None and level < shots.blank_threshold
                )
                if blank != was_blank and frame.index > 0:
                    cuts.append(frame.index)  # entering or leaving a blank run is a shot boundary
                was_blank = blank
                # damage the decoder reported since the last frame: out of the frames held back
                for span in damage.take_new():
                    stats.damaged_frames += planner.spoil(lambda f, s=span: s.contains(f.source_time))
                damaged = damage.at(frame.source_time) is not None
                if hand_on and frame.small_bgr is not None:
                    gray = cv2.cvtColor(frame.small_bgr, cv2.COLOR_BGR2GRAY)
                    if prev_gray is not None and prev_gray.shape == gray.shape:
                        motion[frame.index] = cv2.mean(cv2.absdiff(gray, prev_gray))[0] / 255.0
                    prev_gray = gray
                    motion.pop(
                        frame.index - planner.hold - 8, None
                    )  # committed frames lag by hold + a 4k group
                seen = _Seen(frame, cuts, blank, level, damaged)
                if owning:
                    batch = [seen]
                else:  # a range looking for its first cut (>= part.start): a whole pass's shot start
                    waiting.append(seen)
                    found = [c for c in cuts if c >= part.start]
                    if not found:
                        if part.end is not None and frame.index >= part.end + detector.latency:
                            report.empty = True  # one shot spans the range: the one before owns it all
                            break
                        continue
                    owning = True
                    start = min(found)
                    report.start, report.start_at = start, frame.index
                    report.start_state = detector_state(detector, was_blank, frame.index)
                    planner.begin(start)
                    batch = [s for s in waiting if s.frame.index >= start]
                    if part.end is not None and start >= part.end:  # one shot spans the whole range
                        end_cut = start
                        report.end, report.end_at, report.end_state = start, frame.index, report.start_state
                        break
                for s in batch:
                    f, fcuts = s.frame, s.cuts
                    if ranged and part.end is not None:
                        past = [c for c in fcuts if c >= part.end]
                        if past:  # the shot after it belongs to the next range
                            end_cut = min(past)
                            fcuts = [c for c in fcuts if c <= end_cut]
                            report.end, report.end_at = end_cut, f.index
                            report.end_state = detector_state(detector, was_blank, f.index)
                    stats.frames += 1
                    stats.damaged_frames += s.damaged
                    if s.blank:
                        stats.blank_frames += 1
                        stats.blank_level_sum += s.level
                    counted.append(s)
                    pull_audio(f.time + margin + AUDIO_LEAD_SECONDS)
                    usable = not s.blank and not s.damaged
                    for row in handle(planner.push(f.index, f, fcuts, usable=usable)):
                        emitted += 1
                        yield row
                    for row in self._flush_ready(source, reader, pending, final=False, now=f.time):
                        emitted += 1
                        yield row
                if end_cut is not None:
                    break
            stats.decoder_fallback = reader.decoder_fallback
            if ranged and end_cut is not None:
                yield from self._end_range(source, reader, pending, stats, report, frames, counted, end_cut,
                                           pull_audio)  # fmt: skip
                report.finish(emitted + report.emitted, planner.shots, last, reader, feed)
                return
            for span in damage.take_new():  # reported by the last packets
                stats.damaged_frames += planner.spoil(lambda f, s=span: s.contains(f.source_time))
            if not ranged and (last < 0 or stats.damaged_frames >= stats.frames):
                for clip in pending:
                    clip.encoder.abort()
                if open_clip is not None:
                    open_clip.encoder.abort()
                raise _Unusable(_nothing_decoded(reader, stats))
            if owning and last >= 0:
                for row in handle(planner.finish(last, detector.flush(last))):
                    emitted += 1
                    yield row
                pull_audio(float("inf"))
                for row in self._flush_ready(source, reader, pending, final=True, now=last / cfg.fps):
                    emitted += 1
                    yield row
            if ranged:
                for row in self._flush_ready(source, reader, pending, final=True, now=last / cfg.fps):
                    emitted += 1  # (an empty range holds no clip; this only hands on what is left)
                    yield row
                report.finish(emitted, planner.shots, last, reader, feed)
                return
            if emitted == 0:
                yield self._no_clip_reject(source, stats)
            yield from self._damage_rejects(source, reader.damage.spans, reader.read_error, last)

    def _end_range(
        self, source: Row, reader: SourceReader, pending: list[_PendingClip], stats: _SourceStats,
        report: RangeReport, frames: Iterator[OutputFrame], counted: deque, end_cut: int, pull_audio,
    ) -> Iterator[Row]:  # fmt: skip
        """A range reached the cut where the next one takes over: the frames it counted past that cut
        are not its own; it decodes on until no late damage report can reach back into its clips
        (then ``report`` says whether any came), and hands on its last clips."""
        fps = self.config.clips.fps
        for s in counted:
            if s.frame.index >= end_cut:
                stats.frames -= 1
                stats.damaged_frames -= s.damaged
                if s.blank:
                    stats.blank_frames -= 1
                    stats.blank_level_sum -= s.level
        for extra, _frame in enumerate(frames):
            if reader.damage.settled() >= end_cut / fps or extra > SETTLE_FRAMES:
                break
        pull_audio(end_cut / fps + self.config.audio_margin_seconds + AUDIO_LEAD_SECONDS)
        emitted = 0
        for row in self._flush_ready(source, reader, pending, final=True, now=end_cut / fps):
            emitted += 1
            yield row
        report.emitted = emitted

    def _damage_rejects(
        self, source: Row, spans: list[DamageSpan], read_error: str | None, last: int
    ) -> Iterator[Row]:
        """One ``damaged_packets`` row per damaged stretch, then ``truncated_stream`` when the video
        stops short of the source's duration (or the container could not be read to its end)."""
        cfg = self.config.clips
        for group in _group_spans(spans, gap=cfg.min_seconds):
            start, end = group[0].start, max(s.end for s in group)
            yield self.reject_row(
                dict(source, start_time=start, end_time=end), "damaged_packets", _damage_words(group, start, end)
            )  # fmt: skip
        duration = source.get("source_duration")
        decoded = (last + 1) / cfg.fps
        if read_error or (duration and decoded < 0.9 * duration - 1.0):
            why = (
                f"the container could not be read past {decoded:.2f} s ({read_error})"
                if read_error
                else f"the video stream ends at {decoded:.2f} s of the {duration:.2f} s the container declares"
            )
            yield self.reject_row(
                dict(source, start_time=decoded, end_time=max(duration or decoded, decoded)),
                "truncated_stream",
                f"{why}; the clips before {decoded:.2f} s were kept",
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
        damaged = f", {stats.damaged_frames} damaged frames" if stats.damaged_frames else ""
        return self.reject_row(
            source, "no_clips",
            f"{stats.frames / fps:.2f}s decoded, {stats.blank_frames} blank frames{damaged}, {stats.dropped_tails} "
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
            or pending[0].last_source_time < reader.damage.settled()
            and (
                not source.get("has_audio")
                or reader.audio.end_time >= pending[0].end_time(fps) + margin
                or now - pending[0].end_time(fps) > AUDIO_WAIT_SECONDS
            )
        ):
            clip = pending.pop(0)
            span = reader.damage.overlapping(clip.first_source_time, clip.last_source_time)
            if span is not None:  # the decoder reported damage in it after its frames were taken
                span.dropped_clips += 1
                clip.encoder.abort()
                continue
            yield self._clip_row(source, reader, clip)
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
            video_encoder=clip.encoder.encoder,
            video_decoder=reader.decoder,
            has_audio=audio is not None,
            audio=encode_audio(audio, cfg.audio_sample_rate, cfg.audio_format) if audio is not None else None,
            audio_format=cfg.audio_format if audio is not None else None,
            audio_sample_rate=cfg.audio_sample_rate if audio is not None else None,
            audio_offset_frames=0 if audio is not None else None,
            source_interlaced=clip.interlaced,
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

    def _damaged_shot(self, reader: SourceReader, ev: ShotTooShort) -> bool:
        fps = self.config.clips.fps
        return reader.damage.overlapping(ev.start / fps, (ev.end - 1) / fps) is not None

    def _shot_reject(self, source: Row, ev: ShotTooShort, min_frames: int) -> Row:
        fps = self.config.clips.fps
        row = dict(source, shot_index=ev.shot_index, start_time=ev.start / fps, end_time=ev.end / fps)
        return self.reject_row(
            row,
            "shot_too_short",
            f"shot {ev.shot_index} lasts {(ev.end - ev.start) / fps:.2f}s; clips need >= {min_frames / fps:.2f}s "
            "after trimming the shot margins",
        )


class _Unusable(Exception):
    """The source gives no usable video at all; the message says why in words (``decode_error``)."""


def _nothing_decoded(reader: SourceReader, stats: _SourceStats) -> str:
    """Why a source gave no usable frame at all, in words (``decode_error`` detail)."""
    codec = reader.vstream.codec_context.name
    spans = reader.damage.spans
    if stats.frames == 0:
        refused = sum(s.failed_packets for s in spans if s.stream == "video")
        what = (
            f"no video frame decoded: the {codec} decoder refused all {refused} video packets it was given"
            if refused
            else f"the {codec} stream gave no video frame"
        )
        if reader.read_error:
            what += f", and the container could not be read further ({reader.read_error})"
        return what
    listed = "; ".join(s.what_failed() for s in spans[:3]) + ("; ..." if len(spans) > 3 else "")
    return (
        f"no video frame decoded cleanly ({stats.frames} frames on the {reader.fps:g} fps grid, all in "
        f"damaged stretches): {listed}"
    )


def _failure_words(err: BaseException, stats: _SourceStats, fps: float) -> str:
    """A cutter failure in words (``decode_error`` detail)."""
    if isinstance(err, _Unusable):
        return str(err)
    at = f" at {stats.frames / fps:.2f} s" if stats.frames else ""
    return f"cutting stopped{at}: {ffmpeg_words(err)}"


def _group_spans(spans: list[DamageSpan], gap: float) -> list[list[DamageSpan]]:
    """Spans closer than ``gap`` (no clip fits between them) as one stretch, in time order."""
    groups: list[list[DamageSpan]] = []
    for span in sorted(spans, key=lambda s: s.start):
        if groups and span.start - max(s.end for s in groups[-1]) < gap:
            groups[-1].append(span)
        else:
            groups.append([span])
    return groups


def _damage_words(group: list[DamageSpan], start: float, end: float) -> str:
    """e.g. ``h264 video decode errors in 10 frames (...) between 3.80 s and 5.76 s; later frames
    predict from them up to the end of the stream (8.00 s); clips overlapping 3.64 s to 8.00 s were
    dropped: no clip holds frames of it, the clips before it were kept``."""
    decode = [s for s in group if s.stream == "video" and s.kind == "decode"]
    parts = [s.what_failed() for s in decode]
    if decode:
        last = decode[-1]
        ends = "the end of the stream" if last.end_reason == "end of stream" else "the next clean keyframe"
        parts.append(f"later frames predict from them up to {ends} ({last.end:.2f} s)")
    parts += [s.what_failed() for s in group if not (s.stream == "video" and s.kind == "decode")]
    to_end = any(s.end_reason == "end of stream" for s in decode)
    kept = "the clips before it were kept" if to_end else "clips end before it and start again after it"
    dropped = sum(s.dropped_clips for s in group)
    found_late = (
        f" ({dropped} clip{'s' * (dropped != 1)} already holding frames of it when the decoder reported it)"
        if dropped
        else ""
    )
    parts.append(
        f"clips overlapping {start:.2f} s to {end:.2f} s were dropped{found_late}: no clip holds frames of it, {kept}"
    )
    return "; ".join(parts)


def cut_config(cfg, clips: ClipsConfig | None = None) -> CutConfig:
    """The cutter's settings from a CurateConfig: the audio margin is the sync stage's search range."""
    margin = cfg.sync.max_offset_frames / cfg.clips.fps if cfg.sync.enabled else 0.0
    return CutConfig(
        shots=cfg.shots, clips=clips or cfg.clips, frames=cfg.frames, audio_margin_seconds=margin
    )
