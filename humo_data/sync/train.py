"""Train the ``syncnet`` backend on your own curated clips: no public weights needed.

Positives are 5-frame face windows with their own (realigned) audio; negatives are the same
windows with the audio shifted by ``min_shift..max_shift`` frames or taken from another clip
(swapped). The loss is SyncNet's contrastive loss on the Euclidean distance of the two
embeddings (the distance LSE-D / LSE-C are computed on). Clips are split into train and held-out
sets by clip, never by window; accuracy is "distance below the threshold that best separates the
training pairs", measured on held-out pairs. Weights are written in the syncnet_v2 layout, so
``sync.backend=syncnet sync.weights=<out>`` loads them like the public release.

    report = train_syncnet(candidates_from_dataset("out/"), "syncnet_own.model", steps=2000, device="cuda")

LatentSync trained its own SyncNet this way (shifted and swapped negatives). On a CPU this is a
smoke run; a useful model needs thousands of clips and a GPU.
"""

from __future__ import annotations

import random
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from humo_data.media.audio import decode_audio_bytes
from humo_data.sync.mfcc import mfcc
from humo_data.sync.syncnet import CROP, PAD_VALUE, crop_face
from humo_data.sync.syncnet_model import SyncNet, load_syncnet, save_syncnet
from humo_data.sync.track import track_face

WINDOW = 5  # video frames per sample (0.2 s)
MFCC_PER_FRAME = 4


@dataclass
class ClipTensors:
    """One clip ready for sampling: face crops [n, 224, 224, 3] uint8 BGR and MFCCs [13, T]."""

    clip_id: str
    crops: np.ndarray
    mfcc: np.ndarray

    @property
    def positions(self) -> int:
        return min(len(self.crops), self.mfcc.shape[1] // MFCC_PER_FRAME) - WINDOW


@dataclass
class TrainReport:
    weights: str
    steps: int
    train_clips: int
    heldout_clips: int
    losses: list[float] = field(default_factory=list)
    threshold: float | None = None
    train_accuracy: float | None = None
    heldout_accuracy: float | None = None
    heldout_pairs: int = 0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def candidates_from_dataset(uri: str, subset: str = "stage2", limit: int | None = None) -> list[dict]:
    """Clip rows of a curated dataset to train on: ``stage2`` rows, or ``sync_passed`` (every row
    with audio that passed the audio and sync gates, stage 1 or not)."""
    from humo_data.io.dataset import open_dataset

    cols = [
        "clip_id",
        "video",
        "audio",
        "fps",
        "num_frames",
        "face_track",
        "stage2",
        "audio_gate",
        "sync_gate",
        "sync_offset_frames",
    ]
    rows = []
    for _, batch in open_dataset(uri).iter_batches("triplets", cols, batch_size=8):
        for r in batch.to_pylist():
            ok = (
                r["stage2"]
                if subset == "stage2"
                else (r["sync_offset_frames"] is not None and not r["audio_gate"] and not r["sync_gate"])
            )
            if ok and r["video"] and r["audio"]:
                rows.append(r)
                if limit and len(rows) >= limit:
                    return rows
    return rows


def prepare_clip(row: dict, crop_scale: float = 0.4) -> ClipTensors | None:
    """Decode a clip once: face crops as the syncnet backend makes them, MFCCs of its stored audio."""
    fps = float(row.get("fps") or 25.0)
    crops: list[np.ndarray] = []
    last: list[np.ndarray | None] = [None]

    def collect(i: int, frame, box) -> None:
        if box is not None:
            last[0] = crop_face(frame.to_ndarray(format="bgr24"), box, crop_scale)
        crops.append(last[0] if last[0] is not None else np.full((CROP, CROP, 3), PAD_VALUE, np.uint8))

    track = track_face(row["video"], row.get("face_track"), fps, on_frame=collect)
    if track.found_fraction < 0.5:
        return None
    wave = decode_audio_bytes(row["audio"], 16000)
    clip = ClipTensors(str(row.get("clip_id")), np.stack(crops), mfcc(wave).T.astype(np.float32))
    return clip if clip.positions > 0 else None


def sample_pairs(
    clips: list[ClipTensors], n: int, rng: random.Random, min_shift: int, max_shift: int, swap_fraction: float
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``n`` pairs, half positive: video [n, 3, 5, 224, 224], audio [n, 1, 13, 20], label [n]."""
    videos, audios, labels = [], [], []
    for k in range(n):
        clip = rng.choice(clips)
        i = rng.randrange(clip.positions)
        positive = k % 2 == 0
        source, j = clip, i
        if not positive:
            others = [c for c in clips if c is not clip]
            if others and rng.random() < swap_fraction:
                source = rng.choice(others)
                j = rng.randrange(source.positions)
            else:
                shifts = [
                    d
                    for d in range(-max_shift, max_shift + 1)
                    if abs(d) >= min_shift and 0 <= i + d < clip.positions
                ]
                if not shifts:
                    positive = True
                else:
                    j = i + rng.choice(shifts)
        videos.append(clip.crops[i : i + WINDOW])
        audios.append(source.mfcc[:, MFCC_PER_FRAME * j : MFCC_PER_FRAME * j + 20])
        labels.append(1.0 if positive else 0.0)
    video = torch.from_numpy(np.stack(videos)).permute(0, 4, 1, 2, 3).float()  # [n, 3, 5, H, W], BGR 0..255
    audio = torch.from_numpy(np.stack(audios))[:, None]
    return video, audio, torch.tensor(labels)


def contrastive_loss(dist: torch.Tensor, label: torch.Tensor, margin: float) -> torch.Tensor:
    """SyncNet's loss: pull in-sync pairs together, push off-sync pairs beyond ``margin``."""
    return (label * dist.pow(2) + (1 - label) * torch.clamp(margin - dist, min=0).pow(2)).mean()


def best_threshold(dist: np.ndarray, label: np.ndarray) -> float:
    """The distance threshold that best separates positives (below) from negatives."""
    cands = np.unique(dist)
    acc = [((dist <= t) == (label > 0.5)).mean() for t in cands]
    return float(cands[int(np.argmax(acc))])


@torch.no_grad()
def _distances(
    model: SyncNet, clips: list[ClipTensors], pairs: int, rng: random.Random, device: str, batch: int, **kw
) -> tuple[np.ndarray, np.ndarray]:
    model.eval()
    dists, labels = [], []
    for start in range(0, pairs, batch):
        v, a, y = sample_pairs(clips, min(batch, pairs - start), rng, **kw)
        d = nn.functional.pairwise_distance(model.forward_lip(v.to(device)), model.forward_aud(a.to(device)))
        dists.append(d.cpu().numpy())
        labels.append(y.numpy())
    return np.concatenate(dists), np.concatenate(labels)


def train_syncnet(
    rows: Iterable[dict],
    out: str | Path,
    *,
    steps: int = 1000,
    batch: int = 32,
    lr: float = 1e-4,
    margin: float = 20.0,
    min_shift: int = 5,
    max_shift: int = 15,
    swap_fraction: float = 0.3,
    heldout_fraction: float = 0.2,
    eval_pairs: int = 256,
    init_weights: str | Path | None = None,
    device: str = "cpu",
    seed: int = 0,
    log_every: int = 50,
) -> TrainReport:
    """Train SyncNet on ``rows`` (clip rows with video, audio, face_track) and write ``out``."""
    rng = random.Random(seed)
    torch.manual_seed(seed)
    clips = [c for c in (prepare_clip(r) for r in rows) if c is not None]
    if len(clips) < 2:
        raise ValueError(f"need at least 2 usable clips (face found, audio present), got {len(clips)}")
    rng.shuffle(clips)
    n_held = max(1, int(round(heldout_fraction * len(clips))))
    held, train = clips[:n_held], clips[n_held:]
    model = load_syncnet(init_weights, device) if init_weights else SyncNet().to(device)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    kw = {"min_shift": min_shift, "max_shift": max_shift, "swap_fraction": swap_fraction}
    report = TrainReport(str(out), steps, len(train), len(held))
    for step in range(steps):
        model.train()
        v, a, y = sample_pairs(train, batch, rng, **kw)
        v, a, y = v.to(device), a.to(device), y.to(device)
        dist = nn.functional.pairwise_distance(model.forward_lip(v), model.forward_aud(a))
        loss = contrastive_loss(dist, y, margin)
        opt.zero_grad()
        loss.backward()
        opt.step()
        report.losses.append(float(loss.detach()))
        if log_every and (step + 1) % log_every == 0:
            print(f"step {step + 1}/{steps} loss {np.mean(report.losses[-log_every:]):.3f}", flush=True)
    eval_rng = random.Random(seed + 1)
    d_train, y_train = _distances(model, train, eval_pairs, eval_rng, device, batch, **kw)
    report.threshold = best_threshold(d_train, y_train)
    report.train_accuracy = float(((d_train <= report.threshold) == (y_train > 0.5)).mean())
    d_held, y_held = _distances(
        model,
        held,
        eval_pairs,
        eval_rng,
        device,
        batch,
        **{**kw, "swap_fraction": swap_fraction if len(held) > 1 else 0.0},
    )
    report.heldout_accuracy = float(((d_held <= report.threshold) == (y_held > 0.5)).mean())
    report.heldout_pairs = len(d_held)
    save_syncnet(model, out)
    return report
