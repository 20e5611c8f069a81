"""Without ../shared/media a clone skips the media-backed tests locally and fails them under CI."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent

PROBE = """
from tests.shared_media import media_file, needs_media

@needs_media
def test_marked():
    pass

def test_file():
    media_file("latentsync_demo1_video.mp4")
"""


def run_clone(tmp_path: Path, ci: str | None) -> subprocess.CompletedProcess:
    """pytest in a throwaway clone with no ../shared beside it."""
    repo = tmp_path / "clone" / "repo"
    (repo / "tests").mkdir(parents=True)
    for name in ("shared_media.py", "conftest.py"):
        shutil.copy(HERE / name, repo / "tests" / name)
    (repo / "tests" / "test_probe_media.py").write_text(PROBE)
    env = {k: v for k, v in os.environ.items() if k != "CI"}
    if ci is not None:
        env["CI"] = ci
    env["PYTHONPATH"] = str(repo)
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-rs", "-p", "no:cacheprovider", "tests"],
        cwd=repo, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip


def test_local_clone_skips_with_the_reason(tmp_path):
    out = run_clone(tmp_path, None)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "2 skipped" in out.stdout and "needs the shared test media" in out.stdout


@pytest.mark.parametrize("ci", ["true", "1"])
def test_ci_fails_with_a_message(tmp_path, ci):
    out = run_clone(tmp_path, ci)
    assert out.returncode != 0
    assert "CI is set but the shared test media is missing" in out.stdout
    assert "skipped" not in out.stdout.splitlines()[-1]


def test_ci_off_values_skip(tmp_path):
    assert run_clone(tmp_path, "false").returncode == 0
