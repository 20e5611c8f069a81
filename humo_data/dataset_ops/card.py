"""The dataset card, ``OUT/README.md``: a Hugging Face dataset card, so the folder can be pushed to a
hub as it is and ``datasets.load_dataset(OUT)`` reads it.

The YAML header's ``configs`` select files, not rows: the ``default`` config lists one file
pattern per split (``triplets/part-split-<name>-*.parquet``, split.py writes split-separated
shards), or all triplet shards as one ``train`` split before ``humo-data split`` ran; a
``rejects`` config exposes the reject rows (ids and reasons, no media). License fields come from
``card.*`` in the operations config. The body reports counts, hours and identities per split, the
curation funnel, the backends, the dataset operations applied, source licenses and how to load it.
Rewritten by every dataset operation (and ``humo-data card OUT``); derived from the manifest and
light columns only.
"""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

import pyarrow.parquet as pq
import yaml

from humo_data.dataset_ops.config import CardConfig, DatasetOpsConfig
from humo_data.io.dataset import Dataset
from humo_data.io.manifest import utc_now
from humo_data.io.splits import split_pattern, split_sizes

CARD = "README.md"
SIZE_CATEGORIES = ((1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K"), (1_000_000, "100K<n<1M"),
                   (10_000_000, "1M<n<10M"), (100_000_000, "10M<n<100M"))  # fmt: skip
HUMO_CITATION = """@article{chen2025humo,
  title={HuMo: Human-Centric Video Generation via Collaborative Multi-Modal Conditioning},
  author={Chen, Liyang and Ma, Tianxiang and Liu, Jiawei and Li, Bingchuan and Chen, Zhuowei and Liu, Lijie and He, Xu and Li, Gen and He, Qian and Wu, Zhiyong},
  journal={arXiv preprint arXiv:2509.08519},
  year={2025}
}"""


def size_category(n: int) -> str:
    return next((label for limit, label in SIZE_CATEGORIES if n < limit), "n>100M")


def configs(
    sizes: dict[str, dict[str, Any]], card: CardConfig, has_rejects: bool = True
) -> list[dict[str, Any]]:
    """Card configs: a split with no rows gets no entry (a pattern matching nothing fails to load)."""
    splits = [s for s in sizes if s != "unassigned"]
    if splits:
        files = [{"split": s, "path": split_pattern(s)} for s in splits]
    else:
        files = [{"split": "train", "path": "triplets/*.parquet"}]
    out: list[dict[str, Any]] = [{"config_name": "default", "data_files": files, "default": True}]
    if card.include_rejects and has_rejects:
        out.append(
            {"config_name": "rejects", "data_files": [{"split": "train", "path": "rejects/*.parquet"}]}
        )
    return out


def header(ds: Dataset, sizes: dict[str, dict[str, Any]], card: CardConfig) -> dict[str, Any]:
    rows = int(ds.manifest["counts"].get("triplets", 0))
    head: dict[str, Any] = {"pretty_name": card.pretty_name, "license": card.license}
    if card.license_name:
        head["license_name"] = card.license_name
    if card.license_link:
        head["license_link"] = card.license_link
    languages = list(card.language) or [k for k, _ in measured_languages(ds).most_common()]
    if languages:  # declared or measured; a guess would mislead whoever filters the hub by language
        head["language"] = languages
    head.update({
        "tags": list(card.tags), "task_categories": ["text-to-video"],
        "size_categories": [size_category(rows)],
        "configs": configs(sizes, card, has_rejects=bool(ds.shards("rejects"))),
    })  # fmt: skip
    return head


def measured_languages(ds: Dataset) -> Counter:
    """Clips per spoken language the ASR identified (the ``language`` column; null = not measured)."""
    out: Counter = Counter()
    for entry in ds.shards("triplets"):
        pf = pq.ParquetFile(ds.store.open_read(entry["path"]))
        if "language" in pf.schema_arrow.names:
            out.update(x for x in pf.read(columns=["language"]).column(0).to_pylist() if x)
    return out


def source_licenses(ds: Dataset) -> Counter:
    """Clips per source license (``license`` key of the provenance carried from a Parquet manifest)."""
    out: Counter = Counter()
    for entry in ds.shards("triplets"):
        pf = pq.ParquetFile(ds.store.open_read(entry["path"]))
        if "source_meta" not in pf.schema_arrow.names:
            continue
        for meta in pf.read(columns=["source_meta"]).column(0).to_pylist():
            try:
                lic = (json.loads(meta) or {}).get("license") if meta else None
            except (ValueError, AttributeError):
                lic = None
            out[lic or "not recorded"] += 1
    return out


def _table(head: list[str], rows: list[list[Any]]) -> str:
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return "\n".join(lines)


def body(ds: Dataset, sizes: dict[str, dict[str, Any]], card: CardConfig) -> str:
    m = ds.manifest
    c = m["counts"]
    subsets = c.get("subsets") or {}
    phases = m.get("phases", {})
    parts = [f"# {card.pretty_name}", ""]
    parts.append(card.description or (
        "Human-centric video clips curated with humo-data for HuMo-style training: each row "
        "holds a 25 fps clip (H.264 MP4 bytes), its 16 kHz audio, a caption and reference images of the same "
        "person taken from other clips, with per-stage scores and the reasons behind every filter."
    ))  # fmt: skip
    parts += ["", "## Loading", "", "```python", "from datasets import load_dataset",
              f'ds = load_dataset("path/to/this/folder")            # splits: {", ".join(s for s in sizes if s != "unassigned") or "train"}',
              *(['rejects = load_dataset("path/to/this/folder", "rejects")'] if ds.shards("rejects") else []), "```", "",
              "Plain Parquet works too: `duckdb -c \"select clip_id, caption from 'triplets/*.parquet'\"`.", ""]  # fmt: skip
    split_rows = [
        [s, v["clips"], f"{v['hours']:.3f}", v["identities"], v["sources"]] for s, v in sizes.items()
    ]
    parts += ["## Contents", "", _table(["split", "clips", "hours", "identities", "sources"], split_rows), ""]
    spoken = measured_languages(ds)
    unmeasured = int(c.get("triplets", 0)) - sum(spoken.values())
    parts += [
        "Spoken language as the ASR identified it: "
        + (", ".join(f"`{k}` {v} clip(s)" for k, v in spoken.most_common()) if spoken else "none identified")
        + (f"; not measured on {unmeasured} clip(s)" if spoken and unmeasured > 0 else "")
        + (f" (the card declares {', '.join(card.language)})" if card.language else "")
        + ".",
        "",
    ]
    split = phases.get("split")
    if split:
        parts.append(
            f"Splits are identity-disjoint (`humo-data split`, group_by `{split.get('group_by')}`, seed {split.get('seed')}, "
            f"target fractions {json.dumps(split.get('fractions'))}): no person appears in two splits"
            + (" and no source video either." if split.get("group_by") == "identity+source" else ".")
        )
        for w in split.get("warnings") or []:
            parts.append(f"- note: {w}")
        if "unassigned" in sizes:
            parts.append(f"- {sizes['unassigned']['clips']} clip(s) were added after the last split and are in no "
                         "split yet: run `humo-data split` again.")  # fmt: skip
        parts.append("")
    else:
        parts += ["No train/validation/test split yet (`humo-data split` makes identity-disjoint ones); every row "
                  "is in the `train` split of the card.", ""]  # fmt: skip
    funnel = [["sources processed", c.get("sources_done", 0)], ["clips kept", c.get("triplets", 0)],
              ["hours kept", f"{float(c.get('video_seconds', 0.0)) / 3600:.3f}"], ["rejected (clips or sources)", c.get("rejects", 0)]]  # fmt: skip
    if subsets:
        funnel += [["stage 1 rows (caption + reference)", subsets.get("stage1", 0)],
                   ["stage 2 rows (stage 1 + synced speech)", subsets.get("stage2", 0)]]  # fmt: skip
    parts += ["## Curation funnel", "", _table(["", "count"], funnel), ""]
    reasons = sorted(c.get("rejects_by_reason", {}).items(), key=lambda kv: -kv[1])
    if reasons:
        parts += [
            "Rejects by stage and reason:",
            "",
            _table(["stage/reason", "rows"], [[k, v] for k, v in reasons if v]),
            "",
        ]
    backends = m.get("backends", {})
    if backends:
        parts += ["## Backends", "", "Every model-dependent column names the backend that produced it; this run used:", "",
                  _table(["stage", "backend"], [[k, v] for k, v in sorted(backends.items())]), ""]  # fmt: skip
    ops = []
    if phases.get("dedup", {}).get("status") == "complete":
        d = phases["dedup"]
        ops.append(f"- near-duplicates across sources (`humo-data dedup`, {d.get('backend')}): {d.get('rejected', 0)} "
                   "clip(s) removed as `near_duplicate` (the reject detail names the clip kept)")  # fmt: skip
    if phases.get("takedown", {}).get("requests"):
        reqs = phases["takedown"]["requests"]
        ops.append(
            f"- takedowns (`humo-data remove`): {len(reqs)} request(s), {sum(r.get('rows', 0) for r in reqs)} row(s) removed"
        )
    if ops:
        parts += ["## Dataset operations", "", *ops, ""]
    licenses = source_licenses(ds)
    parts += ["## License", "", f"Dataset license: `{card.license}`"
              + (f" ({card.license_name})" if card.license_name else "") + (f", see {card.license_link}" if card.license_link else "") + ".", ""]  # fmt: skip
    if licenses:
        parts += ["Clips per source license (from the input manifest's `license` column):", "",
                  _table(["source license", "clips"], [[k, v] for k, v in licenses.most_common()]), ""]  # fmt: skip
    parts += [
        "## Personal data", "",
        "Rows show identifiable people. `features/faces/` holds face embeddings (biometric data). A person or a "
        "source can be removed with `humo-data remove OUT --identity ID` / `--source ID`, which also removes the "
        "reference images and feature rows showing them.", "",
        "## Provenance", "",
        f"Schema versions {json.dumps(m.get('schema_versions', {}))}; config hash `{m.get('config_hash')}`; created "
        f"{m.get('created_at')}, card written {utc_now()}. `_manifest.json` lists every shard with its sha256.", "",
        "## Citation", "", "```bibtex", (card.citation or "").strip() or HUMO_CITATION, "```", "",
    ]  # fmt: skip
    return "\n".join(parts)


def render_card(ds: Dataset, card: CardConfig) -> str:
    sizes = split_sizes(ds)
    head = yaml.safe_dump(header(ds, sizes, card), sort_keys=False, allow_unicode=True)
    return f"---\n{head}---\n\n{body(ds, sizes, card)}"


def write_card(ds: Dataset, card: CardConfig) -> dict[str, Any]:
    """Write OUT/README.md; returns the phase record fields (path, sha256)."""
    written = ds.store.write_bytes(CARD, render_card(ds, card).encode())
    return {"path": CARD, "sha256": written.sha256}


REPORT = "report/index.html"


def refresh_documents(ds: Dataset, ops: DatasetOpsConfig) -> None:
    """After an operation changed the rows: the card is rewritten, and the HTML report is removed
    (a report with a removed person's thumbnails must not survive a takedown); the command line
    writes a fresh report afterwards (``humo-data report`` does the same by hand)."""
    info = write_card(ds, ops.card)
    ds.state.record([{"t": "phase", "name": "card", "status": "complete", "at": utc_now(), **info}])
    if ds.store.exists(REPORT):
        ds.store.delete(REPORT)


def run_card(output: str, ops: DatasetOpsConfig) -> dict[str, Any]:
    """``humo-data card OUT``: (re)write the card alone."""
    from humo_data.dataset_ops.common import dataset_op

    with dataset_op(output, "card", mark_running=False, strict=True) as op:
        info = write_card(op.ds, ops.card)
        op.done(info)
        return {**info, "notes": op.notes}
