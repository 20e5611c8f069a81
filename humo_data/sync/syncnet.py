"""The ``syncnet`` backend: SyncNet embeddings of face crops and MFCC windows, LSE-D / LSE-C and
the best offset over +/- ``max_offset_frames``, as syncnet_python's ``evaluate`` computes them.

Video: the clip is decoded once; each frame's face (the faces stage's track followed by dlib
landmarks, humo_data.sync.track) is cropped as syncnet_python's ``crop_video`` does (box half-size
bs, padding crop_scale, 224 x 224, BGR). Audio: the clip's own audio (no margin, as the standard
evaluation), MFCCs at 100 Hz; frame i pairs video frames i..i+4 with MFCC frames 4i..4i+19.
"""

from __future__ import annotations

import cv2
import numpy as np
import torch

from humo_data.devices import resolve_device
from humo_data.media.audio import clip_window
from humo_data.sync.base import SYNC_BACKENDS, SyncInput, SyncResult, SyncScorer
from humo_data.sync.mfcc import mfcc
from humo_data.sync.scores import lse_scores, pairwise_offset_distances
from humo_data.sync.syncnet_model import SyncNet, load_syncnet
from humo_data.sync.track import track_face

CROP = 224
PAD_VALUE = 110  # syncnet_python pads frames with grey 110
SR = 16000
SAMPLES_PER_FRAME = 640  # 16 kHz / 25 fps


def crop_face(bgr: np.ndarray, box: np.ndarray, crop_scale: float, box_scale: float = 1.0) -> np.ndarray:
    """syncnet_python's crop: centre of the box, half-size bs, from bs above the centre to 1.8 bs
    below it (crop_scale 0.4), 2.8 bs wide, grey (110) beyond the frame, resized to 224 x 224."""
    cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
    bs = max(box[2] - box[0], box[3] - box[1]) / 2 * box_scale
    y0, y1 = int(cy - bs), int(cy + bs * (1 + 2 * crop_scale))
    x0, x1 = int(cx - bs * (1 + crop_scale)), int(cx + bs * (1 + crop_scale))
    if y1 <= y0 or x1 <= x0:
        return np.full((CROP, CROP, 3), PAD_VALUE, np.uint8)
    face = np.full((y1 - y0, x1 - x0, 3), PAD_VALUE, np.uint8)
    h, w = bgr.shape[:2]
    sy0, sy1, sx0, sx1 = max(y0, 0), min(y1, h), max(x0, 0), min(x1, w)
    if sy1 > sy0 and sx1 > sx0:
        face[sy0 - y0 : sy1 - y0, sx0 - x0 : sx1 - x0] = bgr[sy0:sy1, sx0:sx1]
    return cv2.resize(face, (CROP, CROP))


def mfcc_windows(wave: np.ndarray, count: int) -> np.ndarray:
    """[count, 1, 13, 20] MFCC windows: frame i covers MFCC frames 4i .. 4i+19."""
    feats = mfcc(wave).T  # [13, T]
    need = 4 * (count - 1) + 20
    if feats.shape[1] < need:
        feats = np.pad(feats, ((0, 0), (0, need - feats.shape[1])))
    return np.stack([feats[:, 4 * i : 4 * i + 20] for i in range(count)])[:, None].astype(np.float32)


@torch.inference_mode()
def embed(
    model: SyncNet, crops: np.ndarray, mfccs: np.ndarray, batch: int, device: str
) -> tuple[np.ndarray, np.ndarray]:
    """Video and audio embeddings for ``len(mfccs)`` positions; crops [n, 224, 224, 3] uint8 BGR."""
    video_all = torch.from_numpy(crops).permute(3, 0, 1, 2).float()  # [3, n, H, W]
    vid, aud = [], []
    for start in range(0, len(mfccs), batch):
        idx = range(start, min(start + batch, len(mfccs)))
        clips = torch.stack([video_all[:, i : i + 5] for i in idx]).to(device)
        vid.append(model.forward_lip(clips).cpu())
        aud.append(model.forward_aud(torch.from_numpy(mfccs[start : start + len(idx)]).to(device)).cpu())
    return torch.cat(vid).numpy(), torch.cat(aud).numpy()


@SYNC_BACKENDS.register("syncnet")
class SyncNetScorer(SyncScorer):
    learned = True

    def __init__(self, config, model: SyncNet | None = None):
        super().__init__(config)
        if model is None:
            if not config.weights:
                raise ValueError("sync.backend=syncnet needs sync.weights (syncnet_v2.model or .safetensors)")
            model = load_syncnet(config.weights)
        self.device = resolve_device(config.device, "sync (syncnet)")
        self.model = model.to(self.device).eval()

    @property
    def min_confidence(self) -> float:
        return self.config.min_confidence_syncnet

    def score(self, clip: SyncInput) -> SyncResult:
        cfg = self.config
        if abs(clip.fps - 25.0) > 0.01:  # SyncNet pairs 5 frames with 20 MFCC frames: 25 fps only
            return SyncResult(None, 0.0, "sync_needs_25fps")
        crops: list[np.ndarray] = []
        last: list[np.ndarray | None] = [None]

        def collect(i: int, frame, box: np.ndarray | None) -> None:
            if box is not None:
                last[0] = crop_face(frame.to_ndarray(format="bgr24"), box, cfg.crop_scale, cfg.box_scale)
            crops.append(last[0] if last[0] is not None else np.full((CROP, CROP, 3), PAD_VALUE, np.uint8))

        track = track_face(
            clip.video,
            clip.face_track,
            clip.fps,
            redetect_every=cfg.redetect_every,
            threads=cfg.decode_threads,
            on_frame=collect,
        )
        frac = track.found_fraction
        if frac < cfg.min_face_fraction:
            return SyncResult(None, frac, "no_face_track")
        wave = clip_window(clip.audio, clip.margin, SR, clip.seconds)
        positions = min(len(crops), len(wave) // SAMPLES_PER_FRAME) - 5
        if positions < 1:
            return SyncResult(None, frac, "clip_too_short")
        video, audio = embed(
            self.model, np.stack(crops), mfcc_windows(wave, positions), cfg.batch_frames, self.device
        )
        dists = pairwise_offset_distances(video, audio, cfg.max_offset_frames)
        return SyncResult(lse_scores(dists), frac)
