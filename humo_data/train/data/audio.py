"""16 kHz mono audio for a sample: decode the row's audio bytes (FLAC/WAV) or the clip's own track,
then cut exactly the video window.

The window [start/fps, (start+F)/fps) holds round(F / fps * sr) samples (97 frames at 25 fps ->
62080), zero-padded when the audio ends early, so audio and video stay aligned sample-exactly.
"""

from __future__ import annotations

import numpy as np

from humo_data.media.audio import decode_audio_bytes, decode_audio_track, resample

__all__ = ["cut_window", "decode_audio_bytes", "decode_audio_track", "resample", "window_samples"]


def window_samples(frames: int, fps: float, sample_rate: int) -> int:
    return int(round(frames / fps * sample_rate))


def cut_window(
    wave: np.ndarray, *, start_frame: int, frames: int, fps: float, sample_rate: int
) -> np.ndarray:
    """Samples of frames [start_frame, start_frame + frames), zero-padded to the exact length."""
    n = window_samples(frames, fps, sample_rate)
    s0 = int(round(start_frame / fps * sample_rate))
    out = np.zeros(n, np.float32)
    piece = wave[s0 : s0 + n]
    out[: len(piece)] = piece
    return out
