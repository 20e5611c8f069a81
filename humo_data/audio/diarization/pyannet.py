"""pyannote's PyanNet speaker segmentation model, forward pass in numpy (no torch).

PyanNet (pyannote.audio, MIT) = SincNet -> bidirectional LSTM -> linear layers -> classifier:

    wave [B, samples] ── instance norm ── 80 sinc band-pass filters (251 taps, stride 10), |x|
      ── max-pool 3, instance norm, leaky ReLU ── conv 80->60 (5) ── pool, norm, leaky ReLU
      ── conv 60->60 (5) ── pool, norm, leaky ReLU   => 60 features every 270 samples (16.875 ms)
      ── LSTM (num_layers, bidirectional, hidden) ── linear layers with leaky ReLU ── classifier
      ── sigmoid (multi-label: one activity per local speaker, several may be active at once)

Only what the checkpoint itself declares is run: the hyper-parameters, the task specification
(multi-label vs powerset, chunk duration, classes) and every weight come from the file, and a
checkpoint of another shape is refused with a message instead of being read wrongly. Frame
geometry (pyannote's receptive field arithmetic for SincNet): frame ``i`` of a chunk sees samples
``[i*hop, i*hop + receptive)`` with hop = stride*27 and receptive = 991 at stride 10.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from humo_data.audio.diarization.torch_zip import Opaque, read_checkpoint

SINC_FILTERS, SINC_TAPS = 80, 251
MIN_LOW_HZ = MIN_BAND_HZ = 50.0  # SincNet block constants (ParamSincFB(min_low_hz=50, min_band_hz=50))
POOL = 3
CONV_TAPS = 5
NORM_EPS = 1e-5  # torch InstanceNorm1d default
LEAKY_SLOPE = 0.01  # torch leaky_relu default
MULTI_LABEL = 2  # pyannote.audio Problem.MULTI_LABEL_CLASSIFICATION
FRAME_RESOLUTION = 1  # pyannote.audio Resolution.FRAME


@dataclass(frozen=True)
class Specs:
    """What the checkpoint says the model does."""

    sample_rate: int
    chunk_seconds: float  # the chunk duration it was trained on
    classes: tuple[str, ...]  # local speakers
    stride: int  # SincNet stride (samples)

    @property
    def hop(self) -> int:
        """Samples between output frames (SincNet stride then three 3x max-pools)."""
        return self.stride * POOL**3

    @property
    def receptive(self) -> int:
        """Samples one output frame sees."""
        size = 1
        for kernel, stride in reversed(
            [
                (SINC_TAPS, self.stride),
                (POOL, POOL),
                (CONV_TAPS, 1),
                (POOL, POOL),
                (CONV_TAPS, 1),
                (POOL, POOL),
            ]
        ):
            size = (size - 1) * stride + kernel
        return size

    def num_frames(self, samples: int) -> int:
        n = (samples - SINC_TAPS) // self.stride + 1
        for _ in range(3):
            n = n // POOL
            n = n - CONV_TAPS + 1 if _ < 2 else n
        return max(n, 0)


def _state(obj: Any) -> Any:
    """Fields of an unpickled pyannote object (``Opaque``) or the value itself."""
    return getattr(obj, "state", obj) if isinstance(obj, Opaque) else obj


def _enum_value(obj: Any) -> Any:
    return obj.args[0] if isinstance(obj, Opaque) and obj.args else obj


def read_specs(ckpt: dict[str, Any], source: str) -> Specs:
    """Check that ``ckpt`` is a multi-label PyanNet of the layout this module runs; its specs."""
    meta = ckpt.get("pyannote.audio") or {}
    arch = meta.get("architecture") or {}
    if arch.get("class") != "PyanNet":
        raise ValueError(f"{source}: architecture {arch.get('class')!r}, expected pyannote's PyanNet")
    spec = _state(meta.get("specifications")) or {}
    if not isinstance(spec, dict):
        raise ValueError(f"{source}: no task specifications in the checkpoint")
    problem, resolution = _enum_value(spec.get("problem")), _enum_value(spec.get("resolution"))
    if problem != MULTI_LABEL or spec.get("powerset_max_classes"):
        raise ValueError(
            f"{source}: task problem {problem!r} (powerset max {spec.get('powerset_max_classes')}); this "
            "loader runs multi-label (sigmoid) segmentation models such as pyannote/segmentation; a powerset "
            "model (segmentation-3.0) runs through the pyannote-segmentation-onnx backend"
        )
    if resolution != FRAME_RESOLUTION:
        raise ValueError(f"{source}: resolution {resolution!r}, expected frame-level outputs")
    hp = ckpt.get("hyper_parameters") or {}
    sincnet, lstm, linear = hp.get("sincnet") or {}, hp.get("lstm") or {}, hp.get("linear") or {}
    rate = int(hp.get("sample_rate", 16000))
    if rate != 16000 or int(hp.get("num_channels", 1)) != 1:
        raise ValueError(f"{source}: {rate} Hz x {hp.get('num_channels')} channels; SincNet runs 16 kHz mono")
    if not lstm.get("monolithic", True) or not lstm.get("bidirectional", True):
        raise ValueError(f"{source}: only a monolithic bidirectional LSTM is supported, got {lstm}")
    if int(linear.get("num_layers", 2)) < 1:
        raise ValueError(f"{source}: no linear layers ({linear}); not the PyanNet layout supported")
    return Specs(
        sample_rate=rate,
        chunk_seconds=float(spec.get("duration", 5.0)),
        classes=tuple(spec.get("classes") or ()),
        stride=int(sincnet.get("stride", 10)),
    )


def _instance_norm(x: np.ndarray, weight: np.ndarray, bias: np.ndarray) -> np.ndarray:
    """x [B, C, T], normalised per item and channel over time (biased variance, as torch)."""
    mean = x.mean(axis=-1, keepdims=True)
    var = x.var(axis=-1, keepdims=True)
    return (x - mean) / np.sqrt(var + NORM_EPS) * weight[None, :, None] + bias[None, :, None]


def _max_pool(x: np.ndarray) -> np.ndarray:
    n = x.shape[-1] // POOL
    return x[..., : n * POOL].reshape(*x.shape[:-1], n, POOL).max(axis=-1)


def _leaky(x: np.ndarray) -> np.ndarray:
    return np.where(x >= 0, x, LEAKY_SLOPE * x)


def _conv1d(x: np.ndarray, weight: np.ndarray, bias: np.ndarray | None, stride: int = 1) -> np.ndarray:
    """Cross-correlation as torch's conv1d (no padding): x [B, Cin, T], weight [Cout, Cin, K]."""
    b, cin, t = x.shape
    cout, _, k = weight.shape
    n = (t - k) // stride + 1
    s0, s1, s2 = x.strides
    cols = np.lib.stride_tricks.as_strided(x, (b, n, cin, k), (s0, s2 * stride, s1, s2), writeable=False)
    out = cols.reshape(b, n, cin * k) @ weight.reshape(cout, cin * k).T  # [B, n, Cout]
    if bias is not None:
        out += bias
    return out.transpose(0, 2, 1)


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * x))  # overflow-free


class PyanNet:
    """The model, ready to run: ``model(chunks)`` -> per-frame speaker activities in [0, 1]."""

    def __init__(self, path: str | Path):
        self.path = str(path)
        ckpt = read_checkpoint(path)
        self.specs = read_specs(ckpt, self.path)
        sd = {k: np.asarray(v, np.float32) for k, v in ckpt["state_dict"].items()}
        hp = ckpt.get("hyper_parameters") or {}
        self.num_lstm = int((hp.get("lstm") or {}).get("num_layers", 2))
        self.num_linear = int((hp.get("linear") or {}).get("num_layers", 2))
        try:
            self.filters = self._sinc_filters(sd)
            self.w = sd
            self._check_shapes()
        except KeyError as err:
            raise ValueError(f"{self.path}: weight {err} missing; not a PyanNet checkpoint") from None

    def _sinc_filters(self, sd: dict[str, np.ndarray]) -> np.ndarray:
        """The 80 band-pass filters [80, 1, 251] from the learnt low/band frequencies: 40 even
        (cosine) and 40 odd (sine) filters, Hamming-windowed, as the SincNet block builds them."""
        p = "sincnet.conv1d.0.filterbank."
        low = MIN_LOW_HZ + np.abs(sd[p + "low_hz_"])  # [40, 1]
        high = np.clip(low + MIN_BAND_HZ + np.abs(sd[p + "band_hz_"]), MIN_LOW_HZ, self.specs.sample_rate / 2)
        band = (high - low)[:, 0]
        n, window = sd[p + "n_"], sd[p + "window_"]  # [1, half], [half]: 2*pi*t/sr for t < 0
        f_low, f_high = low @ n, high @ n
        cos_left = (np.sin(f_high) - np.sin(f_low)) / (n / 2) * window
        sin_left = (np.cos(f_low) - np.cos(f_high)) / (n / 2) * window
        cos = np.concatenate([cos_left, 2 * band[:, None], cos_left[:, ::-1]], axis=1)
        sin = np.concatenate([sin_left, np.zeros_like(band)[:, None], -sin_left[:, ::-1]], axis=1)
        bank = np.concatenate([cos, sin], axis=0) / (2 * np.concatenate([band, band]))[:, None]
        if bank.shape != (SINC_FILTERS, SINC_TAPS):
            raise ValueError(
                f"{self.path}: sinc filterbank {bank.shape}, expected {(SINC_FILTERS, SINC_TAPS)}"
            )
        return bank[:, None, :].astype(np.float32)

    def _check_shapes(self) -> None:
        w = self.w
        hidden = w["lstm.weight_hh_l0"].shape[1]
        if w["lstm.weight_ih_l0"].shape != (4 * hidden, 60):
            raise ValueError(f"{self.path}: LSTM input weights {w['lstm.weight_ih_l0'].shape}")
        classes = w["classifier.weight"].shape[0]
        if self.specs.classes and classes != len(self.specs.classes):
            raise ValueError(f"{self.path}: {classes} outputs for {len(self.specs.classes)} classes")
        for i in range(self.num_lstm):
            for suffix in ("", "_reverse"):
                w[f"lstm.weight_ih_l{i}{suffix}"]  # noqa: B018  (KeyError -> message above)

    # ------------------------------------------------------------------------------------------
    def __call__(self, chunks: np.ndarray) -> np.ndarray:
        """chunks [B, samples] (16 kHz mono, same length) -> activities [B, frames, classes]."""
        x = np.asarray(chunks, np.float32)[:, None, :]
        if x.shape[-1] < self.specs.receptive:
            raise ValueError(
                f"chunk of {x.shape[-1]} samples is shorter than one frame ({self.specs.receptive})"
            )
        w = self.w
        x = _instance_norm(x, w["sincnet.wav_norm1d.weight"], w["sincnet.wav_norm1d.bias"])
        x = np.abs(_conv1d(x, self.filters, None, stride=self.specs.stride))
        x = _leaky(_instance_norm(_max_pool(x), w["sincnet.norm1d.0.weight"], w["sincnet.norm1d.0.bias"]))
        for i in (1, 2):
            x = _conv1d(x, w[f"sincnet.conv1d.{i}.weight"], w[f"sincnet.conv1d.{i}.bias"])
            x = _leaky(
                _instance_norm(_max_pool(x), w[f"sincnet.norm1d.{i}.weight"], w[f"sincnet.norm1d.{i}.bias"])
            )
        h = x.transpose(0, 2, 1)  # [B, T, 60]
        for layer in range(self.num_lstm):
            h = self._bilstm(h, layer)
        for i in range(self.num_linear):
            h = _leaky(h @ w[f"linear.{i}.weight"].T + w[f"linear.{i}.bias"])
        return _sigmoid(h @ w["classifier.weight"].T + w["classifier.bias"])

    def _bilstm(self, x: np.ndarray, layer: int) -> np.ndarray:
        """One bidirectional LSTM layer (torch's gate order i, f, g, o); both directions advance in
        the same loop so each time step is one batched matmul."""
        w = self.w
        b, t, _ = x.shape
        names = ("", "_reverse")
        w_ih = np.concatenate([w[f"lstm.weight_ih_l{layer}{s}"] for s in names])  # [2*4H, In]
        w_hh = np.stack([w[f"lstm.weight_hh_l{layer}{s}"].T for s in names])  # [2, H, 4H]
        bias = np.concatenate(
            [w[f"lstm.bias_ih_l{layer}{s}"] + w[f"lstm.bias_hh_l{layer}{s}"] for s in names]
        )
        hidden = w_hh.shape[1]
        # input projections of every step in one matmul; the reverse direction reads time backwards
        pre = (x.reshape(b * t, -1) @ w_ih.T + bias).reshape(b, t, 2, 4 * hidden).transpose(2, 0, 1, 3)
        pre = np.ascontiguousarray(np.stack([pre[0], pre[1][:, ::-1]]))  # [2, B, T, 4H]
        h = np.zeros((2, b, hidden), np.float32)
        c = np.zeros((2, b, hidden), np.float32)
        out = np.empty((2, b, t, hidden), np.float32)
        for step in range(t):
            gates = pre[:, :, step] + h @ w_hh  # [2, B, 4H]
            i = _sigmoid(gates[..., :hidden])
            f = _sigmoid(gates[..., hidden : 2 * hidden])
            g = np.tanh(gates[..., 2 * hidden : 3 * hidden])
            o = _sigmoid(gates[..., 3 * hidden :])
            c = f * c + i * g
            h = o * np.tanh(c)
            out[:, :, step] = h
        return np.concatenate([out[0], out[1][:, ::-1]], axis=-1)  # [B, T, 2H]
