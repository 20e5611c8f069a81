"""A long source cut by several workers at once, in time ranges, with the outputs of one pass.

A source of ``clips.split_min_seconds`` or more is split into equal ranges of at least
``clips.split_range_seconds``. Range k (nominal frames [a, b)) decodes from the keyframe at or
before ``a - split_warmup_seconds`` and owns the shots that start in [its first cut >= a, its first
cut >= b): it emits nothing for frames before its first cut and decodes past b until it sees the
next cut. Range 0 owns from the source start, the last range to its end::

    frames   0 ........ a1 ............. b1=a2 ............ end
    range 0  |== owns ==|-> first cut >= a1 (decodes on to it)
    range 1      warmup [..|== owns ==========|-> first cut >= a2
    range 2                          warmup [...|== owns ======|

"First cut" is what a whole pass's clip planner acts on: the smallest cut of the first frame that
reports one >= a (detector cuts come up to ``latency`` frames late; blank runs cut at once). So no
clip crosses a shot cut and none spans two ranges, and clip ids (source + frame range) come out
the same. Equality needs the range's detector in the state a whole pass has at that cut, which
holds when its decisions depend on a bounded history (content: the previous frame and the
min-scene-length / flash filter since the last cut; adaptive: a window of scores) that the warmup
covers. It is checked, not assumed: both neighbours report the cut, the frame that reported it and
a digest of the detector's state there as far as later frames can see it (``detector_state``: a
last cut a minimum scene length back counts as "long ago", whenever it was); from a shared cut on
with equal state and the same frames, everything after is equal. A range whose check fails (a
detector history longer than the warmup, a decoder that shows other frames after a seek, a Ray
task that died) is redone from the source start, in the source's task (exact, slower); so are
ranges that see damage, interlacing or an unreadable container, since ``media.damage`` and the
deinterlacer keep state across the whole source. Range 0 failing means the source is cut whole.

A range with no cut in [a, b] stops at b (plus the detector's latency) and owns nothing: the range
before decodes the whole shot, and is checked against the next range that owns one. So a source
that is one long shot gains nothing, and costs up to one more decode of it.

Audio: each range decodes the audio stream from the start (audio-only demux, cheap next to video),
so its samples and resampler phase are those of one pass.

Bookkeeping stays per source: the cut stage's task for the source runs the ranges (as Ray tasks,
or one after another without Ray), checks them in order, renumbers shots (each range counts from
0; a whole pass counts across the source), adds up the drop counts and emits the source's rows in
order, then its ``done`` marker with every unit; source-level rejects (``no_clips``, ``all_blank``,
``truncated_stream``, ``damaged_packets``, ``decode_error``) are decided once, from the sums, by
this task, which also counts the ranges' CPU seconds as the cut stage's. A killed run redoes the
source, as for any source. Which sources split: ``clips.split_when`` (``alone``, the default: only
a source bigger than the run's bytes per CPU, which would run alone at the end of the stream while
the rest keep every CPU busy; ``always``).
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import math
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from enum import Enum
from typing import Any

import numpy as np

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RangePart:
    """One range of a source: ``start``/``end`` are output-grid frame indices (end None: to the end
    of the source); ``seek`` the timeline second to decode from (None: the source start)."""

    index: int
    count: int
    start: int
    end: int | None
    seek: float | None
    origin: float


@dataclass
class RangeReport:
    """What a range found, for the checks against its neighbours and the source's bookkeeping."""

    stats: Any  # cutter._SourceStats of the frames it owns
    start: int | None = None  # its first cut (None: the stream ended first)
    start_at: int | None = None  # the frame that reported it
    start_state: str | None = None  # detector_state() right after that frame
    end: int | None = None  # the first cut >= part.end (None: it ran to the end of the stream)
    end_at: int | None = None
    end_state: str | None = None
    shots: int = 0  # shots it closed (the next range's shots count on from here)
    last: int = -1  # last decoded frame index
    emitted: int = 0
    #: shot_too_short rows: unit -> (shot index counted in this range, start frame, end frame)
    shot_rejects: dict[str, tuple[int, int, int]] = field(default_factory=dict)
    spans: list = field(default_factory=list)  # media.damage spans (video and audio)
    read_error: str | None = None
    interlaced: bool = False
    error: str | None = None  # the range failed (its rows are not used)
    cpu_seconds: float = 0.0  # CPU of the process that ran it (a Ray task's, counted to the stage)
    ran: tuple[float, float] | None = None  # wall-clock start and end (when the ranges ran: benchmarks)
    empty: bool = False  # no cut in [part.start, part.end]: one shot spans it, the range before owns it

    def finish(self, emitted: int, shots: int, last: int, reader, feed) -> None:
        self.emitted, self.shots, self.last = emitted, shots, last
        self.spans = list(reader.damage.spans) + (list(feed.damage.spans) if feed is not None else [])
        self.read_error = reader.read_error or (feed.read_error if feed is not None else None)
        self.interlaced = reader.interlaced

    def trouble(self, since: float) -> str | None:
        """Why this range's outputs may differ from a whole pass's, or None. Damage that ends before
        ``since`` (the stretch right after a seek, which an open GOP decodes badly) is not its
        concern: nothing there is its."""
        if self.error:
            return f"it failed: {self.error}"
        if self.read_error:
            return f"the container could not be read to the end ({self.read_error})"
        if self.interlaced:
            return "interlaced frames (the deinterlacer's state runs across the source)"
        for span in self.spans:
            if span.end is None or span.end > since:
                return f"damage: {span.what_failed()}"
        return None


@dataclass
class RangeResult:
    rows: list[dict[str, Any]]
    report: RangeReport


def plan_ranges(duration: float | None, clips) -> list[tuple[int, int | None]]:
    """Nominal [a, b) frame ranges of a source of ``duration`` seconds, or [] (not split)."""
    least = clips.split_min_seconds
    if not least or not duration or duration < least:
        return []
    n = int(duration // clips.split_range_seconds)
    if n < 2:
        return []
    frames = duration * clips.fps
    bounds = [int(round(i * frames / n)) for i in range(n)]
    return [(bounds[i], bounds[i + 1] if i + 1 < n else None) for i in range(n)]


def detector_state(detector, was_blank: bool, index: int) -> str:
    """Digest of what the shot detector (and the blank-run rule) will decide from after frame
    ``index``: two equal digests at the same frame mean the same cuts from there on, given the same
    frames. Fields no later decision reads are left out, so that two histories that end alike match
    (``_future``)."""
    h = hashlib.sha256()
    inner = getattr(detector, "detector", None)  # the PySceneDetect object; "none" keeps no state
    if inner is None:
        h.update(type(detector).__name__.encode())
    else:
        _digest(_future(inner, index), h, depth=0)
    h.update(b"blank" if was_blank else b"lit")
    return h.hexdigest()[:32]


LONG_AGO = "long ago"


def _future(det, now: int) -> dict[str, Any]:
    """A PySceneDetect detector's state as far as frames after ``now`` can see it. The score of the
    current frame is recomputed first; a last cut (or last frame above the threshold) at least a
    minimum scene length back lets the next candidate through whenever it was, and then whether
    the flash filter had merged before no longer matters."""
    state = {k: v for k, v in vars(det).items() if k not in ("_frame_score", "_stats_manager")}
    if state.get("_flash_filter") is not None:
        state["_flash_filter"] = _filter_future(state["_flash_filter"], now)
    last_cut, min_len = state.get("_last_cut"), state.get("min_scene_len")
    adaptive = last_cut is not None and isinstance(min_len, int)  # (it cuts window_width frames late)
    if adaptive and now + 1 - state.get("window_width", 0) - last_cut.frame_num >= min_len:
        state["_last_cut"] = LONG_AGO
    return state


def _filter_future(ff, now: int) -> dict[str, Any]:
    state = dict(vars(ff))
    if not state.get("_merge_triggered"):
        state.pop("_merge_start", None)  # read only while a merge is under way
        last = state.get("_last_above")
        length, secs = state.get("_filter_length") or 0, state.get("_filter_secs")
        if last is not None:
            gap = now + 1 - last.frame_num
            met = gap / float(last.frame_rate) >= secs if secs else gap >= length
            if met:
                state["_last_above"], state["_merge_enabled"] = LONG_AGO, LONG_AGO
    return state


def _digest(x: Any, h, depth: int) -> None:
    if depth > 8:
        raise ValueError("detector state nests too deep to digest")
    if x is None or isinstance(x, (bool, int, float, str, bytes)):
        h.update(f"{type(x).__name__}:{x!r};".encode())
    elif isinstance(x, np.ndarray):
        h.update(f"nd{x.shape}{x.dtype};".encode())
        h.update(np.ascontiguousarray(x).tobytes())
    elif isinstance(x, Enum):
        h.update(f"enum:{x!r};".encode())
    elif isinstance(x, dict):
        h.update(b"{")
        for k in sorted(x, key=repr):
            h.update(f"{k!r}=".encode())
            _digest(x[k], h, depth + 1)
        h.update(b"}")
    elif isinstance(x, (set, frozenset)):
        h.update(f"set{sorted(map(repr, x))};".encode())
    elif isinstance(x, (list, tuple)) or type(x).__name__ == "deque":
        h.update(f"[{type(x).__name__}".encode())
        for y in x:
            _digest(y, h, depth + 1)
        h.update(b"]")
    elif type(x).__name__ == "FrameTimecode":  # scenedetect: a frame number and a rate
        h.update(f"tc:{x.frame_num}@{float(x.frame_rate)!r};".encode())
    elif hasattr(x, "__dict__") or hasattr(x, "__slots__"):
        h.update(f"<{type(x).__qualname__}".encode())
        slots = [s for c in type(x).__mro__ for s in getattr(c, "__slots__", ())]
        state = dict(vars(x)) if hasattr(x, "__dict__") else {}
        state.update({s: getattr(x, s) for s in slots if hasattr(x, s)})
        _digest({k: v for k, v in state.items() if not callable(v)}, h, depth + 1)
        h.update(b">")
    else:  # an unknown kind of value: its type only would be unsafe, so refuse
        raise TypeError(f"cannot digest detector state of type {type(x).__name__}")


# --- running the ranges of one source ------------------------------------------------------------


def cut_range(stage, source: dict[str, Any], part: RangePart) -> RangeResult:
    """One range by the cut stage ``stage``, in this process (a Ray task runs this)."""
    import time

    c0, t0 = time.process_time(), time.time()
    result = stage.cut_range(source, part)
    result.report.cpu_seconds = time.process_time() - c0
    result.report.ran = (t0, time.time())
    return result


class _Runner:
    """Runs a source's ranges: as Ray tasks when this process is part of a Ray job (the waiting
    parent lends its CPU back while it waits), else one after another here, each when needed."""

    def __init__(self, stage, source: dict[str, Any], parts: list[RangePart]):
        self.stage, self.config, self.source, self.parts = stage, stage.config, source, parts
        self.refs: list[Any] | None = None
        self.remote_cpu_seconds = 0.0  # of the ranges fetched from Ray tasks
        try:
            import ray

            if ray.is_initialized():
                res = self.config.clips.resources  # the cut stage's own (a GPU share for NVENC/NVDEC)
                remote = ray.remote(num_cpus=res.num_cpus or 1, num_gpus=res.num_gpus or 0, max_retries=3)(
                    cut_range
                )
                task_stage = type(stage)(self._threads(ray))
                self.refs = [remote.remote(task_stage, source, p) for p in parts]
        except ImportError:  # pragma: no cover - Ray is a dependency
            self.refs = None

    def _threads(self, ray):
        """Each range's share of the codec threads the source alone would have used."""
        clips = self.config.clips
        cpus = max(1, int(ray.cluster_resources().get("CPU", 1)))
        share = max(1, min(len(self.parts), cpus))
        dec = max(1, (clips.decode_threads or cpus) // share)
        enc = max(1, (clips.encode_threads or dec) // share)
        return self.config.model_copy(
            update={"clips": clips.model_copy(update={"decode_threads": dec, "encode_threads": enc})}
        )

    def get(self, k: int) -> RangeResult:
        if self.refs is None:  # here: its CPU is this process's already
            return cut_range(self.stage, self.source, self.parts[k])
        import ray

        try:
            result = ray.get(self.refs[k])
        except ray.exceptions.RayError as err:  # its worker died (after Ray's retries): redo it here
            return RangeResult(
                [], RangeReport(stats=None, error=f"its Ray task failed: {type(err).__name__}")
            )
        self.remote_cpu_seconds += result.report.cpu_seconds
        return result

    def cancel_from(self, k: int) -> None:
        """Ranges from ``k`` on are not needed: cancel those still running (the CPU of finished
        ones is counted)."""
        if self.refs is None or k >= len(self.refs):
            return
        import ray

        done, running = ray.wait(self.refs[k:], num_returns=len(self.refs[k:]), timeout=0)
        for ref in running:
            ray.cancel(ref, force=False)
        for ref in done:  # a range nobody needs may have failed or been cancelled: no CPU to count
            with contextlib.suppress(Exception):
                self.remote_cpu_seconds += ray.get(ref).report.cpu_seconds


@dataclass
class SplitOutcome:
    """What the source's task needs after the rows: the sums for its source-level rejects."""

    last: int = -1
    spans: list = field(default_factory=list)
    read_error: str | None = None
    emitted: int = 0
    whole: bool = False  # range 0 could not be trusted: cut the source in one pass instead
    ranges: int = 0
    redone_from: int | None = None  # the range redone from the source start, if any
    ran: list[tuple[float, float] | None] = field(default_factory=list)  # each used range's wall span


def cut_in_ranges(stage, source: dict[str, Any], plan: list[tuple[int, int | None]], origin: float,
                  stats, outcome: SplitOutcome) -> Iterator[dict[str, Any]]:  # fmt: skip
    """Rows of the source cut in ``plan``'s ranges, in order, checked and renumbered; ``stats``
    (the source's) and ``outcome`` are filled as they go."""
    cfg = stage.config
    fps, warmup = cfg.clips.fps, cfg.clips.split_warmup_seconds
    parts = [
        RangePart(i, len(plan), a, b, None if i == 0 else max(0.0, a / fps - warmup), origin)
        for i, (a, b) in enumerate(plan)
    ]
    outcome.ranges = len(parts)
    runner = _Runner(stage, source, parts)
    try:
        yield from _checked_rows(stage, source, parts, runner, stats, outcome)
    finally:
        stage.tasks_cpu_seconds += runner.remote_cpu_seconds


def _checked_rows(stage, source: dict[str, Any], parts: list[RangePart], runner: _Runner, stats,
                  outcome: SplitOutcome) -> Iterator[dict[str, Any]]:  # fmt: skip
    cfg = stage.config
    fps = cfg.clips.fps
    prev: RangeReport | None = None
    offset = 0
    for k, part in enumerate(parts):
        result = runner.get(k)
        rep = result.report
        why = rep.trouble(-math.inf if part.seek is None else part.start / fps - 1.0)
        if why is None and prev is not None:
            mine, theirs = (rep.start, rep.start_at, rep.start_state), (prev.end, prev.end_at, prev.end_state)
            if rep.empty:
                if prev.end < part.end:
                    why = f"it found no cut where the range before found one ({prev.end})"
            elif mine != theirs:
                why = f"its first cut {mine[:2]} differs from the previous range's end {theirs[:2]}"
        if why is not None:
            runner.cancel_from(k + 1)
            if k == 0:
                outcome.whole = True
                return
            log.warning("source %s: range %d/%d redone from the source start: %s", source.get("source_uri"),
                        k, len(parts), why)  # fmt: skip
            outcome.redone_from = k
            result = cut_range(stage, source, replace(part, seek=None, end=None))
            rep = result.report
            if rep.start != prev.end:  # decoded from the start, as a whole pass: cannot happen
                raise RuntimeError(f"range {k} redone from the start begins at {rep.start}, not {prev.end}")
        elif rep.empty:
            continue
        for row in result.rows:
            shot = rep.shot_rejects.get(row.get("_unit"))
            if shot is not None:
                row = stage.shot_reject_row(source, shot[0] + offset, shot[1], shot[2])
            elif row.get("shot_index") is not None:
                row["shot_index"] += offset
            yield row
        offset += rep.shots
        outcome.ran.append(rep.ran)
        stats.add(rep.stats)
        outcome.emitted += rep.emitted
        if rep.end is None or outcome.redone_from is not None:  # the stream ended in this range
            runner.cancel_from(k + 1)
            outcome.last, outcome.spans, outcome.read_error = rep.last, rep.spans, rep.read_error
            return
        prev = rep
    raise RuntimeError("the last range of a split source ended before the stream did")  # pragma: no cover
