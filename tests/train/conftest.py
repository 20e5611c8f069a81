"""Fixtures for trainer tests: small triplet shards and a HuMoSet-shaped folder built from the real
clips in ../shared/media (re-encoded at 25 fps with PyAV), cached once per session.

Rows follow ``humo_data.schema.triplet_schema()``; only the columns a curated row would carry at
this point are filled (no identity stage yet on some rows: empty ``references``).
"""

from __future__ import annotations

import hashlib
import io
import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import soundfile as sf
import torch

from humo_data.schema import triplet_schema
from tests.shared_media import MEDIA, media_file  # noqa: E402

SPEAKER = MEDIA / "sadtalker_WDA_AlexandriaOcasioCortez_000.mp4"  # 512x512 25 fps, speech, 8 s
PORTRAIT = MEDIA / "latentsync_demo1_video.mp4"  # 1080x1920 HEVC 25 fps, speech
SILENT = MEDIA / "liveportrait_d0.mp4"  # 512x512 25 fps, no audio track
REFERENCE = MEDIA / "humo_man_Jaime.png"

torch.set_num_threads(1)
REPO = Path(__file__).resolve().parents[2]


def _frames(path: Path, start_s: float, n: int, size: tuple[int, int]) -> list[np.ndarray]:
    """n frames from start_s at the source rate (these sources are 25 fps), resized to size (w, h)."""
    out = []
    with av.open(str(path)) as c:
        s = c.streams.video[0]
        for f in c.decode(s):
            if f.time is None or f.time + 1e-6 < start_s:
                continue
            out.append(f.reformat(width=size[0], height=size[1], format="rgb24").to_ndarray())
            if len(out) == n:
                break
    assert len(out) == n, f"{path} gave {len(out)} frames from {start_s}s"
    return out


def encode_mp4(
    frames: list[np.ndarray], fps: int = 25, audio: np.ndarray | None = None, sr: int = 16000
) -> bytes:
    """H.264 yuv420p MP4 at constant fps, with an AAC mono track when audio is given."""
    buf = io.BytesIO()
    with av.open(buf, "w", format="mp4") as c:
        vs = c.add_stream("libx264", rate=fps)
        vs.height, vs.width = frames[0].shape[:2]
        vs.pix_fmt = "yuv420p"
        vs.options = {"crf": "23", "preset": "ultrafast"}
        as_ = None
        if audio is not None:
            as_ = c.add_stream("aac", rate=sr)
            as_.layout = "mono"
        for arr in frames:
            for p in vs.encode(av.VideoFrame.from_ndarray(arr, format="rgb24")):
                c.mux(p)
        for p in vs.encode():
            c.mux(p)
        if as_ is not None:
            af = av.AudioFrame.from_ndarray(
                audio.reshape(1, -1).astype(np.float32), format="flt", layout="mono"
            )
            af.sample_rate = sr
            af.time_base = Fraction(1, sr)
            af.pts = 0
            for p in as_.encode(af):
                c.mux(p)
            for p in as_.encode():
                c.mux(p)
    return buf.getvalue()


def _audio(path: Path, start_s: float, seconds: float, sr: int = 16000) -> np.ndarray:
    from humo_data.train.data.audio import decode_audio_track

    wave = decode_audio_track(path.read_bytes(), sr)
    return wave[int(start_s * sr) : int((start_s + seconds) * sr)]


def flac(wave: np.ndarray, sr: int = 16000) -> bytes:
    buf = io.BytesIO()
    sf.write(buf, wave, sr, format="FLAC")
    return buf.getvalue()


def png(arr: np.ndarray) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="PNG")
    return buf.getvalue()


def triplet_row(
    clip_id: str, video: bytes, *, frames: int, width: int, height: int, audio: bytes | None,
    caption: str | None, references: list[bytes], box: list[float] | None = None, source: str = "src",
) -> dict:  # fmt: skip
    """A full triplet row: every schema column present, nullable ones None unless given."""
    row = {name: None for name in triplet_schema().names}
    row.update(
        clip_id=clip_id, source_id=hashlib.sha256(source.encode()).hexdigest()[:24], source_uri=source,
        shot_index=0, clip_index=0, start_time=0.0, end_time=frames / 25, fps=25.0, num_frames=frames,
        width=width, height=height, video=video, video_codec="h264", has_audio=audio is not None,
        audio=audio, audio_format="flac" if audio else None, audio_sample_rate=16000 if audio else None,
        shot_backend="none", caption=caption,
        reference_images=[{"image": r, "source_clip_id": clip_id, "time": 0.0, "box": None, "similarity": None,
                     "kind": "same_clip"} for r in references],
        face_track=None if box is None else {"num_frames": frames, "mean_box": box, "min_size_px": 10.0,
                                             "mean_score": 0.9},
        stage1=bool(references) and bool(caption), stage2=bool(references) and bool(caption) and audio is not None,
    )  # fmt: skip
    return row


def write_shard(path: Path, rows: list[dict], row_group_rows: int = 4) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    table = pa.Table.from_pylist(rows, schema=triplet_schema())
    pq.write_table(table, path, row_group_size=row_group_rows)
    return path


def fixture_rows(n_speaker: int = 6, frames: int = 13, size: int = 64) -> list[dict]:
    """Clips of real speech video: n_speaker consecutive windows of the SadTalker clip (with audio,
    a face box, the HuMo reference on even rows, none on odd ones), plus one silent LivePortrait clip."""
    for path in (SPEAKER, SILENT, REFERENCE):
        media_file(path.name)  # skips the test when ../shared/media is absent
    ref = REFERENCE.read_bytes()
    rows = []
    for i in range(n_speaker):
        t0 = 0.2 + i * frames / 25
        frames_rgb = _frames(SPEAKER, t0, frames, (size, size))
        wave = _audio(SPEAKER, t0, frames / 25)
        video = encode_mp4(frames_rgb)
        box = [size * 0.3, size * 0.15, size * 0.7, size * 0.6]
        face_crop = png(frames_rgb[0][size // 8 : size * 5 // 8, size // 4 : size * 3 // 4])
        refs = [ref] if i % 2 == 0 else ([face_crop] if i % 3 == 1 else [])
        rows.append(
            triplet_row(
                f"speaker{i:02d}",
                video,
                frames=frames,
                width=size,
                height=size,
                audio=flac(wave),
                caption=f"A woman speaks to the camera, part {i}.",
                references=refs,
                box=box,
                source="speaker",
            )  # fmt: skip
        )
    silent = encode_mp4(_frames(SILENT, 0.0, frames, (size, size)))
    rows.append(
        triplet_row(
            "silent00",
            silent,
            frames=frames,
            width=size,
            height=size,
            audio=None,
            caption="A face makes expressions.",
            references=[ref],
            source="silent",
        )  # fmt: skip
    )
    return rows


@pytest.fixture(scope="session")
def triplet_rows() -> list[dict]:
    return fixture_rows()


@pytest.fixture(scope="session")
def triplet_dir(tmp_path_factory, triplet_rows) -> Path:
    """A dataset dir with triplets/part-00000.parquet (4 rows) and part-00001.parquet (3 rows)."""
    out = tmp_path_factory.mktemp("triplets")
    write_shard(out / "triplets" / "part-00000.parquet", triplet_rows[:4], row_group_rows=2)
    write_shard(out / "triplets" / "part-00001.parquet", triplet_rows[4:], row_group_rows=2)
    return out


def make_humoset(root: Path, *, seconds: float = 1.2, size: int = 64) -> Path:
    for path in (SPEAKER, SILENT, REFERENCE):
        media_file(path.name)
    """A HuMoSet-shaped folder: video/<id>.mp4 (with AAC audio), reference_image/<id>.png,
    video_caption.parquet (video, caption)."""
    (root / "video").mkdir(parents=True)
    (root / "reference_image").mkdir()
    n = int(seconds * 25)
    ids, caps = [], []
    for i, t0 in enumerate([0.0, 2.0, 4.0]):
        vid = f"{i:032x}"
        frames = _frames(SPEAKER, t0, n, (size, size))
        (root / "video" / f"{vid}.mp4").write_bytes(encode_mp4(frames, audio=_audio(SPEAKER, t0, seconds)))
        (root / "reference_image" / f"{vid}.png").write_bytes(REFERENCE.read_bytes())
        ids.append(f"{vid}.mp4")
        caps.append(f"A woman with dark hair speaks to the camera ({i}).")
    # Faults the importer must name: a video with no caption row, a caption without video,
    # an unreadable reference, a video without audio.
    (root / "video" / "nocaption.mp4").write_bytes(encode_mp4(_frames(SPEAKER, 6.0, n, (size, size))))
    ids.append("ghost.mp4")
    caps.append("A caption whose video is missing.")
    (root / "video" / "badref.mp4").write_bytes(
        encode_mp4(_frames(SPEAKER, 1.0, n, (size, size)), audio=_audio(SPEAKER, 1.0, seconds))
    )
    (root / "reference_image" / "badref.png").write_bytes(b"not an image at all")
    ids.append("badref.mp4")
    caps.append("A reference that cannot be read.")
    (root / "video" / "silent.mp4").write_bytes(encode_mp4(_frames(SILENT, 0.0, n, (size, size))))
    (root / "reference_image" / "silent.png").write_bytes(REFERENCE.read_bytes())
    ids.append("silent.mp4")
    caps.append("A face without sound.")
    pq.write_table(pa.table({"video": ids, "caption": caps}), root / "video_caption.parquet")
    return root


@pytest.fixture(scope="session")
def humoset_dir(tmp_path_factory) -> Path:
    return make_humoset(tmp_path_factory.mktemp("humoset") / "HuMoSet")


@pytest.fixture(scope="session")
def curated_sample(tmp_path_factory) -> Path:
    """``humo-data curate`` of the bundled tests/data/speaker_4s.mp4: shards made by the real pipeline
    (one 480x480 H.264 clip of 93 frames at 25 fps, FLAC audio, a same-clip reference)."""
    out = tmp_path_factory.mktemp("curated") / "ds"
    cmd = [sys.executable, "-m", "humo_data.cli", "curate", "--input", str(REPO / "tests/data/speaker_4s.mp4"),
           "--output", str(out), "--no-progress"]  # fmt: skip
    subprocess.run(cmd, check=True, cwd=REPO, capture_output=True, timeout=300)
    return out
