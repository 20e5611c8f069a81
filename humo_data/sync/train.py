"""Train the ``syncnet`` backend on your own curated clips: no public weights needed.

Positives are 5-frame face windows of every talking clip with one visible speaker, with the
audio as it was cut (most web video is in sync: SyncNet and LatentSync train on it this way);
clips whose audio the offline scorer moved are left out, so the model never learns that
scorer's picks. Negatives are the same windows with the audio shifted by ``min_shift..max_shift``
frames or taken from another clip (swapped). The loss is SyncNet's contrastive loss on the
Euclidean distance of the two embeddings (the distance LSE-D / LSE-C are computed on). Sources
are split into train and held-out sets (never clips of one source on both sides); accuracy is
"distance below the threshold that best separates the training pairs", measured on held-out
pairs. Weights are written in the syncnet_v2 layout, so ``sync.backend=syncnet
sync.weights=<out>`` loads them like the public release, and the report is written beside them
(``<out>.json``, with the weights' sha256): the sync stage lets them set ``sync_verified`` only
when that held-out accuracy reaches ``sync.min_heldout_accuracy`` (humo_data.sync.verify).

    report = train_syncnet(candidates_from_dataset("out/"), "syncnet_own.model", steps=2000, device="cuda")

On a CPU this is a smoke run; a useful model needs thousands of clips and a GPU.
"""

from __future__ import annotations

import json
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
from humo_data.sync.verify import file_sha256, report_path

WINDOW = 5  # video frames per sample (0.2 s)
MFCC_PER_FRAME = 4


@dataclass
class ClipTensors:
    """One clip ready for sampling: face crops [n, 224, 224, 3] uint8 BGR and MFCCs [13, T]."""

    clip_id: str
    crops: np.ndarray
    mfcc: np.ndarray
    source_id: str = ""

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
    train_sources: int = 0
    heldout_sources: int = 0
    weights_sha256: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def candidates_from_dataset(uri: str, limit: int | None = None) -> list[dict]:
    """Clip rows to train on: every talking clip with one visible speaker whose audio is as cut.

    Talking = the audio stage ran and its gates passed (``audio_gate`` null with a speech
    reading: enough speech, one voice); one visible speaker = ``people_count == 1``; audio as
    cut = ``audio_offset_frames`` 0 (a clip the offline scorer moved is its pick, not data).
    Nothing here reads the sync stage's gate or offset."""
    from humo_data.io.dataset import open_dataset

    cols = [
        "clip_id", "source_id", "video", "audio", "fps", "num_frames", "face_track", "people_count",
        "audio_gate", "speech_ratio", "audio_offset_frames",
    ]  # fmt: skip
    rows = []
    for _, batch in open_dataset(uri).iter_batches("triplets", cols, batch_size=8):
        for r in batch.to_pylist():
            talking = r["audio_gate"] is None and r["speech_ratio"] is not None
            as_cut = not r["audio_offset_frames"]
            if talking and as_cut and r["people_count"] == 1 and r["video"] and r["audio"]:
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
    clip = ClipTensors(
        str(row.get("clip_id")),
        np.stack(crops),
        mfcc(wave).T.astype(np.float32),
        str(row.get("source_id") or row.get("clip_id")),
    )
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
    eval_pairs: int = 2000,
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
    sources = sorted({c.source_id for c in clips})
    if len(sources) < 2:
        raise ValueError(
            f"need clips from at least 2 sources (held-out sources are unseen), got {len(sources)}"
        )
    rng.shuffle(sources)
    n_held = min(len(sources) - 1, max(1, int(round(heldout_fraction * len(sources)))))
    held_sources = set(sources[:n_held])
    held = [c for c in clips if c.source_id in held_sources]
    train = [c for c in clips if c.source_id not in held_sources]
    model = load_syncnet(init_weights, device) if init_weights else SyncNet().to(device)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    kw = {"min_shift": min_shift, "max_shift": max_shift, "swap_fraction": swap_fraction}
    report = TrainReport(str(out), steps, len(train), len(held))
    report.train_sources, report.heldout_sources = len(sources) - n_held, n_held
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
    report.weights_sha256 = file_sha256(out)
    report_path(out).write_text(json.dumps({**report.as_dict(), "losses": None}, indent=1) + "\n")
    return report
