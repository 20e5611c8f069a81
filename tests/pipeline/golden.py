"""What a curated dataset decided, as plain JSON: clip ids, flags and their reasons, the reference
kinds and the clips the references were cut from, and the rejects. A refactor must keep it equal;
a change that means to alter results regenerates the saved files and says why in its commit:

    python -m tests.pipeline.golden            # rewrites tests/data/golden/*.json
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
GOLDEN = REPO / "tests" / "data" / "golden"
#: a few ../shared/media sources: a talking head, a portrait HEVC talking head, face + music
SHARED_SUBSET = (
    "sadtalker_WDA_AlexandriaOcasioCortez_000.mp4",
    "latentsync_demo1_video.mp4",
    "liveportrait_d10.mp4",
)
OVERRIDES = ("writer.report=false", "ray.num_cpus=2")


def fingerprint(out: str | Path) -> dict:
    """The decisions of the dataset at ``out`` (order-free: sorted by id)."""
    from humo_data.io.dataset import open_dataset

    ds = open_dataset(str(out))
    cols = ["clip_id", "source_uri", "start_time", "end_time", "stage1", "stage1_reason", "stage2",
            "stage2_reason", "reference_kind", "reference_images", "audio_offset_frames"]  # fmt: skip
    clips = []
    for r in ds.read("triplets", columns=cols).to_pylist():
        refs = sorted((x.get("kind"), x.get("source_clip_id"), round(float(x.get("time") or 0), 2))
                      for x in r.pop("reference_images") or [])  # fmt: skip
        r["source_uri"] = Path(r["source_uri"]).name
        r["references"] = [list(x) for x in refs]
        clips.append(r)
    rejects = [
        {**r, "source_uri": Path(r["source_uri"]).name}
        for r in ds.read("rejects", columns=["source_uri", "clip_id", "stage", "reason"]).to_pylist()
    ]
    return {
        "clips": sorted(clips, key=lambda r: r["clip_id"]),
        "rejects": sorted(rejects, key=lambda r: (r["source_uri"], r["clip_id"] or "", r["reason"])),
    }


def curate_fingerprint(inputs: list[Path], workdir: Path) -> dict:
    """Curate copies of ``inputs`` with the default profile and return the fingerprint."""
    import shutil

    from humo_data.config import load_config
    from humo_data.jobs.curate import run_curate

    src = workdir / "in"
    src.mkdir(parents=True, exist_ok=True)
    for p in inputs:
        shutil.copy(p, src / p.name)
    out = workdir / "out"
    summary = run_curate(str(src), str(out), load_config("default", list(OVERRIDES)), show_progress=False)
    assert summary.ok
    return fingerprint(out)


def cases() -> dict[str, list[Path]]:
    media = REPO.parent / "shared" / "media"
    return {
        "sample": sorted((REPO / "tests" / "data").glob("*.mp4")),
        "shared_subset": [media / n for n in SHARED_SUBSET],
    }


def main() -> None:
    GOLDEN.mkdir(parents=True, exist_ok=True)
    only = set(sys.argv[1:])
    for name, inputs in cases().items():
        if only and name not in only:
            continue
        with tempfile.TemporaryDirectory() as tmp:
            fp = curate_fingerprint(inputs, Path(tmp))
        (GOLDEN / f"{name}.json").write_text(json.dumps(fp, indent=1, sort_keys=True) + "\n")
        print(name, len(fp["clips"]), "clips", len(fp["rejects"]), "rejects")


if __name__ == "__main__":
    main()
