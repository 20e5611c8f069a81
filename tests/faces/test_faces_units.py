"""Unit tests of the face stage's pieces: size/position filter, working scale, tracks, crops."""

from __future__ import annotations

import numpy as np

from humo_data.faces import geometry, tracks
from humo_data.faces.backends.base import Face
from humo_data.faces.backends.dlib_hog import DlibBackend, working_scale
from humo_data.faces.config import FacesConfig
from humo_data.faces.crops import crop_window, head_and_shoulders


def _face(x0, y0, side, shift=(0.0, 0.0)) -> Face:
    """A dlib-layout face (68 points) whose parts sit inside its box, optionally shifted."""
    rng = np.random.default_rng(0)
    pts = np.stack([x0 + side * rng.uniform(0.2, 0.8, 68), y0 + side * rng.uniform(0.3, 0.9, 68)], 1)
    pts += np.asarray(shift)
    return Face(np.array([x0, y0, x0 + side, y0 + side], np.float32), 1.0, pts.astype(np.float32))


def test_filter_size_and_border():
    cfg, backend = FacesConfig(), DlibBackend(FacesConfig())
    pic = geometry.picture_box(640, 480, None, None)
    assert geometry.classify(_face(100, 100, 200), pic, cfg, backend) == geometry.KEPT
    # 4% of 640x480 is 12288 px^2 -> a 100 px box (10000) is too small, 120 px (14400) is not
    assert geometry.classify(_face(100, 100, 100), pic, cfg, backend) == geometry.TOO_SMALL
    assert geometry.classify(_face(100, 100, 120), pic, cfg, backend) == geometry.KEPT
    # the 64 px rule on its own (area rule off)
    small_cfg = FacesConfig(min_face_area=0.0)
    assert geometry.classify(_face(10, 10, 60), pic, small_cfg, backend) == geometry.TOO_SMALL
    # landmarks pushed past the right edge
    assert geometry.classify(_face(500, 100, 200), pic, cfg, backend) == geometry.CUT
    assert (
        geometry.classify(_face(500, 100, 200), pic, FacesConfig(parts_inside=False), backend)
        == geometry.KEPT
    )


def test_letterbox_counts_as_border():
    cfg, backend = FacesConfig(), DlibBackend(FacesConfig())
    # clip 640x480 with black bars above/below: content y in [60, 420); frame sampled at 2x
    pic = geometry.picture_box(1280, 960, [0, 60, 640, 420], (640, 480))
    assert pic.tolist() == [0, 120, 1280, 840]
    assert geometry.classify(_face(400, -50, 300), pic, cfg, backend) == geometry.CUT  # eyes on the bar
    assert geometry.classify(_face(400, 300, 300), pic, cfg, backend) == geometry.KEPT


def test_working_scale_targets_hog_window():
    # 720x1280: smallest kept side sqrt(.04 * 720 * 1280) = 192 px; 0.6 of it -> 115 px -> scale 80/115
    s = working_scale(1280, 720, 0.04, 64, 0.6, 2.0)
    assert abs(s - 80 / (0.6 * 192)) < 1e-3
    assert working_scale(100, 100, 0.04, 64, 0.6, 2.0) == 2.0  # capped upsampling


def test_tracks_iou_then_embedding():
    # person 1 stays put; person 2 jumps across the frame between frames 1 and 2 (IoU 0)
    boxes = [
        [np.array([0, 0, 100, 100.0]), np.array([300, 0, 400, 100.0])],
        [np.array([5, 0, 105, 100.0]), np.array([300, 5, 400, 105.0])],
        [np.array([5, 5, 105, 105.0]), np.array([600, 300, 700, 400.0])],
    ]
    frags = tracks.fragments(boxes, 0.3)
    assert sorted(len(f) for f in frags) == [1, 2, 3]
    emb = {0: np.zeros(4), 1: np.ones(4)}  # person 1 at 0, person 2 at 1
    person = {(f, j): (0 if j == 0 else 1) for f in range(3) for j in range(2)}
    frag_emb = [emb[person[fr[0]]] for fr in frags]
    merged = tracks.merge(frags, frag_emb, max_distance=0.5)
    assert sorted(len(g) for g in merged) == [3, 3]
    # fragments that share a frame never merge, however close
    assert len(tracks.merge([[(0, 0)], [(0, 1)]], [np.zeros(4), np.zeros(4)], 0.5)) == 2


def test_merge_does_not_chain():
    # fragments on a line 0.3 apart, threshold 0.35: pairs may join, the chain may not
    frags = [[(i, 0)] for i in range(4)]
    embs = [np.array([0.3 * i, 0.0]) for i in range(4)]
    groups = tracks.merge(frags, embs, 0.35)
    assert len(groups) == 2


def test_pick_for_embedding_spreads_in_time():
    frag = [(f, 0) for f in range(5)]
    areas = {r: 1.0 for r in frag} | {(2, 0): 2.0}
    assert tracks.pick_for_embedding(frag, areas, 3) == [(0, 0), (2, 0), (4, 0)]


def test_head_and_shoulders_crop_holds_the_face():
    rgb = np.zeros((720, 1280, 3), np.uint8)
    box = np.array([600, 100, 700, 220], np.float32)
    crop, face = head_and_shoulders(rgb, box, 2.4, 0.25, 512)
    assert crop.shape[0] == crop.shape[1] == 288  # 2.4 x 120 px
    assert 0 <= face[0] < face[2] <= crop.shape[1] and 0 <= face[1] < face[3] <= crop.shape[0]
    # at a corner the window slides inside the frame instead of shrinking
    left, top, right, bottom = crop_window(np.array([0, 0, 100, 100.0]), 1280, 720, 2.4, 0.25)
    assert (left, top, right - left, bottom - top) == (0, 0, 240, 240)
    # larger than max_side: downscaled, box scaled with it
    crop, face = head_and_shoulders(rgb, np.array([400, 100, 700, 400.0]), 2.4, 0.0, 256)
    assert max(crop.shape[:2]) == 256 and face[2] - face[0] < 256


def test_yaw_sign_follows_the_nose():
    backend = DlibBackend(FacesConfig())
    face = _face(0, 0, 100)
    face.landmarks[36:42] = [20, 40]
    face.landmarks[42:48] = [80, 40]
    face.landmarks[30] = [50, 60]
    assert abs(geometry.yaw_degrees(face, backend)) < 1e-6
    face.landmarks[30] = [70, 60]
    assert geometry.yaw_degrees(face, backend) > 15
