"""Fixtures every test directory shares (see tests/shared_media.py)."""

from tests.shared_media import shared_media_dir  # noqa: F401  (the fixture behind needs_media)
