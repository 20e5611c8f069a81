"""The one way tests find ../shared/media: relative to the repo root, skipping when it is absent.

    from tests.shared_media import MEDIA, needs_media, media_file

``MEDIA`` is ``<repo>/../shared/media`` wherever the clone lives; tests never write there.
"""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
MEDIA = SHARED / "media"
SKIP_REASON = f"needs the shared test media at {MEDIA} (../shared/media beside the repo)"

needs_media = pytest.mark.skipif(not MEDIA.is_dir(), reason=SKIP_REASON)


def media_file(name: str) -> Path:
    """Path of one shared media file; skips the calling test when it is missing."""
    path = MEDIA / name
    if not path.exists():
        pytest.skip(f"{SKIP_REASON}: {name} missing")
    return path
