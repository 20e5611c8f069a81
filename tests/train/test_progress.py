"""Progress of `train` and `generate`: a live bar on a terminal (a real pty here), a plain line
every N steps when stdout is a file or pipe, and the final JSON summary stays the last line."""

from __future__ import annotations

import fcntl
import io
import json
import os
import pty
import re
import select
import struct
import subprocess
import sys
import termios
import time
from pathlib import Path

import pytest

from humo_data.train.progress import StepProgress, resolve_mode

REPO = Path(__file__).resolve().parents[2]
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
LINE = re.compile(
    r"^train step (\d+)/(\d+) \(\d+%\) loss (\d+\.\d+) \| (\d+\.\d+) steps/s \| elapsed \d+:\d\d:\d\d \| eta \d+:\d\d:\d\d$"
)


def train_cmd(triplet_dir: Path, out: Path, steps: int = 4, every: int = 2) -> list[str]:
    return [sys.executable, "-m", "humo_data.cli", "train", "--config", "tiny_cpu",
            "--set", f"data.sources=[{triplet_dir}]", "--set", f"output={out}",
            "--set", f"schedule.max_steps={steps}", "--set", f"logging.every_steps={every}",
            "--set", f"checkpoint.every_steps={steps}", "--set", "data.batch_size=1",
            "--set", "logging.tensorboard=false"]  # fmt: skip


def run_in_pty(cmd: list[str], timeout: float = 300) -> str:
    """Run ``cmd`` with stdout and stderr on a pseudo-terminal (120 columns); return what it printed."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
    env = {**os.environ, "PYTHONPATH": str(REPO), "TERM": "xterm-256color"}
    env.pop("NO_COLOR", None)
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=slave, stderr=slave, cwd=REPO, env=env)
    os.close(slave)
    chunks, deadline = [], time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 1.0)
            if ready:
                try:
                    data = os.read(master, 65536)
                except OSError:  # EIO: the child closed the terminal
                    break
                if not data:
                    break
                chunks.append(data)
            elif proc.poll() is not None:
                break
    finally:
        os.close(master)
        rc = proc.wait(timeout=60)
    text = b"".join(chunks).decode("utf-8", "replace")
    assert rc == 0, text[-3000:]
    return text


@pytest.mark.slow
def test_train_on_a_terminal_shows_a_live_bar(triplet_dir, tmp_path):
    text = run_in_pty(train_cmd(triplet_dir, tmp_path / "run"))
    plain = ANSI.sub("", text).replace("\r\n", "\n")
    # the bar: redrawn in place (cursor control codes), with step count, loss and speed
    assert ANSI.search(text), "no terminal control codes: the bar was not drawn as a live display"
    frames = [f for f in re.split(r"[\r\n]", plain) if "train" in f and "/4" in f]
    assert any("4/4" in f for f in frames), plain[-2000:]
    assert any(re.search(r"loss \d+\.\d{4}", f) and re.search(r"\d+\.\d\d steps/s", f) for f in frames)
    assert not any(LINE.match(x.strip()) for x in plain.splitlines()), "plain log lines on a terminal"
    summary = json.loads(plain.strip().splitlines()[-1])
    assert summary["steps"] == 4


@pytest.mark.slow
def test_train_to_a_pipe_prints_a_line_every_n_steps(triplet_dir, tmp_path):
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    res = subprocess.run(train_cmd(triplet_dir, tmp_path / "run", steps=5, every=2), capture_output=True,
                         text=True, cwd=REPO, env=env, timeout=300)  # fmt: skip
    assert res.returncode == 0, res.stderr[-3000:]
    assert not ANSI.search(res.stdout), "control codes in a log"
    lines = res.stdout.strip().splitlines()
    progress = [m for x in lines if (m := LINE.match(x))]
    assert [(int(m[1]), int(m[2])) for m in progress] == [(2, 5), (4, 5), (5, 5)]  # every 2 steps + the end
    # each line's loss is the mean of the steps since the previous line, as the metrics log has it
    logged = [json.loads(x) for x in (tmp_path / "run" / "logs" / "metrics.jsonl").read_text().splitlines()]
    assert [float(m[3]) for m in progress] == pytest.approx([r["loss"] for r in logged], abs=1.5e-4)
    assert json.loads(lines[-1])["steps"] == 5


def test_lines_mode_means_and_cadence():
    out = io.StringIO()
    with StepProgress("train", 7, every=3, stream=out) as bar:  # a StringIO is no terminal: lines
        assert bar.mode == "lines"
        for step in range(1, 8):
            bar.update(step, loss=float(step))
    lines = out.getvalue().splitlines()
    assert [x.split(" (")[0] for x in lines] == ["train step 3/7", "train step 6/7", "train step 7/7"]
    assert [re.search(r"loss (\S+)", x)[1] for x in lines] == ["2.0000", "5.0000", "7.0000"]


def test_mode_resolution():
    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    assert resolve_mode("auto", Tty()) == "bar" and resolve_mode("auto", io.StringIO()) == "lines"
    assert resolve_mode("lines", Tty()) == "lines" and resolve_mode("off", Tty()) == "off"
    with pytest.raises(ValueError, match="progress mode"):
        resolve_mode("fancy", io.StringIO())
    out = io.StringIO()
    with StepProgress("x", 3, every=1, mode="off", stream=out) as bar:
        for s in (1, 2, 3):
            bar.update(s, loss=1.0)
    assert out.getvalue() == ""


@pytest.mark.slow
def test_generate_prints_sampling_steps(tmp_path):
    import typer
    from typer.testing import CliRunner

    from humo_data.train.generate_cli import register_generate

    (tmp_path / "cases.json").write_text(json.dumps({"c1": {"img_paths": [], "prompt": "A man talks."}}))
    app = typer.Typer()
    register_generate(app)
    app.command("noop")(lambda: None)
    args = ["generate", str(tmp_path / "cases.json"), "--preset", "tiny", "--output-dir", str(tmp_path / "out"),
            "--steps", "4", "--frames", "5", "--height", "32", "--width", "32", "--mode", "ta",
            "--progress", "lines", "--progress-every", "2"]  # fmt: skip
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 0, res.output
    steps = re.findall(r"^generate c1 step (\d)/4 \(\d+%\) \| [\d.]+ steps/s", res.output, re.M)
    assert steps == ["2", "4"], res.output
