"""Training the syncnet backend on own clips (rows the pipeline cut): the loss falls on real
face/audio pairs, the weights load in the syncnet layout, the held-out report is written beside
them and decides (with the configured floor) whether they may verify; the training set is every
talking clip with one visible speaker and audio as cut, never the offline scorer's picks."""

import json
import random

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from humo_data.sync.config import SyncConfig  # noqa: E402
from humo_data.sync.syncnet_model import SyncNet, load_syncnet  # noqa: E402
from humo_data.sync.train import (  # noqa: E402
    candidates_from_dataset,
    contrastive_loss,
    prepare_clip,
    sample_pairs,
    train_syncnet,
)
from humo_data.sync.verify import file_sha256, report_path, verifier_status  # noqa: E402
from tests.fault_corpus import write_dataset  # noqa: E402
from tests.shared_media import needs_media  # noqa: E402
from tests.sync.pipeline_rows import TALKING_SOURCES  # noqa: E402

pytestmark = [needs_media, pytest.mark.slow]


@pytest.fixture(scope="module")
def rows(pipeline):
    """The first clip (up to 10 s) of each talking speaker, as the cutter and faces stage made them
    (the same rows test_offline's in-sync test scores: one cut per session)."""
    return [pipeline.rows(name, 0, 10.0)[0] for name in TALKING_SOURCES]


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


def test_train_writes_weights_and_a_heldout_report_that_gates_verification(rows, tmp_path):
    out = tmp_path / "own_syncnet.model"
    report = train_syncnet(rows, out, steps=2, batch=4, eval_pairs=8, log_every=0)
    assert report.heldout_sources == 1 and report.train_sources == 2  # whole speakers held out
    assert report.train_clips == 2 and report.heldout_clips == 1 and len(report.losses) == 2
    assert np.isfinite(report.threshold) and 0 <= report.heldout_accuracy <= 1 and report.heldout_pairs == 8
    assert isinstance(load_syncnet(out), SyncNet)  # the syncnet backend's own loader
    written = json.loads(report_path(out).read_text())
    assert written["weights_sha256"] == file_sha256(out) == report.weights_sha256
    assert written["heldout_accuracy"] == report.heldout_accuracy
    status = verifier_status(SyncConfig(backend="syncnet", weights=str(out)))
    assert not status.verified and "held-out accuracy" in status.why  # 8 pairs of a 2-step model
    with pytest.raises(ValueError, match="2 usable clips"):
        train_syncnet(rows[:1], tmp_path / "x.model", steps=1)
    with pytest.raises(ValueError, match="2 sources"):
        train_syncnet([rows[0], dict(rows[0], clip_id="other")], tmp_path / "y.model", steps=1)


def test_candidates_are_talking_single_speaker_clips_with_audio_as_cut(rows, tmp_path):
    """Selection from a finished dataset: the audio stage's verdict and the people count decide;
    the sync stage's gate and offset do not, and clips whose audio was moved are left out."""
    base = {k: rows[0][k] for k in ("video", "audio", "fps", "num_frames", "face_track", "source_id")}
    variants = {
        "talking_sync_gated": dict(audio_gate=None, speech_ratio=0.9, people_count=1, sync_gate="low_sync_confidence"),
        "talking_out_of_sync": dict(audio_gate=None, speech_ratio=0.9, people_count=1, sync_gate="out_of_sync"),
        "moved_by_scorer": dict(audio_gate=None, speech_ratio=0.9, people_count=1, audio_offset_frames=-3),
        "two_people": dict(audio_gate=None, speech_ratio=0.9, people_count=2),
        "no_speech": dict(audio_gate="not_enough_speech", speech_ratio=0.1, people_count=1),
        "audio_not_run": dict(audio_gate=None, speech_ratio=None, people_count=1),
    }  # fmt: skip
    from tests.fault_corpus import triplet_row

    triplets = []
    for i, (name, fields) in enumerate(variants.items()):
        row = {**triplet_row(i), **base, "clip_id": f"{name:0>24}"[:24], "audio_offset_frames": 0, **fields}
        triplets.append(row)
    write_dataset(tmp_path / "ds", triplets, [])
    picked = {r["clip_id"] for r in candidates_from_dataset(str(tmp_path / "ds"))}
    expected = {f"{n:0>24}"[:24] for n in ("talking_sync_gated", "talking_out_of_sync")}
    assert picked == expected
