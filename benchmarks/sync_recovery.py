"""Shift recovery of the sync scorers on talking clips, written as JSON (not a test).

Each in-sync talking video is cut by the real cutter (with a wide audio margin) and its main face
found by the faces stage; each clip's audio is then delayed by k frames (k = +-2 .. +-10, the
stage's own 0.6 s margin re-cut from the wide one) and scored. A shift counts as recovered when
the offset moves by -k within one frame. Reported per backend and per clip length (HuMo's
97-frame clips and longer ones), with the raw offset each scorer reads on the unshifted clips:
on footage known to be in sync, its median is the offline scorer's lag bias
(``sync.xcorr_lag_bias_frames``).

    python benchmarks/sync_recovery.py --media ../shared/media [--syncnet-weights syncnet_v2.model]
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pyarrow.compute as pc
import typer

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from humo_data.media.audio import pcm_from_bytes  # noqa: E402
from humo_data.sync.backends import SyncInput, build_scorer  # noqa: E402
from humo_data.sync.config import SyncConfig  # noqa: E402
from humo_data.sync.scores import score_curve_offset  # noqa: E402
from humo_data.sync.track import mouth_opening, track_face  # noqa: E402
from humo_data.sync.xcorr import offset_curve  # noqa: E402

TALKING = (
    "sadtalker_WDA_AlexandriaOcasioCortez_000.mp4",
    "latentsync_demo1_video.mp4",
    "latentsync_demo3_video.mp4",
)
SHIFTS = (-10, -8, -6, -4, -3, -2, 2, 3, 4, 6, 8, 10)
SR, FPS, WIDE = 16000, 25.0, 1.0


def clips(media: Path, names: tuple[str, ...], max_seconds: float) -> list[dict]:
    from humo_data.config import load_config
    from humo_data.jobs.plan import cut_source

    cfg = load_config(
        "default",
        [
            "sync.enabled=true",
            f"sync.max_offset_frames={int(WIDE * FPS)}",
            f"clips.max_seconds={max_seconds}",
        ],
    )
    rows = []
    for name in names:
        if not (media / name).exists():
            continue
        t = cut_source(str(media / name), cfg)
        live = t.filter(pc.and_(pc.equal(t.column("_kind"), "clip"), t.column("_reject_reason").is_null()))
        try:
            from humo_data.faces.stage import FaceStage

            tracks = FaceStage(cfg.faces)(live).column("face_track")
            live = live.set_column(live.schema.get_field_index("face_track"), "face_track", tracks)
        except ImportError:
            pass
        rows += live.to_pylist()
    return rows


def shifted(padded: np.ndarray, k: int, margin: float) -> np.ndarray:
    """The stage's margin-padded audio (``margin`` s) of a clip whose audio is delayed by k frames,
    cut from the wide (``WIDE`` s) hand-off."""
    start = int(round((WIDE - margin) * SR)) - int(round(k * SR / FPS))
    n = len(padded) - 2 * int(round((WIDE - margin) * SR))
    out = np.zeros(n, np.float32)
    lo, hi = max(start, 0), min(start + n, len(padded))
    out[lo - start : hi - start] = padded[lo:hi]
    return out


def main(
    media: Path = typer.Option(REPO.parent / "shared" / "media", help="Folder with in-sync talking videos."),
    videos: list[str] = typer.Option(
        list(TALKING), help="File names in --media (footage known to be in sync)."
    ),
    syncnet_weights: Path | None = typer.Option(None, help="Also score with SyncNet (syncnet_v2 layout)."),
    out: Path = typer.Option(REPO / "benchmarks" / "results" / "sync_recovery.json"),
) -> None:
    cfg = SyncConfig()
    margin = cfg.max_offset_frames / FPS
    results: dict[str, dict] = {}
    for label, max_seconds in (("97_frames", 3.88), ("up_to_10s", 10.0)):
        rows = clips(media, tuple(videos), max_seconds)
        per_backend: dict[str, dict] = {}
        # offline scorer: the face is tracked once per clip, the curve recomputed per shift
        hits, total, hits_c, total_c, raw, detail = 0, 0, 0, 0, [], []
        for r in rows:
            track = track_face(r["video"], r["face_track"], FPS)
            if track.found_fraction < cfg.min_face_fraction:
                continue
            mouth, padded = mouth_opening(track.landmarks), pcm_from_bytes(r["_audio_pcm"])

            def offset(k: int, mouth=mouth, padded=padded):
                curve = offset_curve(
                    mouth,
                    shifted(padded, k, margin),
                    margin,
                    FPS,
                    cfg.max_offset_frames,
                    cfg.xcorr_bands,
                    cfg.xcorr_ridge,
                )
                return score_curve_offset(curve)

            base = offset(0)
            moves = [offset(k).offset - base.offset for k in SHIFTS]
            ok = sum(abs(m + k) <= 1 for m, k in zip(moves, SHIFTS, strict=True))
            hits, total = hits + ok, total + len(SHIFTS)
            confident = base.confidence >= cfg.min_confidence_xcorr
            if confident:
                hits_c, total_c = hits_c + ok, total_c + len(SHIFTS)
            raw.append(base.offset)
            detail.append({"clip": f"{Path(r['source_uri']).name}@{r['start_time']:.2f}", "raw_offset": base.offset,
                           "confidence": round(base.confidence, 3), "recovered": ok, "of": len(SHIFTS)})  # fmt: skip
        per_backend["landmark-envelope-xcorr"] = {
            "recovery_rate": hits / total if total else None, "recovered": hits, "trials": total,
            "recovery_rate_confident": hits_c / total_c if total_c else None, "trials_confident": total_c,
            "min_confidence": cfg.min_confidence_xcorr,
            "raw_offsets_unshifted": raw, "median_raw_offset": float(np.median(raw)) if raw else None,
            "clips": detail,
        }  # fmt: skip
        if syncnet_weights:
            scorer = build_scorer(SyncConfig(backend="syncnet", weights=str(syncnet_weights)))
            hits = total = 0
            for r in rows:
                padded = pcm_from_bytes(r["_audio_pcm"])
                seconds = r["num_frames"] / FPS

                def score(k: int, r=r, padded=padded, seconds=seconds, scorer=scorer):
                    res = scorer.score(
                        SyncInput(
                            r["video"], r["face_track"], FPS, seconds, shifted(padded, k, margin), margin
                        )
                    )
                    return res.scores.offset if res.scores else None

                base = score(0)
                if base is None:
                    continue
                for k in SHIFTS:
                    o = score(k)
                    hits += o is not None and abs(o - base + k) <= 1
                    total += 1
            per_backend["syncnet"] = {
                "recovery_rate": hits / total if total else None,
                "recovered": hits,
                "trials": total,
            }
        results[label] = {"clips": len(rows), "backends": per_backend}
    payload = {
        "what": "applied audio shifts recovered within +-1 frame",
        "shifts": SHIFTS,
        "videos": videos,
        "results": results,
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(payload, indent=2) + "\n")
    print(
        json.dumps(
            {k: {b: v["recovery_rate"] for b, v in r["backends"].items()} for k, r in results.items()},
            indent=2,
        )
    )


if __name__ == "__main__":
    typer.run(main)
