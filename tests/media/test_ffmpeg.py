"""ffmpeg runs as an argument list, reports failures with stderr, and takes any file name."""

from __future__ import annotations

import subprocess
from pathlib import Path

import av
import pytest

from humo_data.media.ffmpeg import FFmpegError, ffmpeg_exe, run_ffmpeg, safe_path


def test_ffmpeg_exe_runs():
    out = subprocess.run([ffmpeg_exe(), "-version"], capture_output=True, check=True).stdout
    assert out.startswith(b"ffmpeg version")


def test_failure_raises_with_stderr_tail(tmp_path: Path):
    missing = tmp_path / "does-not-exist.mp4"
    with pytest.raises(FFmpegError) as info:
        run_ffmpeg(["-i", safe_path(missing), "-f", "null", "-"])
    assert info.value.returncode not in (0, None)
    assert "No such file" in str(info.value)
    assert "does-not-exist.mp4" in info.value.stderr


def test_command_string_is_refused():
    with pytest.raises(TypeError):
        run_ffmpeg("-i x.mp4 -f null -")  # type: ignore[arg-type]


def test_timeout_raises(tmp_path: Path):
    # -re reads the input at its native rate: 60 s of input cannot finish in 0.5 s.
    with pytest.raises(FFmpegError, match="timed out"):
        run_ffmpeg(["-re", "-f", "lavfi", "-i", "testsrc2=s=64x64:d=60", "-f", "null", "-"], timeout=0.5)


@pytest.mark.parametrize("name", ["-leading dash.mp4", 'it\'s "q" ünï 视频.mp4', "a:b.mp4"])
def test_awkward_names_round_trip(tmp_path: Path, name: str):
    out = tmp_path / name
    run_ffmpeg(["-f", "lavfi", "-i", "testsrc2=s=64x48:r=25:d=0.4", "-c:v", "libx264", "-y", safe_path(out)])
    assert out.exists()
    # and read it back through ffmpeg too (input side of the same rule)
    copy = tmp_path / ("-copy " + name)
    run_ffmpeg(["-i", safe_path(out), "-c", "copy", "-y", safe_path(copy)])
    with av.open(str(copy)) as c:
        assert c.streams.video[0].frames == 10


def test_stdout_pipe_carries_bytes():
    proc = run_ffmpeg(["-f", "lavfi", "-i", "color=c=red:s=4x4:d=0.04", "-frames:v", "1", "-f", "rawvideo",
                       "-pix_fmt", "rgb24", "pipe:1"])  # fmt: skip
    r, g, b = proc.stdout[:3]
    assert r > 200 and g < 50 and b < 50  # red, up to YUV round-trip error
    assert len(proc.stdout) == 4 * 4 * 3


def test_old_ffmpeg_on_path_is_passed_over(tmp_path: Path, monkeypatch):
    """Debian 12's ffmpeg 5.1 lacks options the code uses: the bundled binary is taken instead."""
    from humo_data.media import ffmpeg as ffmpeg_mod

    fake = tmp_path / "ffmpeg"
    fake.write_text("#!/bin/sh\necho 'ffmpeg version 5.1.6-0+deb12u1 Copyright (c) 2000-2024'\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}:/usr/bin:/bin")
    ffmpeg_mod.ffmpeg_exe.cache_clear()
    try:
        assert ffmpeg_mod.ffmpeg_major_version(str(fake)) == 5
        chosen = ffmpeg_mod.ffmpeg_exe()
        assert chosen != str(fake)
        assert (ffmpeg_mod.ffmpeg_major_version(chosen) or 0) >= ffmpeg_mod.MIN_FFMPEG_MAJOR
        fake.write_text("#!/bin/sh\necho 'ffmpeg version n7.1-3-gabc Copyright'\n")
        ffmpeg_mod.ffmpeg_exe.cache_clear()
        assert ffmpeg_mod.ffmpeg_exe() == str(fake)
    finally:
        ffmpeg_mod.ffmpeg_exe.cache_clear()
