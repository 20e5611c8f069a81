"""Train the syncnet backend on the shared media's talking clips and report held-out accuracy
(a CPU smoke run of ``humo_data.sync.train``: shows the loop learns; not a usable model).

Clips come from the real cutter (97-frame clips) and faces stage; the held-out set is a whole
speaker the model never saw. Chance is 0.5 (half the pairs are in sync). The report is also
written beside the weights, where the sync stage reads it (a smoke run never reaches the floor).

    python benchmarks/sync_train.py --steps 150 --batch 16 --out benchmarks/results/sync_train.json
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path

import typer

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from humo_data.sync.train import train_syncnet  # noqa: E402

TALKING = (
    "sadtalker_WDA_AlexandriaOcasioCortez_000.mp4",
    "latentsync_demo1_video.mp4",
    "latentsync_demo3_video.mp4",
)


def clip_rows(media: Path) -> list[dict]:
    """97-frame clips of every talking source, from the real cutter and faces stage (all of them
    are single-speaker talking clips: the positives sync-train takes)."""
    from tests.sync.pipeline_rows import pipeline_rows

    return [r for name in TALKING for r in pipeline_rows(media / name, 3.88)]


def main(
    media: Path = typer.Option(REPO.parent / "shared" / "media"),
    steps: int = typer.Option(150),
    batch: int = typer.Option(16),
    lr: float = typer.Option(1e-4),
    out: Path = typer.Option(REPO / "benchmarks" / "results" / "sync_train.json"),
) -> None:
    rows = clip_rows(media)
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        report = train_syncnet(
            rows,
            Path(tmp) / "syncnet_own.model",
            steps=steps,
            batch=batch,
            lr=lr,
            heldout_fraction=0.25,
            eval_pairs=256,
            log_every=10,
        )
    seconds = time.perf_counter() - start
    losses = report.losses
    tenth = max(1, len(losses) // 10)
    payload = {
        "what": "SyncNet trained from scratch on the shared media's talking clips (CPU smoke run)",
        "clips": len(rows),
        "report": {**report.as_dict(), "losses": None},
        "loss_first_tenth": sum(losses[:tenth]) / tenth,
        "loss_last_tenth": sum(losses[-tenth:]) / tenth,
        "seconds": seconds,
        "chance_accuracy": 0.5,
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(payload, indent=2) + "\n")
    print(json.dumps(payload, indent=2))


if __name__ == "__main__":
    typer.run(main)
