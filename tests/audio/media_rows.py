"""Working rows as the cutter hands them on, built from ../shared/media files (tests only).

A clip row carries the 480p H.264 + AAC ``video``, FLAC ``audio``, ``_audio_pcm`` with
``_audio_margin`` seconds of source audio on both sides, and ``_frames`` sampled at .05/.25/.5/
.75/.95. ``shift_frames=k`` delays the source audio by k video frames before cutting (the sound of
frame i is heard at frame i + k), as a badly muxed upload would. ``face_track`` is what the faces
stage writes (dlib HOG boxes on the sampled frames, clip pixels) unless ``face_track=False``.

    row = clip_row(media_file("sadtalker_WDA_AlexandriaOcasioCortez_000.mp4"), start=0.64, seconds=6.4)
    table = rows_to_table([row])
"""

from __future__ import annotations

import hashlib
from functools import cache
from pathlib import Path

import av
import cv2
import numpy as np

from humo_data.media.audio import decode_audio_track, pcm_to_bytes
from humo_data.media.encode import ClipEncoder, encode_audio
from humo_data.media.frames import frame_record, pick_indices

FPS = 25.0
SR = 16000
FRACTIONS = (0.05, 0.25, 0.5, 0.75, 0.95)


@cache
def source_frames(path: str, first: int, count: int | None, short_side: int = 480) -> np.ndarray:
    """Frames ``first .. first+count-1`` of ``path`` on a 25 fps grid (nearest source frame), short
    side 480 (no upscale). Only frames near the window are kept, resized as they are decoded."""
    lo = first / FPS - 0.1
    hi = np.inf if count is None else (first + count) / FPS + 0.1
    kept: list[tuple[float, np.ndarray]] = []
    t0 = None
    with av.open(path) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        for frame in container.decode(stream):
            t0 = float(frame.time or 0.0) if t0 is None else t0
            t = float(frame.time or 0.0) - t0
            if t < lo:
                continue
            if t > hi:
                break
            w, h = frame.width, frame.height
            scale = min(1.0, short_side / min(h, w))
            size = (max(2, int(round(w * scale / 2)) * 2), max(2, int(round(h * scale / 2)) * 2))
            kept.append((t, frame.reformat(width=size[0], height=size[1], format="rgb24").to_ndarray()))
    times = np.array([t for t, _ in kept])
    last = int(np.floor(times[-1] * FPS + 1e-6))
    stop = last + 1 if count is None else min(first + count, last + 1)
    return np.stack([kept[int(np.argmin(np.abs(times - k / FPS)))][1] for k in range(first, stop)])


@cache
def source_audio(path: str) -> np.ndarray:
    return decode_audio_track(Path(path).read_bytes(), SR)


def dlib_face_track(frames: np.ndarray, fractions=FRACTIONS) -> dict | None:
    """The faces stage's main-track struct from dlib HOG boxes on the sampled frames."""
    from humo_data.sync.track import dlib_models

    detector, _ = dlib_models()
    times, boxes = [], []
    for i in pick_indices(len(frames), fractions):
        gray = cv2.cvtColor(frames[i], cv2.COLOR_RGB2GRAY)
        faces = list(detector(gray, 0)) or list(detector(gray, 1))
        if faces:
            f = max(faces, key=lambda r: r.area())
            times.append(i / FPS)
            boxes.append([float(f.left()), float(f.top()), float(f.right()), float(f.bottom())])
    if not boxes:
        return None
    mean = np.mean(boxes, axis=0).tolist()
    return {"track_id": 0, "num_frames": len(boxes), "presence": len(boxes) / len(fractions), "mean_box": mean,
            "times": times, "boxes": boxes, "min_size_px": float(min(b[2] - b[0] for b in boxes)),
            "mean_score": 1.0, "yaw": 0.0}  # fmt: skip


def clip_row(
    path: str | Path,
    start: float = 0.0,
    seconds: float | None = None,
    *,
    shift_frames: int = 0,
    margin: float = 0.6,
    audio: np.ndarray | None = None,
    face_track: dict | None | bool = True,
    people_count: int | None = 1,
) -> dict:
    """One live clip row of ``path`` from ``start`` (seconds, on the 25 fps grid). ``audio`` replaces
    the source's audio track (16 kHz mono, source timeline) for bad-input cases."""
    first = int(round(start * FPS))
    frames = source_frames(str(path), first, None if seconds is None else int(round(seconds * FPS)))
    n = len(frames)
    wave = source_audio(str(path)) if audio is None else np.asarray(audio, np.float32)
    delay = int(round(shift_frames * SR / FPS))
    if delay:
        shifted = np.zeros(len(wave) + max(delay, 0), np.float32)
        if delay > 0:
            shifted[delay:] = wave
        else:
            shifted[: len(wave) + delay] = wave[-delay:]
        wave = shifted
    lo = int(round((first / FPS - margin) * SR))
    total = int(round((n / FPS + 2 * margin) * SR))
    padded = np.zeros(total, np.float32)
    a, b = max(lo, 0), min(lo + total, len(wave))
    if b > a:
        padded[a - lo : b - lo] = wave[a:b]
    m = int(round(margin * SR))
    clip_wave = padded[m : m + int(round(n / FPS * SR))]
    h, w = frames.shape[1:3]
    enc = ClipEncoder(w, h, FPS, crf=23, preset="ultrafast", threads=1, audio_rate=SR)
    for f in frames:
        enc.add(av.VideoFrame.from_ndarray(f, format="rgb24").reformat(format="yuv420p"))
    video = enc.finish(clip_wave)
    track = dlib_face_track(frames) if face_track is True else (face_track or None)
    source_id = hashlib.blake2b(str(path).encode(), digest_size=8).hexdigest()
    return {
        "_kind": "clip",
        "_unit": f"{source_id}-{first}-{shift_frames}",
        "clip_id": f"{source_id}-{first}-{n}-{shift_frames}",
        "source_id": source_id,
        "source_uri": str(path),
        "shot_index": 0,
        "clip_index": 0,
        "start_time": first / FPS,
        "end_time": (first + n) / FPS,
        "fps": FPS,
        "num_frames": n,
        "width": w,
        "height": h,
        "video": video,
        "video_codec": "h264",
        "has_audio": True,
        "audio": encode_audio(clip_wave, SR, "flac"),
        "audio_format": "flac",
        "audio_sample_rate": SR,
        "audio_offset_frames": 0,
        "shot_backend": "none",
        "reference_images": [],
        "stage1": False,
        "stage2": False,
        "people_count": people_count,
        "face_track": track,
        "_frames": [frame_record(i, i / FPS, frames[i]) for i in pick_indices(n, FRACTIONS)],
        "_audio_pcm": pcm_to_bytes(padded),
        "_audio_margin": margin,
    }


def shifted_pcm(row: dict, shift_frames: int, audio: np.ndarray | None = None) -> np.ndarray:
    """The margin-padded ``_audio_pcm`` samples of ``row`` with its source audio delayed by
    ``shift_frames`` video frames (``audio`` replaces the source's track, e.g. swapped speech)."""
    wave = source_audio(row["source_uri"]) if audio is None else np.asarray(audio, np.float32)
    delay = int(round(shift_frames * SR / FPS))
    margin = row["_audio_margin"]
    first, n = int(round(row["start_time"] * FPS)), row["num_frames"]
    lo = int(round((first / FPS - margin) * SR)) - delay
    total = int(round((n / FPS + 2 * margin) * SR))
    padded = np.zeros(total, np.float32)
    a, b = max(lo, 0), min(lo + total, len(wave))
    if b > a:
        padded[a - lo : b - lo] = wave[a:b]
    return padded


def shifted_copy(row: dict, shift_frames: int, audio: np.ndarray | None = None) -> dict:
    """``row`` with its source audio delayed by ``shift_frames`` (video frames untouched, so no
    re-encode of the picture): new ``_audio_pcm``, ``audio`` and the MP4's AAC track."""
    from humo_data.media.remux import replace_audio_track

    padded = shifted_pcm(row, shift_frames, audio)
    m = int(round(row["_audio_margin"] * SR))
    clip_wave = padded[m : m + int(round(row["num_frames"] / FPS * SR))]
    return dict(
        row,
        clip_id=f"{row['clip_id']}~{shift_frames}",
        _unit=f"{row['_unit']}~{shift_frames}",
        _audio_pcm=pcm_to_bytes(padded),
        audio=encode_audio(clip_wave, SR, "flac"),
        video=replace_audio_track(row["video"], clip_wave, SR),
    )


@cache
def cached_row(name: str, start: float, seconds: float | None, face_track: bool = True) -> dict:
    """``clip_row`` of a shared media file, built once per test session (callers copy before changing)."""
    from tests.shared_media import media_file

    return clip_row(media_file(name), start, seconds, face_track=face_track)


TALKING = (
    ("sadtalker_WDA_AlexandriaOcasioCortez_000.mp4", 0.64, 6.4),
    ("latentsync_demo1_video.mp4", 0.64, 8.4),
    ("latentsync_demo3_video.mp4", 10.0, 8.4),
)
SILENT = ("liveportrait_d19.mp4", 0.64, 6.4)
MUSIC = ("liveportrait_d10.mp4", 0.64, 9.6)
