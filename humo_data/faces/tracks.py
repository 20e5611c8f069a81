"""Link per-frame detections into tracks: IoU between consecutive sampled frames, then embeddings.

The sampled frames lie about a second apart, so a moving face can fall below the IoU bar: IoU makes
fragments cheaply, and fragments that never share a frame merge when their mean embeddings are
within the same-person distance (closest pair first, means recomputed after each merge, so a chain of
small steps cannot join two different people).
"""

from __future__ import annotations

import numpy as np

from humo_data.faces.geometry import iou

Ref = tuple[int, int]  # (frame index, face index within the frame)


def fragments(boxes: list[list[np.ndarray]], min_iou: float) -> list[list[Ref]]:
    """Fragments of detections linked frame to frame by IoU (Hungarian assignment, IoU >= min_iou).
    A fragment may skip one frame (a missed detection)."""
    frags: list[list[Ref]] = []
    for f, frame_boxes in enumerate(boxes):
        open_ = [i for i, fr in enumerate(frags) if f - fr[-1][0] <= 2]
        taken: set[int] = set()
        if open_ and frame_boxes:
            score = np.zeros((len(open_), len(frame_boxes)))
            for a, i in enumerate(open_):
                last_f, last_j = frags[i][-1]
                for b, box in enumerate(frame_boxes):
                    score[a, b] = iou(boxes[last_f][last_j], box)
            # scipy.optimize costs ~0.6 s to import: only when a match is made, not in the driver
            from scipy.optimize import linear_sum_assignment

            rows, cols = linear_sum_assignment(-score)
            for a, b in zip(rows, cols, strict=True):
                if score[a, b] >= min_iou:
                    frags[open_[a]].append((f, int(b)))
                    taken.add(int(b))
        frags.extend([(f, j)] for j in range(len(frame_boxes)) if j not in taken)
    return frags


def pick_for_embedding(frag: list[Ref], areas: dict[Ref, float], n: int) -> list[Ref]:
    """Up to ``n`` detections (which to embed, which to crop): the largest first, then spread in time."""
    if len(frag) <= n:
        return list(frag)
    chosen = [max(frag, key=lambda r: areas[r])]
    while len(chosen) < n:
        rest = [r for r in frag if r not in chosen]
        chosen.append(max(rest, key=lambda r: (min(abs(r[0] - c[0]) for c in chosen), areas[r])))
    return sorted(chosen)


def merge(frags: list[list[Ref]], embeddings: list[np.ndarray], max_distance: float) -> list[list[Ref]]:
    """Join fragments that never share a frame and whose mean embeddings lie within ``max_distance``
    (closest first, group means recomputed after each join: average-style, no chaining)."""
    groups = [list(fr) for fr in frags]
    sums = [np.asarray(e, np.float64) * len(fr) for e, fr in zip(embeddings, frags, strict=True)]
    counts = [len(fr) for fr in frags]
    alive = list(range(len(groups)))
    while True:
        best, pair = max_distance, None
        for a_i, a in enumerate(alive):
            fa = {r[0] for r in groups[a]}
            for b in alive[a_i + 1 :]:
                if fa & {r[0] for r in groups[b]}:
                    continue
                d = float(np.linalg.norm(sums[a] / counts[a] - sums[b] / counts[b]))
                if d <= best:
                    best, pair = d, (a, b)
        if pair is None:
            break
        a, b = pair
        groups[a] = sorted(groups[a] + groups[b])
        sums[a] = sums[a] + sums[b]
        counts[a] += counts[b]
        alive.remove(b)
    return [groups[i] for i in alive]
