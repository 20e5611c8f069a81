"""Word error rate of the configured ASR backend on speech with known words, written as JSON (not a
test). Record the figure in ``audio.asr.measured_wer`` (it decides whether the backend's text is a
``transcript`` or an ``asr_hypothesis``).

Speech: espeak-ng (``apt-get install -y espeak-ng``) reading 20 Harvard sentences in 3 voices
(humo_data/audio/asr/wer.py), each decoded as the audio stage does (Silero VAD segments, then the
recogniser). Clean synthetic speech: a floor for what real recordings give.

    python benchmarks/asr_wer.py                                   # the default profile (pocketsphinx-en-us)
    python benchmarks/asr_wer.py --config gpu --set audio.asr.device=cpu --out benchmarks/results/asr_wer_gpu.json
"""

from __future__ import annotations

import json
import platform
import sys
import time
from pathlib import Path

import typer

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from humo_data.audio.asr import build_asr  # noqa: E402
from humo_data.audio.asr.wer import VOICES, corpus_wer, espeak_sentences, measure_wer  # noqa: E402
from humo_data.audio.vad import SileroVad  # noqa: E402
from humo_data.config import load_config  # noqa: E402


def main(
    config: str = typer.Option("default", help="Profile whose audio.asr settings are measured."),
    set_: list[str] = typer.Option([], "--set", help="Overrides, section.key=value."),
    out: Path = typer.Option(REPO / "benchmarks" / "results" / "asr_wer.json", help="JSON output."),
) -> None:
    cfg = load_config(config, list(set_))
    asr_cfg = cfg.audio.asr
    samples = espeak_sentences()
    start = time.perf_counter()
    wer, hyps = measure_wer(build_asr(asr_cfg), SileroVad(cfg.audio.vad), samples, cfg.audio.vad)
    seconds = time.perf_counter() - start
    per_voice = {
        v: corpus_wer(
            [s.text for s in samples if s.voice == v],
            [h for s, h in zip(samples, hyps, strict=True) if s.voice == v],
        )
        for v in VOICES
    }
    payload = {
        "what": "corpus word error rate on espeak-ng Harvard sentences (known words), decoded as the audio stage does",
        "backend": asr_cfg.backend,
        "model": asr_cfg.model_dir,
        "sentences": len(samples),
        "wer": wer,
        "wer_per_voice": per_voice,
        "recorded_in_config": asr_cfg.recorded_wer(),
        "max_wer": asr_cfg.max_wer,
        "text_goes_to": "transcript" if wer <= asr_cfg.max_wer else "asr_hypothesis",
        "decode_seconds": seconds,
        "machine": {"cpu": platform.processor() or platform.machine(), "python": platform.python_version()},
        "examples": [
            {"voice": s.voice, "said": s.text, "heard": h}
            for s, h in list(zip(samples, hyps, strict=True))[::10]
        ],
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(payload, indent=2) + "\n")
    print(json.dumps({k: v for k, v in payload.items() if k != "examples"}, indent=2))


if __name__ == "__main__":
    typer.run(main)
