"""Training the syncnet backend on own clips: the loss falls on real face/audio pairs, and the
written weights load in the syncnet layout with a held-out report."""

import random

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from humo_data.sync.syncnet_model import SyncNet, load_syncnet  # noqa: E402
from humo_data.sync.train import contrastive_loss, prepare_clip, sample_pairs, train_syncnet  # noqa: E402
from tests.audio.media_rows import TALKING, cached_row  # noqa: E402
from tests.shared_media import needs_media  # noqa: E402

pytestmark = [needs_media, pytest.mark.slow]


@pytest.fixture(scope="module")
def rows():
    return [
        cached_row(TALKING[0][0], 0.64, 1.6),
        cached_row(TALKING[1][0], 0.64, 1.6),
        cached_row(TALKING[2][0], 10.0, 1.6),
    ]


def test_pairs_are_real_windows_and_the_loss_falls(rows):
    clips = [prepare_clip(r) for r in rows[:2]]
    assert all(c is not None and c.crops.shape[1:] == (224, 224, 3) and c.positions > 20 for c in clips)
    video, audio, label = sample_pairs(
        clips, 8, random.Random(0), min_shift=5, max_shift=15, swap_fraction=0.5
    )
    assert video.shape == (8, 3, 5, 224, 224) and audio.shape == (8, 1, 13, 20)
    assert label.tolist() == [1.0, 0.0] * 4
    torch.manual_seed(0)
    model = SyncNet()
    opt = torch.optim.Adam(model.parameters(), lr=1e-4)
    losses = []
    for _ in range(4):
        dist = torch.nn.functional.pairwise_distance(model.forward_lip(video), model.forward_aud(audio))
        loss = contrastive_loss(dist, label, margin=20.0)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0], losses


def test_train_writes_syncnet_weights_and_a_heldout_report(rows, tmp_path):
    out = tmp_path / "own_syncnet.model"
    report = train_syncnet(rows, out, steps=2, batch=4, eval_pairs=8, log_every=0)
    assert report.train_clips == 2 and report.heldout_clips == 1 and len(report.losses) == 2
    assert np.isfinite(report.threshold) and 0 <= report.heldout_accuracy <= 1 and report.heldout_pairs == 8
    model = load_syncnet(out)  # the syncnet backend's own loader
    assert isinstance(model, SyncNet)
    with pytest.raises(ValueError, match="2 usable clips"):
        train_syncnet(rows[:1], tmp_path / "x.model", steps=1)
