"""The whole curation job, rung by rung, as JSON (not a test): where its time goes beyond the front half.

Each rung is ``python -m humo_data.cli curate`` as a user runs it (a fresh local Ray cluster each
time, start-up included; Ray's workers at nice 0 like everything else, see
curate_throughput.EQUAL_PRIORITY), on the same inputs:

  1. ``front_half``    probe, shots, cut, encode, write (every later stage and phase off)
  2. ``+quality_captions_finish``  + quality gates, template captions, the finish phase
  3. ``+faces_identity``           + faces and the identity phase
  4. ``+audio``                    + the audio stage
  5. ``+sync``                     + sync (= the default job)

Per rung: wall s, CPU s of the whole process tree (driver, raylet, workers; the last sample of
each process), video seconds per wall second, peak RSS of the tree, and from the manifest the
run's phase wall seconds (ray_start, stream, reruns, identity, captions, finish) and per-stage
stats (rows, rejects, wall and CPU s summed over workers). The default rung also records a
fingerprint digest of its output (clip ids, flags, references, rejects: tests/pipeline/golden.py)
so a "before" and an "after" can be compared for equal outputs.

The machine may be shared: each rung runs ``--repeat`` times, interleaved, and the fastest run
counts (all walls and CPU seconds are listed; CPU seconds are the load-independent companion).

    python benchmarks/whole_job.py --label before      # writes/updates benchmarks/results/whole_job.json
    python benchmarks/whole_job.py --label after
    python benchmarks/whole_job.py --label after --baseline-code ../main-snapshot  # both, interleaved
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import psutil
import typer

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import benchmarks.curate_throughput as ct  # noqa: E402
from benchmarks.curate_throughput import (  # noqa: E402
    EQUAL_PRIORITY,
    VIDEO_EXT,
    TreeRss,
    linked_inputs,
    media_seconds,
    run_curate_subprocess,
)

#: what each rung switches off (in order, each adds stages to the one before)
OFF = {
    "front_half": ["quality", "faces", "identity", "audio", "sync", "captions"],
    "+quality_captions_finish": ["faces", "identity", "audio", "sync"],
    "+faces_identity": ["audio", "sync"],
    "+audio": ["sync"],
    "+sync (default job)": [],
}


class NamedTreeRss(TreeRss):
    """curate_throughput's sampler that also remembers what each process was (Ray names its
    workers after their task, e.g. ``ray::MapWorker(MapBatches(FaceStage))``), so the CPU seconds
    can be split by process kind. Installed in place of ``TreeRss`` for this script's runs."""

    last: NamedTreeRss | None = None

    def __init__(self, pid: int, interval: float = 0.25):
        super().__init__(pid, interval)
        self.names: dict[int, str] = {}
        NamedTreeRss.last = self

    def sampled(self, proc: psutil.Process) -> None:
        # Ray renames a worker when it takes a task: the latest name counts
        self.names[proc.pid] = kind_of(" ".join(proc.cmdline()) or proc.name())

    def cpu_by_kind(self) -> dict[str, float]:
        out: dict[str, float] = {}
        for pid, cpu in self.cpu.items():
            kind = self.names.get(pid, "unnamed")
            out[kind] = round(out.get(kind, 0.0) + cpu, 2)
        return dict(sorted(out.items(), key=lambda kv: -kv[1]))


def kind_of(cmdline: str) -> str:
    """A process's kind from its command line: the Ray task/actor name, the daemon, or the driver."""
    if cmdline.startswith("ray::"):
        return cmdline.split()[0].removesuffix(".submit")
    for daemon in ("raylet", "gcs_server", "log_monitor", "dashboard", "monitor.py", "runtime_env"):
        if daemon in cmdline:
            return daemon
    if "humo_data.cli" in cmdline:
        return "driver"
    return cmdline.split()[0].rsplit("/", 1)[-1]


def git_head(repo: Path) -> str:
    import subprocess

    out = subprocess.run(
        ["git", "-C", str(repo), "rev-parse", "--short", "HEAD"], capture_output=True, text=True
    )
    dirty = subprocess.run(["git", "-C", str(repo), "status", "--porcelain", "--untracked-files=no"],
                           capture_output=True, text=True).stdout.strip()  # fmt: skip
    return out.stdout.strip() + ("+dirty" if dirty else "")


def output_digest(out: Path) -> tuple[str, dict]:
    """sha256 of the output's decisions (tests/pipeline/golden.fingerprint) and their counts."""
    from tests.pipeline.golden import fingerprint

    fp = fingerprint(out)
    blob = json.dumps(fp, sort_keys=True, default=str).encode()
    counts = {"clips": len(fp["clips"]), "rejects": len(fp["rejects"]),
              "stage1": sum(bool(c["stage1"]) for c in fp["clips"]),
              "stage2": sum(bool(c["stage2"]) for c in fp["clips"])}  # fmt: skip
    return hashlib.sha256(blob).hexdigest()[:16], counts


def one_run(
    inputs: Path, out: Path, off: list[str], extra: list[str], source_seconds: float, code: Path
) -> dict:
    sets = [f"{s}.enabled=false" for s in off] + extra
    ct.TreeRss = NamedTreeRss  # run_curate_subprocess samples with it
    os.chdir(code)  # `python -m` (and so every Ray worker) imports humo_data from the working directory
    run = run_curate_subprocess(inputs, out, sets, env={"PYTHONPATH": str(code)}, front_half=False)
    manifest = json.loads((out / "_manifest.json").read_text())
    stats = next((r.get("stats") for r in reversed(manifest["runs"]) if r.get("stats")), {}) or {}
    phases = {k: round(v.get("wall_seconds", 0.0), 2) for k, v in (stats.get("phases") or {}).items()}
    stages = {
        k: {"rows_in": v.get("rows_in"), "rows_out": v.get("rows_out"), "rejected": v.get("rejected"),
            "seconds": round(v.get("seconds", 0.0), 2), "cpu_seconds": round(v.get("cpu_seconds", 0.0), 2)}
        for k, v in (stats.get("stages") or {}).items()
    }  # fmt: skip
    run.update(
        wall_s=round(run["wall_s"], 2),
        video_s_per_s=round(source_seconds / run["wall_s"], 3),
        clip_s_per_s=round(run["clip_seconds"] / run["wall_s"], 3),
        peak_rss_tree_gib=round(run.pop("peak_rss_tree_bytes") / 2**30, 3),
        peak_rss_single_gib=round(run.pop("peak_rss_single_process_bytes") / 2**30, 3),
        phases_wall_s=phases,
        stages=stages,
        cpu_s_by_process=NamedTreeRss.last.cpu_by_kind(),
        triplet_shard_files=len(list((out / "triplets").glob("*.parquet"))),
    )
    return run


def main(
    media: Path = typer.Option(REPO.parent / "shared" / "media", help="Folder of source videos."),
    label: str = typer.Option("before", help="Key under which this sitting's numbers are stored."),
    repeat: int = typer.Option(2, min=1, help="Runs of each rung (the fastest counts)."),
    workers: int = typer.Option(2, help="ray.num_cpus of every run."),
    rungs: str = typer.Option("", help="Comma-separated rung names to run (default: all)."),
    output: Path = typer.Option(REPO / "benchmarks" / "results" / "whole_job.json"),
    code: Path = typer.Option(
        REPO, help="Checkout whose humo_data the curate runs import (e.g. a clean main for 'before')."
    ),
    baseline_code: Path | None = typer.Option(
        None,
        help="A second checkout run in the same sitting, each run right after its twin (a fair "
        "before/after on a shared machine); stored under --baseline-label.",
    ),
    baseline_label: str = typer.Option("before", help="Key of the --baseline-code sitting."),
) -> None:
    files = sorted(p for p in media.iterdir() if p.suffix.lower() in VIDEO_EXT)
    source_seconds = sum(media_seconds(f) for f in files)
    wanted = [r for r in OFF if not rungs or r in rungs.split(",")]
    #: every source is cut (sources without audio too), so every rung works on the same video
    extra = ["probe.require_audio=false", f"ray.num_cpus={workers}"]
    checkouts = {label: code.resolve()}
    if baseline_code is not None:
        checkouts = {baseline_label: baseline_code.resolve(), **checkouts}
    sittings = {
        name: new_sitting(where, files, source_seconds, extra, repeat) for name, where in checkouts.items()
    }
    if len(checkouts) > 1:
        for name, sitting in sittings.items():
            sitting["interleaved_with"] = [other for other in checkouts if other != name]
    runs: dict[str, dict[str, list[dict]]] = {name: {r: [] for r in wanted} for name in checkouts}
    with tempfile.TemporaryDirectory(prefix="humo-whole-") as tmp:
        tmp = Path(tmp)
        inputs = linked_inputs(tmp, files)
        for i in range(repeat):
            for rung in wanted:
                for name, where in checkouts.items():
                    out = tmp / f"out-{name}-{wanted.index(rung)}-{i}"
                    run = run_with_retry(inputs, out, OFF[rung], extra, source_seconds, where)
                    run.pop("output")
                    runs[name][rung].append(run)
                    print(f"{name} {rung}: {run['wall_s']} s wall, {run['cpu_s']} CPU s, phases "
                          f"{run['phases_wall_s']}", flush=True)  # fmt: skip
    result = json.loads(output.read_text()) if output.exists() else {}
    result.setdefault(
        "about",
        "benchmarks/whole_job.py: the curate job rung by rung (see its docstring); one key per sitting "
        "('before' = main before issue 22's fixed-cost work, 'after' = with it).",
    )
    for name, sitting in sittings.items():
        summarize(sitting, runs[name])
        result[name] = sitting
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(result, indent=2, default=str) + "\n")
    print(json.dumps({n: s.get("goals") for n, s in sittings.items()}, indent=2, default=str))


def new_sitting(code: Path, files: list[Path], source_seconds: float, extra: list[str], repeat: int) -> dict:
    return {
        "commit": git_head(code),
        "at": time.strftime("%Y-%m-%d %H:%M:%S"),
        "machine": {
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "python": platform.python_version(),
            "load_average_at_start": os.getloadavg(),
            "env_of_curate_runs": EQUAL_PRIORITY,
            "shared": "other sessions ran on the same 2 cores: fastest of the repeats counts, "
            "CPU s listed as the load-independent companion",
        },  # fmt: skip
        "media": {"files": [f.name for f in files], "source_seconds": round(source_seconds, 2)},
        "overrides_every_rung": extra + ["writer.report=false"],
        "repeat": repeat,
        "rungs": {},
    }


def run_with_retry(inputs: Path, out: Path, off: list[str], extra: list[str], source_seconds: float,
                   code: Path) -> dict:  # fmt: skip
    """One run; once more when an overloaded shared machine timed Ray's start-up out."""
    try:
        run = one_run(inputs, out, off, extra, source_seconds, code)
    except RuntimeError as err:
        if "timed out during startup" not in str(err):
            raise
        print("Ray start-up timed out (machine overloaded); once more", flush=True)
        out = out.with_name(out.name + "-retry")
        run = one_run(inputs, out, off, extra, source_seconds, code)
        run["retried_after_ray_startup_timeout"] = True
    if not off:
        run["output_digest"], run["output_counts"] = output_digest(out)
    return run


def summarize(sitting: dict, runs: dict[str, list[dict]]) -> None:
    """Fastest run per rung (every wall and CPU s listed), the whole/front ratio and the goals."""
    for rung, rs in runs.items():
        fastest = min(rs, key=lambda r: r["wall_s"])
        sitting["rungs"][rung] = {
            "disabled": OFF[rung], **fastest, "wall_s_runs": [r["wall_s"] for r in rs],
            "cpu_s_runs": [r["cpu_s"] for r in rs],
        }  # fmt: skip
    r = sitting["rungs"]
    if "front_half" in r and "+sync (default job)" in r:
        front, whole = r["front_half"], r["+sync (default job)"]
        sitting["whole_over_front_half_wall"] = round(whole["wall_s"] / front["wall_s"], 3)
        sitting["goals"] = {
            "whole_job_video_s_per_s": {"goal": 2.5, "measured": whole["video_s_per_s"]},
            "whole_over_front_half_wall": {"goal": 1.4, "measured": sitting["whole_over_front_half_wall"]},
        }
    sitting["machine"]["load_average_at_end"] = os.getloadavg()


if __name__ == "__main__":
    typer.run(main)
