"""LSE-D / LSE-C / offset as syncnet_python computes them, checked by hand; MFCCs identical to
python_speech_features (the features SyncNet was trained on)."""

import numpy as np
import pytest

from humo_data.sync.scores import lse_scores, pairwise_offset_distances, score_curve_offset


def test_lse_scores_on_a_hand_computed_matrix():
    # vshift 2: columns j = 0..4 pair video frame i with audio frame i + j - 2
    dists = np.array(
        [
            [5.0, 3.0, 4.0, 0.5, 6.0],
            [4.0, 2.0, 5.0, 1.5, 7.0],
            [6.0, 4.0, 3.0, 1.0, 5.0],
        ]
    )
    # column means: [5, 3, 4, 1, 6]; min 1 at j = 3 -> offset 2 - 3 = -1; median 4 -> LSE-C 3
    s = lse_scores(dists)
    assert s.offset == -1
    assert s.distance == pytest.approx(1.0)
    assert s.confidence == pytest.approx(3.0)
    np.testing.assert_allclose(s.curve, [5, 3, 4, 1, 6])


def test_best_offset_at_the_window_centre_is_zero():
    dists = np.array([[9.0, 7.0, 2.0, 8.0, 8.0], [9.0, 7.0, 4.0, 8.0, 6.0]])  # means [9, 7, 3, 8, 7]
    s = lse_scores(dists)
    assert (s.offset, s.distance, s.confidence) == (0, pytest.approx(3.0), pytest.approx(4.0))


def test_audio_lagging_by_k_frames_reads_minus_k():
    rng = np.random.default_rng(0)
    video = rng.standard_normal((40, 8))
    k = 3
    audio = np.zeros_like(video)
    audio[k:] = video[:-k]  # the sound of frame i arrives at frame i + k
    s = lse_scores(pairwise_offset_distances(video, audio, vshift=5))
    assert s.offset == -k and s.distance < 1.0 and s.confidence > 3


def test_pairwise_distances_match_syncnet_calc_pdist():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(1)
    video, audio, vshift = rng.standard_normal((12, 6)), rng.standard_normal((12, 6)), 4
    feat1, feat2 = torch.tensor(video), torch.tensor(audio)
    feat2p = torch.nn.functional.pad(feat2, (0, 0, vshift, vshift))
    ref = torch.stack(
        [
            torch.nn.functional.pairwise_distance(
                feat1[[i], :].repeat(2 * vshift + 1, 1), feat2p[i : i + 2 * vshift + 1, :]
            )
            for i in range(len(feat1))
        ]
    ).numpy()
    np.testing.assert_allclose(pairwise_offset_distances(video, audio, vshift), ref, rtol=1e-6)
    mdist = torch.tensor(ref).mean(0)
    minval, minidx = torch.min(mdist, 0)
    s = lse_scores(ref)
    assert s.offset == vshift - int(minidx) and s.confidence == pytest.approx(
        float(torch.median(mdist) - minval)
    )


def test_similarity_curves_use_the_same_sign():
    curve = np.array([0.1, 0.2, 0.9, 0.3, 0.2])  # peak at j = 2 = vshift
    assert score_curve_offset(curve).offset == 0
    s = score_curve_offset(np.array([0.0, 0.1, 0.2, 0.3, 0.8]))
    assert s.offset == -2 and s.confidence == pytest.approx(0.6) and s.distance == pytest.approx(0.2)


def test_mfcc_matches_python_speech_features():
    psf = pytest.importorskip("python_speech_features")
    from humo_data.sync.mfcc import mfcc

    rng = np.random.default_rng(3)
    t = np.arange(16000) / 16000
    for wave in (
        0.3 * np.sin(2 * np.pi * 440 * t) + 0.01 * rng.standard_normal(len(t)),
        np.zeros(3000),
        np.ones(100) * 0.1,
    ):
        wave = wave.astype(np.float32)
        ref = psf.mfcc((wave * 32768).astype(np.float64), 16000)
        np.testing.assert_allclose(mfcc(wave), ref, rtol=1e-10, atol=1e-8)
