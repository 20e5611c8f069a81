"""Pure clip-planning logic: which output frames form which clips, given shot cuts.

Frames arrive in order on the constant-fps grid; cuts may be reported up to ``latency`` frames
late. The planner holds back just enough frames to trim ``margin`` frames on both sides of every
cut, splits shots into clips of at most ``max_frames`` and drops tails under ``min_frames``::

    shot  |m|..... clip 0 (max_frames) .....|..... clip 1 (max) .....|.. tail ..|m| cut
          trimmed                                                     dropped if < min_frames

With ``snap=4`` clip lengths are 4k+1 (Wan VAE: 1 frame + groups of 4).
No media here: the cutter feeds frames and turns the planner's events into encoded clips.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

_BLANK = object()  # stands in the buffer for a blank frame


@dataclass
class ClipOpen:
    shot_index: int
    clip_index: int
    start: int


@dataclass
class ClipFrames:
    frames: list[Any]


@dataclass
class ClipClose:
    """The clip that was open ends. ``length`` frames were accepted; ``keep`` says if it is long enough."""

    length: int
    keep: bool
    end_of_shot: bool


@dataclass
class ShotTooShort:
    shot_index: int
    start: int
    end: int


Event = ClipOpen | ClipFrames | ClipClose | ShotTooShort


@dataclass
class ClipPlanner:
    min_frames: int
    max_frames: int
    margin: int
    latency: int
    snap: int = 4  # 4 -> lengths 4k+1; 1 -> any length
    _buffer: deque = field(default_factory=deque)
    _shot_index: int = 0
    _shot_start: int = 0
    _clip_index: int = 0
    _open: bool = False
    _length: int = 0  # frames accepted into the open clip
    _pending: list = field(default_factory=list)  # frames waiting for a complete group of `snap`
    _shot_clips: int = 0
    _shot_usable: int = 0  # usable (non-blank) frames seen in the current shot

    @property
    def shot_clips(self) -> int:
        """Clips kept so far in the current shot."""
        return self._shot_clips

    @property
    def shots(self) -> int:
        """Shots with usable frames closed so far (the next shot's index)."""
        return self._shot_index

    def begin(self, index: int) -> None:
        """Start at a shot beginning at frame ``index``, as a whole pass stands right after that cut
        (one time range of a source, ``clips/ranges.py``); shot indices count from 0 here."""
        if self._buffer or self._open or self._shot_usable:
            raise RuntimeError("begin() is for a planner that has seen no frame")
        self._shot_start = index

    @property
    def hold(self) -> int:
        return self.latency + self.margin + 1

    def push(self, index: int, frame: Any, cuts: list[int], usable: bool = True) -> Iterator[Event]:
        """``usable=False`` marks a blank frame: it never enters a clip (callers also cut around it)."""
        for cut in sorted(cuts):
            if cut > self._shot_start:
                yield from self._cut(cut)
        self._buffer.append((index, frame if usable else _BLANK))
        while self._buffer and self._buffer[0][0] <= index - self.hold:
            yield from self._commit(*self._buffer.popleft())

    def spoil(self, bad: Callable[[Any], bool]) -> int:
        """Take frames still held back out of every clip when ``bad(frame)``, as if they were blank
        (damage the decoder reports a few frames late); returns how many were taken out."""
        spoiled = 0
        for i, (index, frame) in enumerate(self._buffer):
            if frame is not _BLANK and bad(frame):
                self._buffer[i] = (index, _BLANK)
                spoiled += 1
        return spoiled

    def finish(self, last_index: int, cuts: list[int]) -> Iterator[Event]:
        for cut in sorted(cuts):
            if cut > self._shot_start:
                yield from self._cut(cut)
        yield from self._cut(last_index + 1)

    def _cut(self, cut: int) -> Iterator[Event]:
        while self._buffer and self._buffer[0][0] < cut:
            index, frame = self._buffer.popleft()
            if index < cut - self.margin:
                yield from self._commit(index, frame)
        yield from self._close(end_of_shot=True)
        if self._shot_clips == 0 and self._shot_usable:
            yield ShotTooShort(self._shot_index, self._shot_start, cut)
        if self._shot_usable:  # a run of blank frames is a gap, not a shot: its index is not used
            self._shot_index += 1
        self._shot_start = cut
        self._clip_index = 0
        self._shot_clips = 0
        self._shot_usable = 0

    def _commit(self, index: int, frame: Any) -> Iterator[Event]:
        if frame is _BLANK:
            yield from self._close(end_of_shot=False)
            return
        self._shot_usable += 1
        if index < self._shot_start + self.margin:
            return
        if not self._open:
            self._open, self._length, self._pending = True, 0, []
            yield ClipOpen(self._shot_index, self._clip_index, index)
        if self._length == 0 or self.snap == 1:
            self._length += 1
            yield ClipFrames([frame])
        else:
            self._pending.append(frame)
            if len(self._pending) == self.snap:
                self._length += self.snap
                group, self._pending = self._pending, []
                yield ClipFrames(group)
        if self._length >= self.max_frames:
            yield from self._close(end_of_shot=False)

    def _close(self, end_of_shot: bool) -> Iterator[Event]:
        if not self._open:
            return
        keep = self._length >= self.min_frames
        self._open, self._pending = False, []
        yield ClipClose(self._length, keep, end_of_shot)
        if keep:
            self._shot_clips += 1
            self._clip_index += 1


def frame_bounds(min_seconds: float, max_seconds: float, fps: float, snap: int) -> tuple[int, int]:
    """(min_frames, max_frames) on the grid; with snap=4 both are 4k+1 (min rounded up, max down)."""
    lo, hi = int(-(-min_seconds * fps // 1)), int(max_seconds * fps + 1e-6)
    if snap > 1:
        lo = lo + (-(lo - 1)) % snap
        hi = hi - (hi - 1) % snap
    if hi < lo:
        raise ValueError(f"no clip length fits between {min_seconds}s and {max_seconds}s at {fps} fps")
    return lo, hi
