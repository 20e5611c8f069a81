"""The HuMoSet folder layout, as published with HuMo (Phantom-video/HuMo README, dataset on ModelScope
``leoniuschen/HuMoSet``)::

    HuMoSet/
      video/                    target videos
      reference_image/          the reference image(s) of each video
      video_caption.parquet     dense caption of every video

The README documents only these three names, not the parquet's column names nor the file naming,
so this module assumes the obvious: a video's id is its file stem; its reference is
``reference_image/<id>.<png|jpg|jpeg|webp>``, or several as ``reference_image/<id>/*`` or
``reference_image/<id>_*``; the parquet has one key column (auto-detected among common names,
values may be ids, file names or paths) and one caption column (auto-detected). Both can be named
explicitly when the auto-detection guesses wrong.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

import pyarrow.parquet as pq

VIDEO_DIR = "video"
REFERENCE_DIR = "reference_image"
CAPTIONS_FILE = "video_caption.parquet"
VIDEO_EXTS = (".mp4", ".mov", ".mkv", ".webm", ".avi", ".m4v")
IMAGE_EXTS = (".png", ".jpg", ".jpeg", ".webp", ".bmp")
KEY_CANDIDATES = (
    "video", "video_name", "video_id", "video_path", "videoid", "id", "file_name", "filename", "file",
    "path", "name", "key", "clip_id", "vid",
)  # fmt: skip
CAPTION_CANDIDATES = (
    "caption", "video_caption", "dense_caption", "captions", "description", "text", "prompt", "desc",
)  # fmt: skip


class HumosetLayoutError(ValueError):
    """The folder is not HuMoSet-shaped, or the caption parquet's columns cannot be identified."""


@dataclass
class HumosetEntry:
    id: str
    video: Path | None
    references: list[Path] = field(default_factory=list)
    caption: str | None = None


def is_humoset(path: str | Path) -> bool:
    p = Path(path)
    return (p / CAPTIONS_FILE).is_file() and (p / VIDEO_DIR).is_dir()


def _stem(value: object) -> str:
    """An id, file name or path -> the id (file stem)."""
    name = PurePosixPath(str(value).replace("\\", "/")).name
    return name.rsplit(".", 1)[0] if "." in name else name


def detect_columns(
    names: list[str], types: dict[str, str], key: str | None, caption: str | None
) -> tuple[str, str]:
    """(key column, caption column) of the captions parquet."""
    lower = {n.lower(): n for n in names}
    if key is None:
        key = next((lower[c] for c in KEY_CANDIDATES if c in lower), None)
    if caption is None:
        caption = next((lower[c] for c in CAPTION_CANDIDATES if c in lower and lower[c] != key), None)
    if caption is None:
        strings = [n for n in names if n != key and types.get(n, "").startswith(("string", "large_string"))]
        caption = strings[0] if len(strings) == 1 else None
    if key is None or caption is None or key not in names or caption not in names:
        raise HumosetLayoutError(
            f"{CAPTIONS_FILE}: cannot tell the video key / caption columns from {names}; "
            "name them with --key-column / --caption-column"
        )
    return key, caption


def read_captions(root: Path, key: str | None = None, caption: str | None = None) -> dict[str, str | None]:
    pf = pq.ParquetFile(root / CAPTIONS_FILE)
    schema = pf.schema_arrow
    key, caption = detect_columns(schema.names, {f.name: str(f.type) for f in schema}, key, caption)
    table = pf.read(columns=[key, caption])
    out: dict[str, str | None] = {}
    for k, c in zip(table.column(key).to_pylist(), table.column(caption).to_pylist(), strict=True):
        if isinstance(c, list):  # several captions per video: take the first non-empty one
            c = next((x for x in c if isinstance(x, str) and x.strip()), None)
        out[_stem(k)] = c if isinstance(c, str) and c.strip() else None
    return out


def _references(root: Path, vid: str) -> list[Path]:
    ref_dir = root / REFERENCE_DIR
    exact = [ref_dir / f"{vid}{ext}" for ext in IMAGE_EXTS if (ref_dir / f"{vid}{ext}").is_file()]
    if exact:
        return exact
    if (ref_dir / vid).is_dir():
        return sorted(p for p in (ref_dir / vid).iterdir() if p.suffix.lower() in IMAGE_EXTS)
    return sorted(p for p in ref_dir.glob(f"{vid}_*") if p.suffix.lower() in IMAGE_EXTS)


def scan_humoset(root: str | Path, key: str | None = None, caption: str | None = None) -> list[HumosetEntry]:
    """Every id seen in video/ or the captions parquet, sorted; missing parts stay None / empty."""
    root = Path(root)
    if not is_humoset(root):
        raise HumosetLayoutError(f"{root} is not a HuMoSet folder (needs {VIDEO_DIR}/ and {CAPTIONS_FILE})")
    captions = read_captions(root, key, caption)
    videos = {p.stem: p for p in sorted((root / VIDEO_DIR).rglob("*")) if p.suffix.lower() in VIDEO_EXTS}
    ids = sorted(set(videos) | set(captions))
    return [HumosetEntry(i, videos.get(i), _references(root, i), captions.get(i)) for i in ids]
