"""Identity embeddings on the labelled set (tests/faces/labelled_set.py): same person matches,
different people do not, at the backend's own same-person distance."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from humo_data.faces.backends import load_backend
from humo_data.faces.config import FacesConfig
from tests.faces.labelled_set import labelled_embeddings, precision_recall
from tests.shared_media import needs_media

pytestmark = needs_media


@pytest.mark.parametrize("backend_name", ["dlib"])
def test_same_person_pairs_match_and_others_do_not(backend_name):
    backend = load_backend(FacesConfig(backend=backend_name, min_face_area=0.0, min_face_px=0))
    backend.setup()
    embs = labelled_embeddings(backend)
    assert len({p for p, _, _ in embs}) == 9
    precision, recall, positives = precision_recall(embs, backend.match_distance)
    print(f"{backend_name}: precision {precision:.3f} recall {recall:.3f} over {positives} same-person pairs")
    assert positives == 12
    assert precision == 1.0
    assert recall >= 0.95
    # the margin: every same-person pair is closer than every different-person pair
    same = [np.linalg.norm(a[2] - b[2]) for a, b in itertools.combinations(embs, 2) if a[0] == b[0]]
    diff = [np.linalg.norm(a[2] - b[2]) for a, b in itertools.combinations(embs, 2) if a[0] != b[0]]
    assert max(same) < min(diff)
