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
