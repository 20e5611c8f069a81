"""Progress of a run of steps (training steps, sampling steps): a rich bar on a terminal, a plain
line every N steps in logs.

    with StepProgress("train", total=1000, start=step, every=10) as bar:
        ...
        bar.update(step, loss=0.81)

``mode``: auto = a bar when the stream is a terminal, else lines; bar / lines force one; off
prints nothing. Lines carry the mean of each field over the steps since the previous line, so a
log shows the same smoothed loss the metrics file does, not one noisy step.

    train step 20/40 (50%) loss 0.8123 | 1.52 steps/s | elapsed 0:00:13 | eta 0:00:13
"""

from __future__ import annotations

import sys
import time
from datetime import timedelta
from typing import Literal, TextIO

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

ProgressMode = Literal["auto", "bar", "lines", "off"]
PROGRESS_MODES: tuple[str, ...] = ("auto", "bar", "lines", "off")


def resolve_mode(mode: str, stream: TextIO) -> str:
    """auto -> bar on a terminal, lines otherwise (a file, a pipe, a Ray worker's log)."""
    if mode not in PROGRESS_MODES:
        raise ValueError(f"progress mode must be one of {', '.join(PROGRESS_MODES)}, got {mode!r}")
    if mode != "auto":
        return mode
    isatty = getattr(stream, "isatty", None)
    return "bar" if isatty is not None and isatty() else "lines"


def _clock(seconds: float) -> str:
    return str(timedelta(seconds=int(max(seconds, 0))))


class StepProgress:
    """Steps ``start+1 .. total`` of one run; ``update(step, **fields)`` after each step."""

    def __init__(
        self,
        label: str,
        total: int,
        *,
        start: int = 0,
        every: int = 10,
        mode: str = "auto",
        stream: TextIO | None = None,
        unit: str = "step",
    ):
        self.label, self.total, self.start, self.every, self.unit = label, total, start, max(1, every), unit
        self.stream = stream if stream is not None else sys.stdout
        self.mode = resolve_mode(mode, self.stream)
        self._t0 = time.perf_counter()
        self._sums: dict[str, float] = {}
        self._n = 0
        self._bar: Progress | None = None
        self._task = None

    # -- rates ------------------------------------------------------------------------------------
    def rate(self, step: int) -> float:
        """Steps per second over this run (a resumed run counts from where it resumed)."""
        dt = time.perf_counter() - self._t0
        return (step - self.start) / dt if dt > 0 else 0.0

    def eta(self, step: int) -> float | None:
        r = self.rate(step)
        return (self.total - step) / r if r > 0 else None

    # -- output -----------------------------------------------------------------------------------
    def __enter__(self) -> StepProgress:
        self.open()
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def open(self) -> None:
        """Start the bar (a no-op in lines / off mode)."""
        self._t0 = time.perf_counter()
        if self.mode == "bar" and self._bar is None:
            console = Console(file=self.stream, force_terminal=True)
            self._bar = Progress(
                TextColumn("[bold]{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("{task.fields[info]}"),
                TextColumn("{task.fields[rate]}"),
                TextColumn("eta"),
                TimeRemainingColumn(),
                console=console,
            )
            self._bar.start()
            self._task = self._bar.add_task(
                self.label, total=self.total, completed=self.start, info="", rate=""
            )

    def close(self) -> None:
        if self._bar is not None:
            self._bar.stop()
            self._bar = None

    def update(self, step: int, **fields: float) -> None:
        for k, v in fields.items():
            self._sums[k] = self._sums.get(k, 0.0) + float(v)
        self._n += 1
        if self.mode == "bar" and self._bar is not None:
            info = " ".join(f"{k} {float(v):.4f}" for k, v in fields.items())
            self._bar.update(
                self._task, completed=step, info=info, rate=f"{self.rate(step):.2f} {self.unit}s/s"
            )
        elif self.mode == "lines" and (step % self.every == 0 or step == self.total):
            self.stream.write(self.line(step) + "\n")
            self.stream.flush()
            self._sums, self._n = {}, 0

    def line(self, step: int) -> str:
        """The plain progress line at ``step`` (field means since the previous line)."""
        means = " ".join(f"{k} {v / max(self._n, 1):.4f}" for k, v in self._sums.items())
        eta = self.eta(step)
        parts = [
            f"{self.label} {self.unit} {step}/{self.total} ({100 * step / max(self.total, 1):.0f}%)"
            + (f" {means}" if means else ""),
            f"{self.rate(step):.2f} {self.unit}s/s",
            f"elapsed {_clock(time.perf_counter() - self._t0)}",
            f"eta {_clock(eta) if eta is not None else '?'}",
        ]
        return " | ".join(parts)
