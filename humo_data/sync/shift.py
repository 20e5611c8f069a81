"""Undo a measured audio offset: new clip audio from the cutter's margin-padded PCM, re-encoded as
the stored audio bytes and muxed into the MP4 in place of its AAC track (video packets copied).

With SyncNet's sign (humo_data.sync.scores) an offset of -k means the audio lags the picture by k
frames; the clip then takes the source audio from k frames later (``clip_window`` shift +k/fps).
``audio_offset_frames`` records the shift as the delay applied to the published audio, which is
the measured offset itself: stored(t) = source(t - offset / fps).
"""

from __future__ import annotations

import numpy as np

from humo_data.media.audio import clip_window
from humo_data.media.encode import encode_audio
from humo_data.media.remux import replace_audio_track


def realigned_wave(
    padded: np.ndarray,
    margin: float,
    seconds: float,
    offset_frames: int,
    fps: float,
    sample_rate: int = 16000,
) -> np.ndarray:
    """The clip's audio with ``offset_frames`` (SyncNet sign) undone; zeros where the margin runs out."""
    return clip_window(padded, margin, sample_rate, seconds, shift_seconds=-offset_frames / fps)


def shifted_media(
    padded: np.ndarray,
    margin: float,
    seconds: float,
    offset_frames: int,
    fps: float,
    video: bytes | None,
    audio_format: str = "flac",
    sample_rate: int = 16000,
) -> tuple[bytes, bytes | None]:
    """(audio bytes, MP4 bytes) carrying the realigned audio."""
    wave = realigned_wave(padded, margin, seconds, offset_frames, fps, sample_rate)
    audio = encode_audio(wave, sample_rate, audio_format)
    return audio, replace_audio_track(video, wave, sample_rate) if video else None
