"""Where a dataset's time went, stage by stage (``stages.<name>.stats`` in the manifest, summed over
every run; see humo_data/stage_stats.py): a bar per stage for its share of the job's seconds, its
rows in and out and its rejects, and the phases' wall seconds of the last run.

Stages appear in the order the job ran them (the manifest records stages in plan order).
"""

from __future__ import annotations

import html
from typing import Any

from rich.table import Table

from humo_data import stage_stats


def stage_rows(manifest: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """(stage, stats) in the order the job recorded them, stages without numbers left out."""
    return [
        (name, entry["stats"]) for name, entry in manifest.get("stages", {}).items() if entry.get("stats")
    ]


def last_run_phases(manifest: dict[str, Any]) -> dict[str, dict[str, float]]:
    for run in reversed(manifest.get("runs") or []):
        phases = (run.get("stats") or {}).get("phases")
        if phases:
            return phases
    return {}


def section(manifest: dict[str, Any]) -> str:
    rows = stage_rows(manifest)
    if not rows:
        return ""
    total = sum(float(s.get("seconds") or 0.0) for _, s in rows) or 1.0
    video = float(manifest.get("counts", {}).get("video_seconds") or 0.0)
    head = ("<tr><th>stage</th><th>share of the job's seconds</th><th>seconds</th><th>CPU s</th>"
            "<th>s per video-s</th><th>rows in</th><th>rows out</th><th>rejected</th></tr>")  # fmt: skip
    body = []
    for name, s in rows:
        seconds = float(s.get("seconds") or 0.0)
        per_video = f"{seconds / video:.3f}" if video else "-"
        reasons = ", ".join(
            f"{k} {v}" for k, v in sorted((s.get("rejects_by_reason") or {}).items(), key=lambda kv: -kv[1])
        )
        body.append(
            f"<tr><td class='key'>{html.escape(name)}</td>"
            f"<td><div class='bar' style='width:{100 * seconds / total:.1f}%'></div> {100 * seconds / total:.0f}%</td>"
            f"<td class='n'>{seconds:.1f}</td><td class='n'>{float(s.get('cpu_seconds') or 0.0):.1f}</td>"
            f"<td class='n'>{per_video}</td><td class='n'>{s.get('rows_in', 0)}</td><td class='n'>{s.get('rows_out', 0)}</td>"
            f"<td class='detail'>{s.get('rejected', 0)}{': ' + html.escape(reasons) if reasons else ''}</td></tr>"
        )  # fmt: skip
    phases = last_run_phases(manifest)
    note = ""
    if phases:
        walls = ", ".join(f"{html.escape(k)} {v.get('wall_seconds', 0.0):.1f} s" for k, v in phases.items())
        note = f"<p>Last run, wall seconds per phase: {walls}.</p>"
    return (
        "<h2>Where the time went</h2><p>Seconds are summed over workers and every run (setup included); "
        "a stage's share is its seconds over all stages' seconds.</p>"
        f"<table class='bars'>{head}{''.join(body)}</table>{note}"
    )


def stage_table(
    stages: dict[str, dict[str, Any]], order: list[str], phases: dict[str, dict[str, float]],
    title: str = "stages (this run; seconds summed over workers)",
) -> Table:  # fmt: skip
    """Numbers per stage (seconds summed over workers) and the phases' wall seconds, for a terminal."""
    total = sum(float(v.get("seconds") or 0.0) for v in stages.values()) or 1.0
    table = Table(title=title)
    for col in ("stage", "rows in", "rejected", "rows out", "seconds", "CPU s", "share"):
        table.add_column(col, justify="left" if col == "stage" else "right")
    for name, v in stage_stats.ordered(stages, order):
        table.add_row(name, str(v.get("rows_in", 0)), str(v.get("rejected", 0)), str(v.get("rows_out", 0)),
                      f"{v.get('seconds', 0.0):.1f}", f"{v.get('cpu_seconds', 0.0):.1f}",
                      f"{100 * float(v.get('seconds') or 0.0) / total:.0f}%")  # fmt: skip
    if phases:
        walls = ", ".join(f"{k} {v.get('wall_seconds', 0.0):.1f}" for k, v in phases.items())
        table.caption = f"phase wall seconds: {walls}"
    return table
