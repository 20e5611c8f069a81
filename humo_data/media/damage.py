"""Where a source's decode went wrong: spans of the timeline no clip may use.

Decoders conceal rather than stop: a damaged H.264 slice comes out as a frame with grey or smeared
blocks, flagged ``is_corrupt`` (AV_FRAME_FLAG_CORRUPT), and a packet it cannot parse at all raises
``InvalidDataError`` and leaves a hole. Either way the frames that follow predict from the broken
picture, so the damage runs on, unflagged, until the next clean keyframe; B-frames shown just
before a broken frame may predict from it too. A video decode span therefore runs from a few
frames before the first error (``lookback`` frames) to the next clean keyframe (or the end of the
stream). Audio does not propagate: an audio span covers the packets the decoder refused. A
damaged index shows as timestamps that run backwards or jump far past the declared duration; the
frames around those places are unusable too (their order, or their place beside the audio, is
unknown).

Times are seconds on the reader's timeline (first video frame = 0).
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass

#: frames shown before a broken frame that may predict from it (x264's B-pyramid reorders by 2;
#: without B-frames, 1 still covers an error that frame threads report a frame late)
B_FRAME_LOOKBACK = 4
#: timestamp damage makes this much of the timeline on each side of it unusable
TIMESTAMP_MARGIN_SECONDS = 0.5


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'s' * (n != 1)}"


@dataclass
class DamageSpan:
    stream: str  # "video" or "audio"
    codec: str
    kind: str  # "decode" (decoder errors), "disorder" (timestamps backwards), "jump" (timestamps leap)
    start: float
    end: float | None  # exclusive; None while a video decode span waits for a clean keyframe
    first_error: float
    last_error: float
    failed_packets: int = 0  # packets the decoder refused (their frames or samples are missing)
    concealed_frames: int = 0  # frames decoded with errors concealed
    bad_timestamps: int = 0  # frames whose timestamp ran backwards or jumped
    jump_seconds: float = 0.0
    dropped_clips: int = 0  # clips that already held frames of the span when it was found
    end_reason: str = "keyframe"  # decode spans: "keyframe" or "end of stream"

    def contains(self, t: float) -> bool:
        return self.start <= t < (math.inf if self.end is None else self.end)

    def overlaps(self, first: float, last: float) -> bool:
        """True when [first, last] (both inclusive: a clip's first and last frame times) meets it."""
        return self.start <= last and first < (math.inf if self.end is None else self.end)

    def _where(self) -> str:
        if self.last_error - self.first_error < 0.005:
            return f"at {self.first_error:.2f} s"
        return f"between {self.first_error:.2f} s and {self.last_error:.2f} s"

    def what_failed(self) -> str:
        """What went wrong in words, e.g. ``h264 video decode errors in 9 frames (1 packet refused,
        8 decoded with concealed errors) between 3.80 s and 5.76 s``."""
        if self.kind == "jump":
            return (
                f"video timestamps jump {self.jump_seconds:.1f} s ahead {self._where()}, past the duration "
                "the container declares (damaged index; the frames after it were placed one frame on)"
            )
        if self.kind == "disorder":
            return f"video timestamps run backwards in {_plural(self.bad_timestamps, 'frame')} {self._where()} (damaged index)"
        if self.stream == "audio":
            return f"{self.codec} audio decode errors in {_plural(self.failed_packets, 'packet')} {self._where()}"
        parts = []
        if self.failed_packets:
            parts.append(f"{_plural(self.failed_packets, 'packet')} refused")
        if self.concealed_frames:
            parts.append(f"{self.concealed_frames} decoded with concealed errors")
        count = _plural(self.failed_packets + self.concealed_frames, "frame")
        return f"{self.codec} video decode errors in {count} ({', '.join(parts)}) {self._where()}"


class DamageTracker:
    """Collects damage spans while a source is decoded, in the order the decoder reports it."""

    def __init__(self, video_codec: str, audio_codec: str | None, lookback: int):
        self.video_codec, self.audio_codec = video_codec, audio_codec or "audio"
        self.lookback = max(1, lookback)
        self.spans: list[DamageSpan] = []
        self._open: DamageSpan | None = None  # the video decode span waiting for a clean keyframe
        self._recent: deque[float] = deque(maxlen=self.lookback)  # display times of the last frames
        self._last_key: float | None = None  # display time of the latest clean keyframe
        self._new: list[DamageSpan] = []  # spans created or widened since take_new()

    def _found(self, span: DamageSpan) -> DamageSpan:
        if not any(s is span for s in self.spans):
            self.spans.append(span)
        self._new.append(span)
        return span

    def _video_error(self, t: float, failed: bool) -> None:
        start = min(t, self._recent[0]) if self._recent else t  # frames shown before may predict from it
        span = self._open
        if span is None:
            # a clean keyframe already shown after the error ends the span there
            end = self._last_key if self._last_key is not None and self._last_key > t else None
            span = DamageSpan("video", self.video_codec, "decode", start, end, t, t)
            if end is None:
                self._open = span
        span.start = min(span.start, start)
        span.first_error, span.last_error = min(span.first_error, t), max(span.last_error, t)
        span.failed_packets += failed
        span.concealed_frames += not failed
        self._found(span)

    def video_frame(self, t: float, corrupt: bool, key: bool) -> None:
        """A decoded frame, in display order."""
        if corrupt:
            self._video_error(t, failed=False)
        elif key:
            self._last_key = t
            if self._open is not None and t > self._open.last_error:
                self._open.end = t
                self._open = None
        self._recent.append(t)

    def video_packet_failed(self, t: float | None) -> None:
        """A video packet the decoder refused; ``t`` is its presentation time when it has one
        (with frame threads the error may surface a few frames late: the span reaches back)."""
        last = self._recent[-1] if self._recent else 0.0
        self._video_error(last if t is None else t, failed=True)

    def _timestamp_span(self, kind: str, t: float) -> DamageSpan:
        m = TIMESTAMP_MARGIN_SECONDS
        prev = next((s for s in reversed(self.spans) if s.kind == kind), None)
        if prev is not None and t - m <= prev.end:  # one damaged stretch, not many
            prev.end = max(prev.end, t + m)
            prev.last_error = max(prev.last_error, t)
            return prev
        return DamageSpan("video", self.video_codec, kind, max(0.0, t - m), t + m, t, t)

    def timestamp_disorder(self, t: float) -> None:
        """A frame whose timestamp is not after the previous frame's (at ``t``)."""
        span = self._timestamp_span("disorder", t)
        span.bad_timestamps += 1
        self._found(span)

    def timestamp_jump(self, t: float, jump: float) -> None:
        """Timestamps leap ``jump`` seconds ahead after the frame at ``t`` (closed up by the reader)."""
        span = self._timestamp_span("jump", t)
        span.bad_timestamps += 1
        span.jump_seconds += jump
        self._found(span)

    def audio_packet_failed(self, t: float, duration: float) -> None:
        prev = next((s for s in reversed(self.spans) if s.stream == "audio"), None)
        if prev is not None and t <= prev.end + TIMESTAMP_MARGIN_SECONDS:  # one glitch, not many
            prev.end = max(prev.end, t + duration)
            prev.last_error = max(prev.last_error, t)
            prev.failed_packets += 1
            self._found(prev)
            return
        self._found(DamageSpan("audio", self.audio_codec, "decode", t, t + duration, t, t, failed_packets=1))

    def finish(self, end: float) -> None:
        """End of the video stream: an open span ends with it."""
        if self._open is not None:
            self._open.end, self._open.end_reason = max(end, self._open.last_error), "end of stream"
            self._open = None

    def take_new(self) -> list[DamageSpan]:
        """Spans found or widened since the last call (the cutter takes their frames out of clips)."""
        new, self._new = list({id(s): s for s in self._new}.values()), []
        return new

    def at(self, t: float) -> DamageSpan | None:
        return next((s for s in self.spans if s.contains(t)), None)

    def overlapping(self, first: float, last: float) -> DamageSpan | None:
        return next((s for s in self.spans if s.overlaps(first, last)), None)

    def settled(self) -> float:
        """Frames shown before this time can no longer be found damaged: a later decode error
        reaches back at most ``lookback`` frames."""
        return self._recent[0] if self._recent else -math.inf
