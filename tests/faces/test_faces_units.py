"""Unit tests of the face stage's pieces: size/position filter, working scale, tracks, crops."""

from __future__ import annotations

import numpy as np

from humo_data.faces import geometry, tracks
from humo_data.faces.backends.base import Face
from humo_data.faces.backends.dlib_hog import DlibBackend, pyramid_levels, working_scale
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
    same = geometry.frame_scale(640, 480, (640, 480), (640, 480))
    assert (same.stored, same.source) == (1.0, 1.0)
    assert geometry.classify(_face(100, 100, 200), pic, same, cfg, backend) == geometry.KEPT
    # 64 px in the stored clip; no share-of-frame rule by default
    assert geometry.classify(_face(10, 10, 60), pic, same, cfg, backend) == geometry.TOO_SMALL
    assert geometry.classify(_face(10, 10, 70), pic, same, cfg, backend) == geometry.KEPT
    # frames sampled at 1280x720 from a 1920x1080 source, stored at 854x480: a 90 px face in the
    # frame is 60 px stored (too small), a 100 px face 67 px stored and 150 px in the source
    hd = geometry.frame_scale(1280, 720, (854, 480), (1920, 1080))
    pic_hd = geometry.picture_box(1280, 720, None, None)
    assert geometry.classify(_face(10, 10, 90), pic_hd, hd, cfg, backend) == geometry.TOO_SMALL
    assert geometry.classify(_face(10, 10, 100), pic_hd, hd, cfg, backend) == geometry.KEPT
    size = geometry.face_size(_face(10, 10, 100), pic_hd, hd)
    assert abs(size.stored_px - 100 * 480 / 720) < 1e-3 and abs(size.source_px - 150) < 1e-3
    # an upscaled clip: 100 px stored from a 240p source is 50 px in the source -> too small
    up = geometry.frame_scale(320, 240, (640, 480), (320, 240))
    assert geometry.classify(_face(10, 10, 50), geometry.picture_box(320, 240, None, None), up, cfg,
                             backend) == geometry.TOO_SMALL  # fmt: skip
    # unknown source size: only the stored-clip rule applies
    assert geometry.frame_scale(320, 240, (640, 480), (None, None)).source is None
    # the strict tier's area rule: 4% of 640x480 is 12288 px^2 -> 100 px (10000) too small, 120 px not
    strict = FacesConfig(min_face_area=0.04)
    assert geometry.classify(_face(100, 100, 100), pic, same, strict, backend) == geometry.TOO_SMALL
    assert geometry.classify(_face(100, 100, 120), pic, same, strict, backend) == geometry.KEPT
    # landmarks pushed past the right edge
    assert geometry.classify(_face(500, 100, 200), pic, same, cfg, backend) == geometry.CUT
    assert (
        geometry.classify(_face(500, 100, 200), pic, same, FacesConfig(parts_inside=False), backend)
        == geometry.KEPT
    )


def test_letterbox_counts_as_border():
    cfg, backend = FacesConfig(), DlibBackend(FacesConfig())
    # clip 640x480 with black bars above/below: content y in [60, 420); frame sampled at 2x
    pic = geometry.picture_box(1280, 960, [0, 60, 640, 420], (640, 480))
    assert pic.tolist() == [0, 120, 1280, 840]
    scale = geometry.frame_scale(1280, 960, (640, 480), (1280, 960))
    assert (
        geometry.classify(_face(400, -50, 300), pic, scale, cfg, backend) == geometry.CUT
    )  # eyes on the bar
    assert geometry.classify(_face(400, 300, 300), pic, scale, cfg, backend) == geometry.KEPT


def test_working_scale_targets_hog_window():
    # frames 1280x720 of a clip stored at 854x480: the smallest kept face (64 px stored) is 96 frame px;
    # 0.6 of it -> 57.6 px -> HOG's 80 px window needs a scale of 80/57.6
    cfg = FacesConfig()
    scale = geometry.frame_scale(1280, 720, (854, 480), (1920, 1080))
    side = geometry.smallest_kept_side(geometry.picture_box(1280, 720, None, None), scale, cfg)
    assert abs(side - 96) < 1e-3
    assert abs(working_scale(side, 0.6, 2.0) - 80 / (0.6 * 96)) < 1e-3
    # the strict tier's area rule makes the smallest kept face sqrt(.04 * 1280 * 720) = 192 px
    strict = FacesConfig(min_face_area=0.04)
    assert (
        abs(geometry.smallest_kept_side(geometry.picture_box(1280, 720, None, None), scale, strict) - 192)
        < 1e-3
    )
    # an upscaled clip (source 320x180 stored at 854x480): the source rule sets the size, 64 frame px
    up = geometry.frame_scale(320, 180, (854, 480), (320, 180))
    assert abs(geometry.smallest_kept_side(geometry.picture_box(320, 180, None, None), up, cfg) - 64) < 1e-3
    assert working_scale(64, 0.6, 2.0) == 2.0  # capped upsampling
    # the first pass starts at the level of the same 5/6 pyramid whose smallest box is the kept size:
    # from 57.6 px boxes, 3 levels up (57.6 * 1.2^3 = 99.5 >= 96; 2 levels give 82.9)
    assert pyramid_levels(57.6, 96) == 3 and pyramid_levels(96, 96) == 0 and pyramid_levels(100, 96) == 0


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
