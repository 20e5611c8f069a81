"""Real-time factor of each audio / sync step on ONE core, written as JSON (not a test).

Clips come from the real cutter (``cut_source``, 97-frame clips, the sync stage's 0.6 s audio
margin) and the real faces stage (``face_track``); the process is pinned to one CPU and every
library limited to one thread. RTF = processing seconds / audio seconds (below 1 = faster than
real time on one core). Steps:

  vad            Silero VAD (ONNX), all clips as one batch
  separation     the offline separator (spectral gating), forced on every clip
  asr            pocketsphinx-en-us on the VAD's speech segments
  audio_stage    AudioStage as configured by default (VAD, levels, separation where needed, ASR)
  sync_stage     SyncStage with the offline scorer (decode, dlib landmarks, offset curve, realign)
  offline_chain  audio_stage + sync_stage: the offline default's whole audio cost
  syncnet        SyncNet forward passes per second of video (random weights; CPU, for scale only)

    python benchmarks/audio_rtf.py --media ../shared/media --out benchmarks/results/audio.json
"""

from __future__ import annotations

import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import typer

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ[var] = "1"

from humo_data.audio.config import AudioConfig  # noqa: E402
from humo_data.audio.separation import build_separator  # noqa: E402
from humo_data.audio.stage import AudioStage, clip_audio  # noqa: E402
from humo_data.audio.vad import SileroVad, speech_segments  # noqa: E402
from humo_data.sync.config import SyncConfig  # noqa: E402
from humo_data.sync.stage import SyncStage  # noqa: E402

FILES = (
    "sadtalker_WDA_AlexandriaOcasioCortez_000.mp4",
    "latentsync_demo1_video.mp4",
    "latentsync_demo3_video.mp4",
    "liveportrait_d10.mp4",
    "liveportrait_d19.mp4",
)


def pin_one_core() -> int:
    cpu = sorted(os.sched_getaffinity(0))[0]
    os.sched_setaffinity(0, {cpu})
    return cpu


def clips_of(media: Path) -> pa.Table:
    """Live clip rows of the shared media, through the real cutter and faces stage."""
    from humo_data.config import load_config
    from humo_data.jobs.plan import cut_source

    cfg = load_config("default", ["sync.enabled=true", "faces.enabled=true"])
    tables = [cut_source(str(media / f), cfg) for f in FILES if (media / f).exists()]
    table = pa.concat_tables(tables, promote_options="default")
    live = table.filter(
        pc.and_(pc.equal(table.column("_kind"), "clip"), table.column("_reject_reason").is_null())
    )
    try:  # the faces stage's main track; a clip it would reject still gets timed (track or none)
        from humo_data.faces.stage import FaceStage

        tracks = FaceStage(cfg.faces)(live).column("face_track")
        live = live.set_column(live.schema.get_field_index("face_track"), "face_track", tracks)
    except ImportError:  # faces stage not there: the sync scorer detects faces itself
        pass
    return live


def timed(fn):
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start


def main(
    media: Path = typer.Option(REPO.parent / "shared" / "media", help="Folder with the shared test media."),
    out: Path = typer.Option(REPO / "benchmarks" / "results" / "audio.json", help="Where to write the JSON."),
    syncnet_frames: int = typer.Option(25, help="Video frames SyncNet embeds for its timing (0 = skip)."),
) -> None:
    cpu = pin_one_core()
    live = clips_of(media)
    audio_cfg, sync_cfg = AudioConfig(), SyncConfig()
    rows = live.to_pylist()
    clips = [clip_audio(r, audio_cfg.sample_rate) for r in rows]
    waves = [c.wave for c in clips if c.wave is not None]
    seconds = float(sum(len(w) for w in waves) / 16000)
    results: dict[str, dict] = {}

    vad = SileroVad(audio_cfg.vad)
    probs, t = timed(lambda: vad.probabilities(waves))
    results["vad"] = {"seconds": t, "rtf": t / seconds}

    sep = build_separator(audio_cfg.separation)
    _, t = timed(lambda: [sep.separate(c.padded, p) for c, p in zip(clips, probs, strict=True)])
    padded_seconds = sum(len(c.padded) for c in clips) / 16000
    results["separation"] = {"seconds": t, "rtf": t / padded_seconds, "backend": audio_cfg.separation.backend}

    from humo_data.audio.asr import build_asr

    asr = build_asr(audio_cfg.asr)
    segs = [speech_segments(p, audio_cfg.vad, len(w) / 16000) for p, w in zip(probs, waves, strict=True)]
    _, t = timed(lambda: [asr.transcribe(w, s) for w, s in zip(waves, segs, strict=True) if s])
    results["asr"] = {"seconds": t, "rtf": t / seconds, "backend": audio_cfg.asr.backend}

    audio_stage = AudioStage(audio_cfg)
    audio_stage.setup()
    after_audio, t_audio = timed(lambda: audio_stage(live))
    results["audio_stage"] = {"seconds": t_audio, "rtf": t_audio / seconds}

    sync_stage = SyncStage(sync_cfg)
    sync_stage.setup()
    synced, t_sync = timed(lambda: sync_stage(after_audio))
    results["sync_stage"] = {
        "seconds": t_sync,
        "rtf": t_sync / seconds,
        "backend": sync_cfg.backend,
    }
    results["offline_chain"] = {"seconds": t_audio + t_sync, "rtf": (t_audio + t_sync) / seconds}

    if syncnet_frames:
        try:
            import torch

            from humo_data.sync.syncnet import embed, mfcc_windows
            from humo_data.sync.syncnet_model import SyncNet

            torch.set_num_threads(1)
            model = SyncNet().eval()
            crops = np.random.default_rng(0).integers(
                0, 255, (syncnet_frames + 4, 224, 224, 3), dtype=np.uint8
            )
            mf = mfcc_windows(np.zeros(16000 * 2, np.float32), syncnet_frames)
            _, t = timed(lambda: embed(model, crops, mf, 20, "cpu"))
            video_seconds = syncnet_frames / 25.0
            results["syncnet"] = {
                "seconds": t,
                "rtf": t / video_seconds,
                "frames": syncnet_frames,
                "device": "cpu",
            }
        except ImportError:
            results["syncnet"] = {"skipped": "torch not installed"}

    summary = synced.select(
        ["source_uri", "speech_ratio", "audio_gate", "sync_gate", "sync_offset_frames", "sync_confidence"]
    ).to_pylist()
    payload = {
        "what": "real-time factor (processing s / audio s) of each audio/sync step on one CPU core",
        "machine": {
            "cpu": platform.processor() or platform.machine(),
            "pinned_cpu": cpu,
            "python": platform.python_version(),
            "load_average_at_end": os.getloadavg(),  # a shared machine: a loaded core inflates every RTF
        },
        "clips": len(rows),
        "audio_seconds": seconds,
        "results": results,
        "per_clip": [{**r, "source_uri": Path(r["source_uri"]).name} for r in summary],
        "goal": "offline VAD + ASR + sync faster than real time per core (offline_chain rtf < 1)",
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(payload, indent=2, default=float) + "\n")
    print(json.dumps(results, indent=2, default=float))


if __name__ == "__main__":
    typer.run(main)
