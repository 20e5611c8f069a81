"""The curated output does not change unless a change means it to: clip ids, flags and reasons,
reference kinds and the clips they come from, and rejects, compared with tests/data/golden/.

A change that alters results on purpose regenerates the files (``python -m tests.pipeline.golden``)
and says why in its commit; a refactor must leave them as they are."""

from __future__ import annotations

import json

import pytest

from tests.pipeline.golden import GOLDEN, cases, curate_fingerprint, fingerprint
from tests.shared_media import needs_media

pytestmark = pytest.mark.slow


def _same(name: str, got: dict) -> None:
    want = json.loads((GOLDEN / f"{name}.json").read_text())
    got = json.loads(json.dumps(got))  # the same JSON round trip as the saved file
    if got != want:
        lost = {c["clip_id"] for c in want["clips"]} - {c["clip_id"] for c in got["clips"]}
        new = {c["clip_id"] for c in got["clips"]} - {c["clip_id"] for c in want["clips"]}
        changed = [c["clip_id"] for c in got["clips"] if c in want["clips"]]
        pytest.fail(
            f"{name}: curated output changed (clips lost {sorted(lost)}, new {sorted(new)}, "
            f"{len(got['clips']) - len(changed) - len(new)} changed, rejects {len(want['rejects'])} -> "
            f"{len(got['rejects'])}). If the change is intended, run `python -m tests.pipeline.golden` "
            "and say why in the commit."
        )


def test_bundled_sample_output_is_unchanged(sample_dataset):
    _same("sample", fingerprint(sample_dataset))


@needs_media
def test_shared_media_output_is_unchanged(tmp_path):
    _same("shared_subset", curate_fingerprint(cases()["shared_subset"], tmp_path))
