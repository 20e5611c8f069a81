"""Speaker activity (pyannote/segmentation in numpy) on clips the real cutter makes: its cost per
audio-second on ONE core, and how its voice activity agrees with Silero VAD's frame by frame.
Writes JSON (not a test).

Clips: ``cut_source`` (the job's probe + cutter, default profile) of the shared talking clips, the
music clip and the silent clip. Per clip, both readings go onto one 10 ms grid:
  silero   Silero VAD v5 probabilities -> speech segments with the stage's own rules (VadConfig)
  speaker  the segmentation model's any-speaker activity (SpeakerActivity.speech, hysteresis
           onset/offset from DiarizationConfig)
and we report agreement (share of 10 ms frames where both say the same), Cohen's kappa, and the
share of frames where only one of them hears speech. Cost: CPU seconds (process time, so other
users of a shared machine inflate it less than wall time), best of ``repeats``, one thread.

    python benchmarks/speaker_activity.py --out benchmarks/results/speaker_activity.json
"""

from __future__ import annotations

import os
import sys

for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ[var] = "1"

import json  # noqa: E402
import platform  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import pyarrow.compute as pc  # noqa: E402
import typer  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from humo_data.audio.config import AudioConfig  # noqa: E402
from humo_data.audio.diarization import build_diarizer  # noqa: E402
from humo_data.audio.stage import clip_audio  # noqa: E402
from humo_data.audio.vad import SileroVad, speech_segments  # noqa: E402

FILES = (
    "sadtalker_WDA_AlexandriaOcasioCortez_000.mp4",
    "latentsync_demo1_video.mp4",
    "latentsync_demo3_video.mp4",
    "liveportrait_d10.mp4",  # lip-sync to music
    "liveportrait_d19.mp4",  # digital silence
)
GRID = 0.01  # seconds


def pin_one_core() -> int:
    cpu = sorted(os.sched_getaffinity(0))[0]
    os.sched_setaffinity(0, {cpu})
    return cpu


def clip_waves(media: Path) -> list[tuple[str, float, np.ndarray]]:
    """(file, clip start s, 16 kHz clip audio) of every live clip the cutter makes."""
    from humo_data.config import load_config
    from humo_data.jobs.plan import cut_source

    cfg = load_config("default")
    out = []
    for name in FILES:
        if not (media / name).exists():
            continue
        table = cut_source(str(media / name), cfg)
        live = table.filter(pc.equal(table.column("_kind"), "clip"))
        live = live.filter(live.column("_reject_reason").is_null())
        for row in live.to_pylist():
            clip = clip_audio(row, 16000)
            if clip.wave is not None and len(clip.wave):
                out.append((name, float(row["start_time"]), clip.wave))
    return out


def on_grid(segments: list[tuple[float, float]], duration: float) -> np.ndarray:
    t = (np.arange(int(duration / GRID)) + 0.5) * GRID
    mask = np.zeros(len(t), bool)
    for s, e in segments:
        mask |= (t >= s) & (t < e)
    return mask


def model_grid(act, duration: float) -> np.ndarray:
    """The model's per-frame speech (frames ``frame_seconds`` apart, centred) on the 10 ms grid."""
    t = (np.arange(int(duration / GRID)) + 0.5) * GRID
    if not len(act.speech):
        return np.zeros(len(t), bool)
    idx = np.clip(np.rint((t - act.first_time) / act.frame_seconds).astype(int), 0, len(act.speech) - 1)
    return act.speech[idx]


def kappa(a: np.ndarray, b: np.ndarray) -> float | None:
    po = float((a == b).mean())
    pe = float(a.mean() * b.mean() + (1 - a.mean()) * (1 - b.mean()))
    return None if pe >= 1 else (po - pe) / (1 - pe)


def main(
    media: Path = typer.Option(REPO.parent / "shared" / "media", help="Folder with the shared test media."),
    out: Path = typer.Option(REPO / "benchmarks" / "results" / "speaker_activity.json", help="JSON output."),
    repeats: int = typer.Option(3, help="Timed repeats (best is kept)."),
) -> None:
    cpu = pin_one_core()
    cfg = AudioConfig()
    clips = clip_waves(media)
    waves = [w for _, _, w in clips]
    seconds = float(sum(len(w) for w in waves) / 16000)
    diarizer = build_diarizer(cfg.diarization)
    vad = SileroVad(cfg.vad)

    times, vad_times = [], []
    for _ in range(repeats):
        start = time.process_time()
        acts = diarizer.analyse(waves)
        times.append(time.process_time() - start)
        start = time.process_time()
        probs = vad.probabilities(waves)
        vad_times.append(time.process_time() - start)

    per_clip, all_s, all_m = [], [], []
    for (name, start, wave), act, p in zip(clips, acts, probs, strict=True):
        duration = len(wave) / 16000
        s = on_grid(speech_segments(p, cfg.vad, duration), duration)
        m = model_grid(act, duration)
        all_s.append(s)
        all_m.append(m)
        per_clip.append({
            "file": name, "start": start, "seconds": round(duration, 3),
            "speaker_count": act.speaker_count, "overlap_ratio": act.overlap_ratio,
            "turns": len(act.turns), "silero_speech": round(float(s.mean()), 3),
            "speaker_speech": round(float(m.mean()), 3), "agreement": round(float((s == m).mean()), 3),
        })  # fmt: skip
    s, m = np.concatenate(all_s), np.concatenate(all_m)
    talking = [c for c in per_clip if c["file"].startswith(("sadtalker", "latentsync"))]
    payload = {
        "what": "pyannote/segmentation (whisperx's checkpoint) in numpy: cost per audio-second on one core, "
        "and per-frame (10 ms) voice-activity agreement with Silero VAD on clips the real cutter makes",
        "backend": diarizer.backend_name,
        "model": diarizer.model_path(),
        "settings": cfg.diarization.model_dump(),
        "machine": {
            "cpu": platform.processor() or platform.machine(),
            "pinned_cpu": cpu,
            "python": platform.python_version(),
            "load_average_at_end": os.getloadavg(),  # shared machine: others' load inflates the numbers
        },
        "clips": len(clips),
        "audio_seconds": seconds,
        "speaker_activity_cpu_seconds": min(times),
        "speaker_activity_cpu_s_per_audio_s": min(times) / seconds,
        "silero_vad_cpu_s_per_audio_s": min(vad_times) / seconds,
        "agreement_all": {
            "frames": int(len(s)),
            "agreement": float((s == m).mean()),
            "kappa": kappa(s, m),
            "only_silero": float((s & ~m).mean()),
            "only_speaker_model": float((m & ~s).mean()),
        },
        "agreement_talking_clips": float(np.mean([c["agreement"] for c in talking])) if talking else None,
        "per_clip": per_clip,
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(payload, indent=2, default=float) + "\n")
    print(
        json.dumps(
            {k: v for k, v in payload.items() if k not in ("per_clip", "settings")}, indent=2, default=float
        )
    )
    for c in per_clip:
        print(c)


if __name__ == "__main__":
    typer.run(main)
