"""The syncnet backend end to end with random weights saved in the syncnet_v2 layout, through the
same loader real weights take; the loader's refusals; the crop geometry."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from humo_data.stage import rows_to_table  # noqa: E402
from humo_data.sync.config import SyncConfig  # noqa: E402
from humo_data.sync.stage import SyncStage  # noqa: E402
from humo_data.sync.syncnet import CROP, PAD_VALUE, crop_face, embed, mfcc_windows  # noqa: E402
from humo_data.sync.syncnet_model import SyncNet, load_syncnet, save_syncnet  # noqa: E402
from tests.audio.media_rows import TALKING, cached_row  # noqa: E402
from tests.shared_media import needs_media  # noqa: E402


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    torch.manual_seed(0)
    model = SyncNet()
    with torch.no_grad():  # non-trivial BatchNorm statistics, as a trained checkpoint has
        for m in model.modules():
            if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
                m.running_mean.uniform_(-0.1, 0.1)
                m.running_var.uniform_(0.5, 2.0)
    path = tmp_path_factory.mktemp("syncnet") / "syncnet_v2.model"
    state = {k: v for k, v in model.state_dict().items() if not k.endswith("num_batches_tracked")}
    torch.save(state, path)  # the public release: a plain state dict, no BatchNorm counters
    return path


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


@needs_media
def test_syncnet_backend_end_to_end_with_random_weights(weights):
    row = cached_row(TALKING[0][0], 0.64, 1.4)
    stage = SyncStage(SyncConfig(backend="syncnet", weights=str(weights), batch_frames=16))
    out = stage(rows_to_table([row])).to_pylist()[0]
    assert out["sync_backend"] == "syncnet"
    assert isinstance(out["sync_offset_frames"], int) and abs(out["sync_offset_frames"]) <= 15
    assert np.isfinite(out["sync_distance"]) and out["sync_confidence"] >= 0
    # random weights cannot verify: whatever the gate decided, the flag and the reason agree
    assert out["sync_verified"] == (out["sync_gate"] is None)
    assert out["_reject_reason"] is None
    # deterministic: the same crops and MFCCs embed to the same vectors
    model = load_syncnet(weights)
    crops = np.random.default_rng(0).integers(0, 255, (8, CROP, CROP, 3), dtype=np.uint8)
    mf = mfcc_windows(np.zeros(16000, np.float32), 4)
    a, b = embed(model, crops, mf, 2, "cpu"), embed(model, crops, mf, 4, "cpu")
    np.testing.assert_allclose(a[0], b[0], rtol=1e-4, atol=1e-4)
    assert a[0].shape == (4, 1024) and a[1].shape == (4, 1024)
