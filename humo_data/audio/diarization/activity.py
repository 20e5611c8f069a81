"""Who speaks when in one clip, from a local speaker segmentation model run on sliding chunks.

A segmentation model (pyannote's) gives, per chunk of audio, per frame, the activity of up to 3
*local* speakers: local speaker 1 of one chunk need not be speaker 1 of the next. Clips are short
(2-10 s), so no embedding clustering is needed:

- ``speaker_count``: the most local speakers active >= ``min_speaker_seconds`` in any chunk.
  Chunks overlap densely (``step_seconds``), so two people who talk within one chunk length of
  each other are seen together; a single speaker is never counted twice by a stitching error.
- ``overlap_ratio``: share of the speech frames with two or more speakers active (the per-frame
  count of active speakers does not depend on the local labels, so it is averaged over chunks).
- ``turns``: per-speaker segments after stitching chunks: each chunk's local speakers are matched
  to the clip's speakers on the frames it shares with earlier chunks (Hungarian assignment on
  the mean activity difference, as pyannote's stitching does); a local speaker that matches no one
  better than silence starts a new clip speaker.

Chunk outputs are averaged with a Hamming window per chunk (chunk edges see less context), as
pyannote's ``Inference`` aggregates. Activities are binarised with hysteresis (``onset`` opens,
``offset`` closes) and gaps/segments shorter than ``min_duration_off``/``min_duration_on`` are
filled/dropped, as pyannote's ``Binarize`` does.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

FORBIDDEN = 1e9  # assignment cost of a pairing that must not happen


@dataclass(frozen=True)
class Geometry:
    """Where a chunk's output frames lie: frame i's centre is ``first_center + i * hop`` samples."""

    sample_rate: int
    chunk_samples: int
    hop: float
    first_center: float

    @property
    def frame_seconds(self) -> float:
        return self.hop / self.sample_rate

    def clip_frames(self, samples: int) -> int:
        """Frames whose centre lies inside a clip of ``samples``."""
        return max(int(np.ceil((samples - self.first_center) / self.hop)), 0)

    def frame_time(self, index: np.ndarray | int) -> np.ndarray:
        return (self.first_center + np.asarray(index) * self.hop) / self.sample_rate


@dataclass(frozen=True)
class Thresholds:
    onset: float
    offset: float
    min_duration_on: float
    min_duration_off: float
    min_speaker_seconds: float


@dataclass
class SpeakerActivity:
    """One clip's speakers. ``speech`` is the per-frame any-speaker activity (bool, ``frame_seconds``
    apart, first frame centred at ``first_time``) for comparisons with a VAD."""

    speaker_count: int
    overlap_ratio: float | None
    turns: list[tuple[int, float, float]] = field(default_factory=list)  # (speaker, start s, end s)
    speech: np.ndarray = field(default_factory=lambda: np.zeros(0, bool))
    frame_seconds: float = 0.0
    first_time: float = 0.0


def chunk_starts(samples: int, geometry: Geometry, step_seconds: float) -> list[int]:
    """Chunk start samples covering ``samples``: every ``step`` (rounded to whole frames), plus
    one ending at the clip's end. A clip shorter than a chunk is one zero-padded chunk."""
    chunk = geometry.chunk_samples
    if samples <= chunk:
        return [0]
    step = max(1, round(step_seconds * geometry.sample_rate / geometry.hop)) * geometry.hop
    last = int(np.ceil((samples - chunk) / geometry.hop) * geometry.hop)  # on the frame grid
    starts = [int(round(k * step)) for k in range(int(last // step) + 1)]
    if starts[-1] != last:
        starts.append(last)
    return starts


def cut_chunks(wave: np.ndarray, starts: list[int], chunk_samples: int) -> np.ndarray:
    out = np.zeros((len(starts), chunk_samples), np.float32)
    for i, s in enumerate(starts):
        piece = wave[s : s + chunk_samples]
        out[i, : len(piece)] = piece
    return out


def binarize(prob: np.ndarray, th: Thresholds, frame_seconds: float) -> list[tuple[int, int]]:
    """Active [start, end) frame ranges of one activity curve (hysteresis, then gap filling and
    short-segment removal)."""
    segments: list[list[int]] = []
    start: int | None = None
    for i, p in enumerate(prob):
        if start is None and p > th.onset:
            start = i
        elif start is not None and p < th.offset:
            segments.append([start, i])
            start = None
    if start is not None:
        segments.append([start, len(prob)])
    merged: list[list[int]] = []
    for s, e in segments:
        if merged and (s - merged[-1][1]) * frame_seconds < th.min_duration_off:
            merged[-1][1] = e
        else:
            merged.append([s, e])
    return [(s, e) for s, e in merged if (e - s) * frame_seconds >= th.min_duration_on]


def _active_mask(prob: np.ndarray, th: Thresholds, frame_seconds: float) -> np.ndarray:
    mask = np.zeros(len(prob), bool)
    for s, e in binarize(prob, th, frame_seconds):
        mask[s:e] = True
    return mask


def analyse_clip(
    acts: list[np.ndarray], starts: list[int], samples: int, geometry: Geometry, th: Thresholds
) -> SpeakerActivity:
    """The clip's speakers from its chunks' activities (each [frames, local speakers])."""
    fs = geometry.frame_seconds
    n = geometry.clip_frames(samples)
    if n == 0:
        return SpeakerActivity(0, None, [], np.zeros(0, bool), fs, 0.0)
    cover = np.zeros(n)
    count_sum = np.zeros(n)
    speech_sum = np.zeros(n)
    tracks = np.zeros((n, 0))  # weighted activity sums of the clip's speakers
    best_count = 0
    for act, start in zip(acts, starts, strict=True):
        first = int(round(start / geometry.hop))
        keep = min(len(act), n - first)
        if keep <= 0:
            continue
        weights = np.hamming(len(act)) + 1e-3 if len(act) > 2 else np.ones(len(act))
        a, w = act[:keep], weights[:keep]
        idx = slice(first, first + keep)
        local = np.stack([_active_mask(a[:, k], th, fs) for k in range(a.shape[1])], axis=1)
        best_count = max(best_count, int((local.sum(axis=0) * fs >= th.min_speaker_seconds).sum()))
        count_sum[idx] += w * local.sum(axis=1)
        speech_sum[idx] += w * a.max(axis=1)
        tracks = _stitch(tracks, cover, a, w, idx)
        cover[idx] += w
    seen = cover > 0
    denom = np.where(seen, cover, 1.0)
    speech = _active_mask(np.where(seen, speech_sum / denom, 0.0), th, fs)
    several = np.rint(np.where(seen, count_sum / denom, 0.0)) >= 2
    ratio = float((several & speech).sum() / speech.sum()) if speech.any() else None
    turns = _turns(tracks / denom[:, None], geometry, th, samples / geometry.sample_rate)
    return SpeakerActivity(best_count, ratio, turns, speech, fs, float(geometry.frame_time(0)))


def _stitch(tracks: np.ndarray, cover: np.ndarray, act: np.ndarray, w: np.ndarray, idx: slice) -> np.ndarray:
    """Add one chunk's local speakers to the clip's speaker tracks (new tracks where none match)."""
    shared = cover[idx] > 0
    local_n = act.shape[1]
    if tracks.shape[1] == 0 or not shared.any():
        assign = list(range(tracks.shape[1], tracks.shape[1] + local_n))
    else:
        current = tracks[idx][shared] / cover[idx][shared][:, None]  # [F, S]
        mine = act[shared]  # [F, L]
        cost_old = np.abs(current[:, None, :] - mine[:, :, None]).mean(axis=0)  # [L, S]
        # a new speaker is silent before this chunk; a tie goes to the existing speaker
        cost_new = np.where(np.eye(local_n) > 0, mine.mean(axis=0)[:, None] + 1e-6, FORBIDDEN)
        # scipy.optimize costs ~0.6 s to import: only when a match is made, not in the driver
        from scipy.optimize import linear_sum_assignment

        rows, cols = linear_sum_assignment(np.concatenate([cost_old, cost_new], axis=1))
        order = dict(zip(rows, cols, strict=True))
        next_new, assign = tracks.shape[1], []
        for k in range(local_n):
            col = order[k]
            if col >= tracks.shape[1]:
                col, next_new = next_new, next_new + 1
            assign.append(col)
    grow = max(assign) + 1 - tracks.shape[1]
    if grow > 0:
        tracks = np.concatenate([tracks, np.zeros((tracks.shape[0], grow))], axis=1)
    for k, col in enumerate(assign):
        tracks[idx, col] += w * act[:, k]
    return tracks


def _turns(
    tracks: np.ndarray, geometry: Geometry, th: Thresholds, duration: float
) -> list[tuple[int, float, float]]:
    """Segments of each stitched speaker active >= min_speaker_seconds, labelled 0, 1, ... in
    order of first appearance, sorted by start."""
    fs = geometry.frame_seconds
    per_speaker = []
    for k in range(tracks.shape[1]):
        segs = binarize(tracks[:, k], th, fs)
        if sum(e - s for s, e in segs) * fs >= th.min_speaker_seconds:
            per_speaker.append(segs)
    per_speaker.sort(key=lambda segs: segs[0][0])
    half = fs / 2
    turns = [
        (label, float(geometry.frame_time(s) - half), float(geometry.frame_time(e - 1) + half))
        for label, segs in enumerate(per_speaker)
        for s, e in segs
    ]
    turns = [(sp, round(max(a, 0.0), 3), round(min(b, duration), 3)) for sp, a, b in turns]
    return sorted(turns, key=lambda t: (t[1], t[0]))
