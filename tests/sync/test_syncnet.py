"""The syncnet backend end to end with random weights saved in the syncnet_v2 layout, through the
same loader real weights take, on a clip the pipeline cut; which weights may set sync_verified;
the loader's refusals; the crop geometry."""

import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from humo_data.rehearsal.tiny_torch import tiny_syncnet  # noqa: E402
from humo_data.stage import rows_to_table  # noqa: E402
from humo_data.sync.config import SyncConfig  # noqa: E402
from humo_data.sync.stage import SyncStage  # noqa: E402
from humo_data.sync.syncnet import CROP, PAD_VALUE, crop_face, embed, mfcc_windows  # noqa: E402
from humo_data.sync.syncnet_model import load_syncnet, save_syncnet  # noqa: E402
from humo_data.sync.verify import file_sha256, report_path, verifier_status  # noqa: E402
from tests.shared_media import needs_media  # noqa: E402
from tests.sync.pipeline_rows import TALKING_SOURCES  # noqa: E402


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    return tiny_syncnet(tmp_path_factory.mktemp("syncnet") / "syncnet_v2.model")


def test_loader_round_trips_and_refuses_foreign_files(weights, tmp_path):
    model = load_syncnet(weights)
    ref = torch.load(weights, weights_only=True)
    for k, v in ref.items():
        assert torch.equal(model.state_dict()[k], v)
    st = save_syncnet(model, tmp_path / "w.safetensors")
    again = load_syncnet(st)
    assert all(
        torch.equal(a, b)
        for a, b in zip(model.state_dict().values(), again.state_dict().values(), strict=True)
    )
    prefixed = tmp_path / "prefixed.model"
    torch.save({f"module.{k}": v for k, v in ref.items()}, prefixed)
    load_syncnet(prefixed)
    partial = tmp_path / "partial.model"
    torch.save({k: v for k, v in ref.items() if not k.startswith("netfclip")}, partial)
    with pytest.raises(ValueError, match="missing"):
        load_syncnet(partial)
    wrong = tmp_path / "wrong.model"
    torch.save({**ref, "netfcaud.0.weight": torch.zeros(3, 3)}, wrong)
    with pytest.raises(ValueError, match="shape"):
        load_syncnet(wrong)
    with pytest.raises(FileNotFoundError):
        load_syncnet(tmp_path / "absent.model")


def test_crop_geometry():
    frame = np.zeros((480, 640, 3), np.uint8)
    frame[200:300, 300:400] = 255  # a white "face"
    crop = crop_face(frame, np.array([300.0, 200.0, 400.0, 300.0]), crop_scale=0.4)
    assert crop.shape == (CROP, CROP, 3)
    # syncnet_python's crop spans [cy - bs, cy + 1.8 bs] x [cx - 1.4 bs, cx + 1.4 bs]: the box fills
    # the upper-middle of the crop
    white = np.argwhere(crop[..., 0] > 128)
    assert white[:, 0].min() < 0.05 * CROP and 0.25 * CROP < white[:, 1].mean() < 0.75 * CROP
    outside = crop_face(frame, np.array([-500.0, -500.0, -400.0, -400.0]), 0.4)
    assert (outside == PAD_VALUE).all()


def test_mfcc_windows_pair_four_mfcc_frames_per_video_frame():
    wave = np.random.default_rng(0).standard_normal(16000).astype(np.float32) * 0.1
    win = mfcc_windows(wave, 20)
    assert win.shape == (20, 1, 13, 20)
    np.testing.assert_array_equal(win[1, 0, :, :16], win[0, 0, :, 4:])


def syncnet_config(weights, **kw) -> SyncConfig:
    return SyncConfig(backend="syncnet", weights=str(weights), batch_frames=16, **kw)


@pytest.fixture(scope="module")
def short_clip(pipeline):
    """The first 2.1 s clip (53 frames) the pipeline cuts from the sadtalker speaker."""
    return pipeline.rows(TALKING_SOURCES[0], 0, 2.12)[:1]


@needs_media
def test_random_weights_score_but_never_verify(weights, short_clip):
    stage = SyncStage(syncnet_config(weights, min_confidence_syncnet=-1e9, max_abs_offset_frames=15))
    (out,) = stage(rows_to_table(short_clip)).to_pylist()
    assert out["sync_backend"] == "syncnet" and out["_reject_reason"] is None
    assert isinstance(out["sync_offset_frames"], int) and abs(out["sync_offset_frames"]) <= 15
    assert np.isfinite(out["sync_distance"]) and out["sync_confidence"] >= 0
    assert out["sync_gate"] is None  # the gates were opened wide: only the weights decide
    assert out["sync_verified"] is False
    prov = stage.provenance()
    assert (
        prov["sync_verified_possible"] is False and "not in sync.verifier_sha256" in prov["sync_verified_why"]
    )
    # deterministic: the same crops and MFCCs embed to the same vectors
    model = load_syncnet(weights)
    crops = np.random.default_rng(0).integers(0, 255, (8, CROP, CROP, 3), dtype=np.uint8)
    mf = mfcc_windows(np.zeros(16000, np.float32), 4)
    a, b = embed(model, crops, mf, 2, "cpu"), embed(model, crops, mf, 4, "cpu")
    np.testing.assert_allclose(a[0], b[0], rtol=1e-4, atol=1e-4)
    assert a[0].shape == (4, 1024) and a[1].shape == (4, 1024)


@needs_media
def test_weights_listed_as_verifier_verify_when_the_gates_pass(weights, short_clip):
    listed = [file_sha256(weights).upper()]  # as a user pastes it from sha256sum (case ignored)
    open_gates = syncnet_config(
        weights, verifier_sha256=listed, min_confidence_syncnet=-1e9, max_abs_offset_frames=15
    )
    (out,) = SyncStage(open_gates)(rows_to_table(short_clip)).to_pylist()
    assert out["sync_gate"] is None and out["sync_verified"] is True
    closed = open_gates.model_copy(update={"min_confidence_syncnet": 1e9})
    (out,) = SyncStage(closed)(rows_to_table(short_clip)).to_pylist()
    assert out["sync_gate"] == "low_sync_confidence" and out["sync_verified"] is False


def test_sync_train_reports_decide_which_trained_weights_verify(weights, tmp_path):
    own = tmp_path / "own.model"
    own.write_bytes(weights.read_bytes())
    cfg = syncnet_config(own, min_heldout_pairs=1000)
    assert not verifier_status(cfg).verified  # no report beside the weights
    report = {"heldout_accuracy": 0.95, "heldout_pairs": 2000, "weights_sha256": file_sha256(own)}
    report_path(own).write_text(json.dumps(report))
    status = verifier_status(cfg)
    assert status.verified and "0.950" in status.why
    report_path(own).write_text(json.dumps({**report, "heldout_accuracy": 0.6}))
    assert "needs >= 0.9" in verifier_status(cfg).why and not verifier_status(cfg).verified
    report_path(own).write_text(json.dumps({**report, "heldout_pairs": 200}))
    assert not verifier_status(cfg).verified
    report_path(own).write_text(json.dumps({**report, "weights_sha256": "0" * 64}))
    assert "other weights" in verifier_status(cfg).why
    assert not verifier_status(SyncConfig()).verified  # the offline scorer never verifies
