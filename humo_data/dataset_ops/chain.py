"""Dataset operations chained after a curate run, when the config asks (``dataset.after_curate``;
the default profile asks for none).

    notes = run_after_curate(output, cfg.model_dump(mode="json"))   # after curate released its lease

Each operation takes the dataset's lease itself, so call this once ``run_curate``'s own lease is
released, and only for a complete run. The operations run on the curate run's Ray settings.
"""

from __future__ import annotations

from typing import Any

from humo_data.dataset_ops.config import load_ops_config


def run_after_curate(output: str, curate_config: dict[str, Any]) -> list[str]:
    """Run ``dataset.after_curate`` in order; returns one note per operation."""
    ray = curate_config.get("ray") or {}
    overrides = [
        f"ray.{k}={ray[k]}" for k in ("address", "num_cpus", "object_store_memory") if ray.get(k) is not None
    ]
    ops = load_ops_config({"config": curate_config}, None, overrides)
    notes = []
    for name in ops.after_curate:
        if name == "dedup":
            from humo_data.dataset_ops.dedup import run_dedup

            r = run_dedup(output, ops)
            notes.append(f"dedup: {r.get('rejected', 0)} near-duplicate clip(s) removed")
        elif name == "split":
            from humo_data.dataset_ops.splits import run_split

            r = run_split(output, ops)
            notes.append("split: " + ", ".join(f"{k} {v['clips']}" for k, v in r["sizes"].items()))
        elif name == "card":
            from humo_data.dataset_ops.card import run_card

            run_card(output, ops)
            notes.append("dataset card written")
    return notes
