"""The SyncNet network (Chung & Zisserman 2016, the public ``syncnet_v2`` release) in torch.

Module and parameter names match syncnet_python's ``SyncNetModel.S``, so ``syncnet_v2.model`` (a
plain state dict: ``netcnnaud.0.weight``, ..., ``netfclip.3.bias``) loads as it is. Inputs:

    audio  [N, 1, 13, 20]       20 MFCC frames (0.2 s) per video frame, see humo_data.sync.mfcc
    video  [N, 3, 5, 224, 224]  5 consecutive face crops, BGR, 0..255 (syncnet_python's cv2 frames)
    out    [N, 1024]            embeddings; in-sync pairs are close (Euclidean)

Only this module and the ``syncnet`` backend import torch: the core install stays torch-free.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

EMBED_DIM = 1024


def _bn_relu(layer: nn.Module, channels: int, dims: int) -> list[nn.Module]:
    norm = {1: nn.BatchNorm1d, 2: nn.BatchNorm2d, 3: nn.BatchNorm3d}[dims](channels)
    return [layer, norm, nn.ReLU(inplace=True)]


class SyncNet(nn.Module):
    def __init__(self, embed_dim: int = EMBED_DIM):
        super().__init__()
        self.netcnnaud = nn.Sequential(
            *_bn_relu(nn.Conv2d(1, 64, 3, 1, 1), 64, 2),
            nn.MaxPool2d(kernel_size=(1, 1), stride=(1, 1)),
            *_bn_relu(nn.Conv2d(64, 192, 3, 1, 1), 192, 2),
            nn.MaxPool2d(kernel_size=(3, 3), stride=(1, 2)),
            *_bn_relu(nn.Conv2d(192, 384, 3, padding=1), 384, 2),
            *_bn_relu(nn.Conv2d(384, 256, 3, padding=1), 256, 2),
            *_bn_relu(nn.Conv2d(256, 256, 3, padding=1), 256, 2),
            nn.MaxPool2d(kernel_size=(3, 3), stride=(2, 2)),
            *_bn_relu(nn.Conv2d(256, 512, kernel_size=(5, 4), padding=0), 512, 2),
        )
        self.netfcaud = nn.Sequential(
            nn.Linear(512, 512), nn.BatchNorm1d(512), nn.ReLU(), nn.Linear(512, embed_dim)
        )
        self.netfclip = nn.Sequential(
            nn.Linear(512, 512), nn.BatchNorm1d(512), nn.ReLU(), nn.Linear(512, embed_dim)
        )
        self.netcnnlip = nn.Sequential(
            *_bn_relu(nn.Conv3d(3, 96, kernel_size=(5, 7, 7), stride=(1, 2, 2), padding=0), 96, 3),
            nn.MaxPool3d(kernel_size=(1, 3, 3), stride=(1, 2, 2)),
            *_bn_relu(nn.Conv3d(96, 256, kernel_size=(1, 5, 5), stride=(1, 2, 2), padding=(0, 1, 1)), 256, 3),
            nn.MaxPool3d(kernel_size=(1, 3, 3), stride=(1, 2, 2), padding=(0, 1, 1)),
            *_bn_relu(nn.Conv3d(256, 256, kernel_size=(1, 3, 3), padding=(0, 1, 1)), 256, 3),
            *_bn_relu(nn.Conv3d(256, 256, kernel_size=(1, 3, 3), padding=(0, 1, 1)), 256, 3),
            *_bn_relu(nn.Conv3d(256, 256, kernel_size=(1, 3, 3), padding=(0, 1, 1)), 256, 3),
            nn.MaxPool3d(kernel_size=(1, 3, 3), stride=(1, 2, 2)),
            *_bn_relu(nn.Conv3d(256, 512, kernel_size=(1, 6, 6), padding=0), 512, 3),
        )

    def forward_aud(self, x: torch.Tensor) -> torch.Tensor:
        return self.netfcaud(self.netcnnaud(x).flatten(1))

    def forward_lip(self, x: torch.Tensor) -> torch.Tensor:
        return self.netfclip(self.netcnnlip(x).flatten(1))


def load_syncnet(path: str | Path, device: str = "cpu") -> SyncNet:
    """SyncNet with weights from ``path``: syncnet_v2.model (a torch-saved state dict, loaded with
    weights_only=True) or a .safetensors file of the same keys. Missing learned weights raise;
    BatchNorm counters absent from old checkpoints are fine."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"SyncNet weights not found: {path}")
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        state = load_file(str(path))
    else:
        state = torch.load(str(path), map_location="cpu", weights_only=True)
        if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
            state = state["state_dict"]
    if not isinstance(state, dict):
        raise ValueError(f"{path}: expected a state dict of tensors, got {type(state).__name__}")
    state = {k.removeprefix("__S__.").removeprefix("module."): v for k, v in state.items()}
    fc = state.get("netfcaud.3.weight")
    model = SyncNet(embed_dim=int(fc.shape[0]) if fc is not None else EMBED_DIM)
    own = model.state_dict()
    missing = [k for k in own if k not in state and not k.endswith("num_batches_tracked")]
    unexpected = [k for k in state if k not in own]
    if missing or unexpected:
        raise ValueError(
            f"{path}: not a syncnet_v2 state dict (missing {missing[:5]}, unexpected {unexpected[:5]})"
        )
    for k, v in state.items():
        if own[k].shape != v.shape:
            raise ValueError(f"{path}: {k} has shape {tuple(v.shape)}, SyncNet expects {tuple(own[k].shape)}")
        own[k].copy_(v)
    return model.to(device).eval()


def save_syncnet(model: SyncNet, path: str | Path) -> Path:
    """Write weights in the syncnet_v2 layout (a plain state dict; .safetensors by suffix)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    if path.suffix == ".safetensors":
        from safetensors.torch import save_file

        save_file(state, str(path))
    else:
        torch.save(state, str(path))
    return path
