"""The one way tests find ../shared/media: relative to the repo root.

    from tests.shared_media import MEDIA, needs_media, media_file

``MEDIA`` is ``<repo>/../shared/media`` wherever the clone lives; tests never write there.
Without it, a local clone skips the media-backed tests with the reason; when the ``CI``
environment variable is set (CI services set it; ``.ci/run`` does too) they fail with a message
instead, so a CI run cannot pass without the media.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
MEDIA = SHARED / "media"
SKIP_REASON = f"needs the shared test media at {MEDIA} (../shared/media beside the repo)"
CI_MESSAGE = (
    f"CI is set but the shared test media is missing at {MEDIA}: put ../shared/media beside the repo "
    "(CI must not pass by skipping the media-backed tests)"
)


def in_ci() -> bool:
    """True when the ``CI`` variable is set to anything but an explicit off value."""
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def missing_media(what: str | None = None) -> None:
    """Skip the calling test (locally) or fail it (under CI): the shared media is absent."""
    detail = f": {what} missing" if what else ""
    if in_ci():
        pytest.fail(CI_MESSAGE + detail, pytrace=False)
    pytest.skip(SKIP_REASON + detail)


@pytest.fixture(scope="session")
def shared_media_dir() -> Path:
    """The media folder; skips (locally) or fails (under CI) the test when it is absent."""
    if not MEDIA.is_dir():
        missing_media()
    return MEDIA


#: mark a test (or a module: ``pytestmark = needs_media``) that needs ../shared/media
needs_media = pytest.mark.usefixtures("shared_media_dir")


def media_file(name: str) -> Path:
    """Path of one shared media file; skips (locally) or fails (under CI) when it is missing."""
    path = MEDIA / name
    if not path.exists():
        missing_media(name)
    return path
