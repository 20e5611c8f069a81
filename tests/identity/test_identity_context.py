"""The surround context descriptor (faces/context.py), the identity pass's same-set-and-clothes check:
a frame and its rescaled, cropped and letterboxed copies describe alike, another recording does
not, and the face itself never counts. Real frames and faces (dlib) from the shared media."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from humo_data.faces.backends import load_backend
from humo_data.faces.config import FacesConfig
from humo_data.faces.context import SurroundContext, load_context
from humo_data.identity.config import IdentityConfig
from humo_data.identity.context import context_similarity
from tests.faces.face_rows import frames_at
from tests.shared_media import media_file, needs_media

LIMIT = IdentityConfig().context_limit("surround")


@pytest.fixture(scope="module")
def faces():
    backend = load_backend(FacesConfig())
    backend.setup()
    return backend


def _main_box(backend, rgb: np.ndarray) -> np.ndarray:
    """The face frame the face stage hands the descriptor (from the eyes)."""
    found = backend.detect([rgb])[0]
    assert found, "a face on the shared frame"
    return SurroundContext(FacesConfig()).face_box(max(found, key=lambda f: f.area), backend)


def _sim(a: np.ndarray, b: np.ndarray) -> float:
    return float(context_similarity("surround", a, b)[0, 0])


def test_surround_is_the_default_and_compares_itself():
    ctx = load_context(FacesConfig())
    assert ctx.backend_name == "surround"
    rng = np.random.default_rng(0)
    frame = rng.integers(0, 255, (360, 480, 3), dtype=np.uint8)
    (v,) = ctx.describe([(frame, np.array([180, 100, 300, 240], np.float32))])
    assert abs(_sim(v, v) - 1) < 1e-6


@needs_media
def test_copies_of_a_frame_describe_alike_and_other_recordings_do_not(faces):
    ctx = SurroundContext(FacesConfig())
    (frame,) = frames_at(media_file("liveportrait_d10.mp4"), [2.0])
    h, w = frame.shape[:2]
    crop = frame[int(0.05 * h) : int(0.95 * h), int(0.05 * w) : int(0.95 * w)]
    letterbox = cv2.copyMakeBorder(frame, 0, 0, w // 3, w // 3, cv2.BORDER_CONSTANT, value=(0, 0, 0))
    scaled = cv2.resize(frame, (300, 300), interpolation=cv2.INTER_AREA)  # aspect changed too
    jpeg = cv2.imdecode(cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, 20])[1], cv2.IMREAD_UNCHANGED)
    copies = [frame, crop, letterbox, scaled, jpeg]
    vecs = ctx.describe([(c, _main_box(faces, c)) for c in copies])
    same = [_sim(vecs[0], v) for v in vecs[1:]]
    assert min(same) >= LIMIT, same
    # the same person's other photo, another person's video
    others = [
        frames_at(media_file("sadtalker_WDA_AlexandriaOcasioCortez_000.mp4"), [1.0])[0],
        frames_at(media_file("latentsync_demo1_video.mp4"), [1.0])[0],
    ]
    other = [_sim(vecs[0], v) for v in ctx.describe([(o, _main_box(faces, o)) for o in others])]
    assert max(other) < LIMIT, other


@needs_media
def test_two_photos_of_one_person_are_other_contexts(faces):
    ctx = SurroundContext(FacesConfig())
    for first, second in [
        ("facerec_obama.jpg", "facerec_obama2.jpg"),
        ("facerec_biden.jpg", "facerec_biden2.jpg"),
    ]:
        images = [cv2.cvtColor(cv2.imread(str(media_file(n))), cv2.COLOR_BGR2RGB) for n in (first, second)]
        a, b = ctx.describe([(im, _main_box(faces, im)) for im in images])
        assert _sim(a, b) < LIMIT


def test_surround_never_sees_the_face():
    ctx = SurroundContext(FacesConfig())
    rng = np.random.default_rng(1)
    scene = rng.integers(0, 255, (360, 480, 3), dtype=np.uint8)
    scene = cv2.GaussianBlur(scene, (31, 31), 8)
    box = np.array([190, 110, 290, 230], np.float32)
    other = scene.copy()
    other[110:230, 190:290] = rng.integers(0, 255, (120, 100, 3), dtype=np.uint8)  # another face
    a, b = ctx.describe([(scene, box), (other, box)])
    assert _sim(a, b) > 0.999


def test_cells_outside_the_picture_do_not_count():
    ctx = SurroundContext(FacesConfig())
    rng = np.random.default_rng(2)
    scene = cv2.GaussianBlur(rng.integers(0, 255, (400, 600, 3), dtype=np.uint8), (41, 41), 10)
    box = np.array([250, 120, 350, 240], np.float32)
    cut = scene[:, 230:]  # the left third of the window is gone in the copy
    a, b = ctx.describe([(scene, box), (cut, box - np.array([230, 0, 230, 0], np.float32))])
    assert a[: len(a) // 4].sum() > b[: len(b) // 4].sum()  # fewer cells seen
    assert _sim(a, b) > 0.99
    # a face at the very edge leaves too few shared cells: not comparable
    c, d = ctx.describe(
        [(scene, np.array([0, 0, 40, 50], np.float32)), (scene, np.array([560, 350, 600, 400], np.float32))]
    )
    assert np.isnan(_sim(c, d))
