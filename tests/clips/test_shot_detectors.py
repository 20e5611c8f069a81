"""The shot detectors' faster frame score gives PySceneDetect's own scores and cuts, bit for bit."""

import numpy as np
import pytest
from scenedetect import FrameTimecode
from scenedetect.detectors import AdaptiveDetector, ContentDetector

from humo_data.clips.cutter import mean_level
from humo_data.config import ShotsConfig
from humo_data.media.decode import SourceReader
from humo_data.shots import build_shot_detector
from tests.shared_media import media_file


def small_frames(name: str, limit: int = 400) -> list[np.ndarray]:
    with SourceReader(str(media_file(name)), fps=25, short_side=480, with_audio=False, threads=1) as r:
        return [f.small_bgr for f, _ in zip(r.frames(), range(limit), strict=False)]


def scores_and_cuts(detector, frames: list[np.ndarray]) -> tuple[list[float], list[int]]:
    scores, cuts = [], []
    for i, img in enumerate(frames):
        cuts += [int(c.frame_num) for c in detector.process_frame(FrameTimecode(i, fps=25.0), img)]
        scores.append(detector._frame_score)
    return scores, cuts


@pytest.mark.parametrize(
    "name",
    ["pyscenedetect_testvideo.mp4", "pyscenedetect_fades.mp4", "pyscenedetect_goldeneye-vfr-drop3.mp4"],
)
@pytest.mark.parametrize(
    ("backend", "stock"),
    [("pyscenedetect-content", ContentDetector), ("pyscenedetect-adaptive", AdaptiveDetector)],
)
def test_fast_score_equals_pyscenedetect(name, backend, stock):
    frames = small_frames(name)
    ours = build_shot_detector(ShotsConfig(backend=backend, min_shot_seconds=0.6), 25).detector
    theirs = stock(min_scene_len=15)
    got, want = scores_and_cuts(ours, frames), scores_and_cuts(theirs, frames)
    assert type(ours) is not stock  # the fast path is in use
    assert got == want
    assert max(want[0]) > 1  # real motion and transitions, not a trivially equal zero score
    if name == "pyscenedetect_testvideo.mp4":
        assert want[1], "the hard cuts are found"


def test_mean_level_is_the_mean_over_all_channels():
    rng = np.random.default_rng(0)
    for shape in [(144, 256, 3), (7, 5, 3), (9, 11)]:
        img = rng.integers(0, 256, shape, dtype=np.uint8)
        assert mean_level(img) == pytest.approx(float(img.mean()), abs=1e-9)
