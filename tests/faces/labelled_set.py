"""A labelled identity set from the shared media, for tests and the faces benchmark.

People: the face_recognition stills (Obama x2, Biden x2, both in two_people.jpg: Obama left),
HuMo's Jaime portrait, and six talking-head clips of six other people (two frames each, 2 s apart).
12 same-person pairs: 6 across photos, 6 between frames of one clip.
"""

from __future__ import annotations

import itertools

import cv2
import numpy as np

from tests.faces.face_rows import frames_at
from tests.shared_media import media_file

STILLS = {
    "facerec_obama.jpg": ["obama"],
    "facerec_obama2.jpg": ["obama"],
    "facerec_biden.jpg": ["biden"],
    "facerec_biden2.jpg": ["biden"],
    "facerec_two_people.jpg": ["obama", "biden"],  # left to right
    "humo_man_Jaime.png": ["jaime"],
}
CLIPS = {
    "sadtalker_WDA_AlexandriaOcasioCortez_000.mp4": "aoc",
    "latentsync_demo1_video.mp4": "latentsync_woman",
    "latentsync_demo3_video.mp4": "latentsync_man",
    "liveportrait_d0.mp4": "liveportrait_d0",
    "liveportrait_d10.mp4": "liveportrait_d10",
    "liveportrait_d19.mp4": "liveportrait_d19",
}


def labelled_embeddings(backend) -> list[tuple[str, str, np.ndarray]]:
    """(person, item, embedding) for every labelled face; fails when a labelled face is missed."""
    items: list[tuple[str, str, np.ndarray, list[str]]] = []
    for name, people in STILLS.items():
        bgr = cv2.imread(str(media_file(name)))
        rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
        f = min(1.0, 720 / min(rgb.shape[:2]))
        items.append((name, name, cv2.resize(rgb, None, fx=f, fy=f, interpolation=cv2.INTER_AREA), people))
    for name, person in CLIPS.items():
        for k, frame in enumerate(frames_at(media_file(name), [0.5, 2.5])):
            items.append((f"{name}@{k}", name, frame, [person]))
    out = []
    for item, group, rgb, people in items:
        faces = sorted(backend.detect([rgb])[0], key=lambda f: f.box[0])
        assert len(faces) == len(people), f"{item}: {len(faces)} faces, labelled {len(people)}"
        vecs = backend.embed([(rgb, f) for f in faces])
        out += [(p, group, v) for p, v in zip(people, vecs, strict=True)]
    return out


def precision_recall(embs, threshold: float) -> tuple[float, float, int]:
    """Pairwise verification at ``threshold``: (precision, recall, same-person pairs)."""
    tp = fp = fn = 0
    for (pa_, _, va), (pb, _, vb) in itertools.combinations(embs, 2):
        match = float(np.linalg.norm(va - vb)) <= threshold
        same = pa_ == pb
        tp += match and same
        fp += match and not same
        fn += (not match) and same
    return tp / max(1, tp + fp), tp / max(1, tp + fn), tp + fn
