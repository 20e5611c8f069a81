"""Shared fixtures for end-to-end runs of the curation job on real media."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from humo_data.config import load_config

REPO = Path(__file__).resolve().parents[2]
SAMPLE = REPO / "tests" / "data"
from tests.shared_media import MEDIA, needs_media  # noqa: E402,F401 - re-exported to pipeline tests


def link_inputs(dest: Path, names: list[str], src: Path = MEDIA) -> Path:
    """A source folder with copies of ``names`` (tests never write to ../shared)."""
    dest.mkdir(parents=True, exist_ok=True)
    for name in names:
        shutil.copy(src / name, dest / name)
    return dest


#: the per-clip filters and later phases off: for tests about probing and cutting whose inputs are
#: test patterns or small faces (the filters would rightly reject them)
CUT_ONLY = tuple(f"{s}.enabled=false" for s in ("quality", "faces", "identity", "audio", "sync", "captions"))


def config(*overrides: str):
    return load_config("default", ["writer.report=false", "ray.num_cpus=2", *overrides])


@pytest.fixture(scope="session")
def sample_dataset(tmp_path_factory) -> Path:
    """The bundled sample (tests/data) curated with the default profile."""
    from humo_data.jobs.curate import run_curate

    inputs = tmp_path_factory.mktemp("sample_in")
    for f in SAMPLE.glob("*.mp4"):
        shutil.copy(f, inputs / f.name)
    out = tmp_path_factory.mktemp("sample") / "out"
    summary = run_curate(str(inputs), out, load_config("default", ["ray.num_cpus=2"]), show_progress=False)
    assert summary.ok
    return out


@pytest.fixture(autouse=True, scope="module")
def _shutdown_ray_after_module():
    """In-process runs leave their local Ray cluster up for speed; other test modules start their own."""
    yield
    import ray

    if ray.is_initialized():
        ray.shutdown()
