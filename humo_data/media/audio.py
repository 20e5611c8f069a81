"""Decode audio bytes (FLAC/WAV, or the audio track of a media file) to float32 mono, and resample.

Shared by the trainer, the HuMoSet importer and the audio stages; PyAV and soundfile only, no torch.
"""

from __future__ import annotations

import io

import av
import numpy as np
import soundfile as sf


def decode_audio_bytes(data: bytes, sample_rate: int) -> np.ndarray:
    """FLAC/WAV (or anything soundfile reads) -> float32 mono at ``sample_rate``."""
    try:
        wave, sr = sf.read(io.BytesIO(data), dtype="float32", always_2d=True)
    except Exception:  # not a soundfile format: let FFmpeg try (e.g. AAC in MP4)
        return decode_audio_track(data, sample_rate)
    mono = wave.mean(axis=1)
    return mono if sr == sample_rate else resample(mono, sr, sample_rate)


def decode_audio_track(media: bytes, sample_rate: int) -> np.ndarray:
    """The first audio stream of a media file (e.g. the clip MP4) -> float32 mono at ``sample_rate``."""
    with av.open(io.BytesIO(media)) as container:
        if not container.streams.audio:
            raise ValueError("no audio stream")
        resampler = av.AudioResampler(format="flt", layout="mono", rate=sample_rate)
        chunks: list[np.ndarray] = []
        for frame in container.decode(container.streams.audio[0]):
            for out in resampler.resample(frame):
                chunks.append(out.to_ndarray().reshape(-1))
        for out in resampler.resample(None):
            chunks.append(out.to_ndarray().reshape(-1))
    return np.concatenate(chunks).astype(np.float32) if chunks else np.zeros(0, np.float32)


def resample(wave: np.ndarray, sr_in: int, sr_out: int) -> np.ndarray:
    """Band-limited resampling through FFmpeg's swresample (PyAV), mono float32."""
    if sr_in == sr_out:
        return wave
    frame = av.AudioFrame.from_ndarray(wave.reshape(1, -1).astype(np.float32), format="flt", layout="mono")
    frame.sample_rate = sr_in
    resampler = av.AudioResampler(format="flt", layout="mono", rate=sr_out)
    parts = [f.to_ndarray().reshape(-1) for f in resampler.resample(frame)]
    parts += [f.to_ndarray().reshape(-1) for f in resampler.resample(None)]
    return np.concatenate(parts).astype(np.float32) if parts else np.zeros(0, np.float32)


# --- the cutter's audio hand-off (``_audio_pcm`` / ``_audio_margin`` working columns) ----------


def pcm_to_bytes(wave: np.ndarray) -> bytes:
    """float32 mono samples -> little-endian bytes (the ``_audio_pcm`` column)."""
    return np.ascontiguousarray(wave, dtype="<f4").tobytes()


def pcm_from_bytes(data: bytes | None) -> np.ndarray:
    """``_audio_pcm`` bytes -> float32 mono samples (empty when null)."""
    return np.frombuffer(data, dtype="<f4").copy() if data else np.zeros(0, np.float32)


def clip_window(
    pcm: np.ndarray, margin_seconds: float, sample_rate: int, seconds: float, shift_seconds: float = 0.0
) -> np.ndarray:
    """The clip's samples out of margin-padded audio, starting ``shift_seconds`` after the clip's
    own start; zero-padded where the margin runs out.

    ``pcm`` covers [-margin, seconds + margin) of the clip timeline. The result covers
    [shift, shift + seconds): with ``shift = +k / fps`` the clip hears what the source played k
    frames later, which undoes an audio track that lags the picture by k frames."""
    n = int(round(seconds * sample_rate))
    start = int(round((margin_seconds + shift_seconds) * sample_rate))
    out = np.zeros(n, np.float32)
    lo, hi = max(start, 0), min(start + n, len(pcm))
    if hi > lo:
        out[lo - start : hi - start] = pcm[lo:hi]
    return out
