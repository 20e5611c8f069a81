"""Sync tests take their rows from the pipeline's own path (tests/sync/pipeline_rows.py): files
made here with ffmpeg, cut by the real cutter, faces found by the faces stage. Each distinct
(file, clip length) is cut once per session."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.shared_media import media_file
from tests.sync.pipeline_rows import pipeline_rows, shifted_source


class PipelineRows:
    """Session cache of pipeline rows: ``rows(name, k, max_seconds)`` (k = applied audio delay in
    frames; 0 = the published file itself)."""

    def __init__(self, root: Path):
        self.root = root
        self._cache: dict[tuple, list[dict]] = {}

    def path(self, name: str, k: int = 0) -> Path:
        src = media_file(name)
        if k == 0:
            return src
        out = self.root / f"{Path(name).stem}__{k:+d}.mp4"
        return out if out.exists() else shifted_source(src, out, k)

    def rows(self, name: str, k: int = 0, max_seconds: float = 10.0, faces: bool = True) -> list[dict]:
        key = (name, k, max_seconds, faces)
        if key not in self._cache:
            overrides = () if faces else ("faces.enabled=false",)
            self._cache[key] = pipeline_rows(self.path(name, k), max_seconds, overrides, faces=faces)
        return [dict(r) for r in self._cache[key]]


@pytest.fixture(scope="session")
def pipeline(tmp_path_factory) -> PipelineRows:
    return PipelineRows(tmp_path_factory.mktemp("sync_sources"))
