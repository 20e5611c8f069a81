"""faster-whisper (CTranslate2) from a local model directory: transcript, language, word times
and Whisper's own confidence figures (avg log-prob, no-speech probability, compression ratio),
aggregated per clip with each segment weighted by its duration."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from humo_data.audio.asr.base import ASR_BACKENDS, AsrBackend, AsrResult, Word, compression_ratio
from humo_data.audio.config import AsrConfig
from humo_data.devices import resolve_device

#: CTranslate2 compute types a CPU runs (a GPU profile's float16 does not)
CPU_COMPUTE_TYPES = ("int8", "int8_float32", "float32", "default", "auto")


def _ctranslate2_sees_gpu() -> bool:
    import ctranslate2

    return ctranslate2.get_cuda_device_count() > 0


def whisper_device(device: str, compute_type: str) -> tuple[str, str]:
    """The CTranslate2 device and compute type: a CUDA request without a GPU runs on the CPU, in
    float32 where the asked-for type (float16, bfloat16) has no CPU kernels."""
    resolved = resolve_device(device, "audio.asr (faster-whisper)", _ctranslate2_sees_gpu, "CTranslate2")
    if resolved == "cpu" and device != "cpu" and compute_type not in CPU_COMPUTE_TYPES:
        compute_type = "float32"
    return resolved, compute_type


@ASR_BACKENDS.register("faster-whisper")
class FasterWhisperAsr(AsrBackend):
    def __init__(self, config: AsrConfig):
        super().__init__(config)
        if not config.model_dir:
            raise ValueError(
                "audio.asr.backend=faster-whisper needs audio.asr.model_dir (a CTranslate2 directory)"
            )
        path = Path(config.model_dir)
        missing = [f for f in ("model.bin", "tokenizer.json") if not (path / f).exists()]
        if missing:
            # without tokenizer.json faster-whisper would try the model hub
            raise FileNotFoundError(
                f"{path} lacks {missing}: convert with ctranslate2 copying tokenizer.json"
            )
        try:
            from faster_whisper import WhisperModel
        except ImportError as err:  # pragma: no cover - the models extra
            raise ImportError("faster-whisper backend: pip install 'humo-data[models]'") from err
        device, compute_type = whisper_device(config.device, config.compute_type)
        self._model = WhisperModel(
            str(path), device=device, compute_type=compute_type, cpu_threads=config.cpu_threads
        )

    def transcribe(
        self, wave: np.ndarray, segments: Sequence[tuple[float, float]] | None = None
    ) -> AsrResult:
        duration = len(wave) / 16000
        kwargs = {}
        if self.config.max_new_tokens:
            kwargs["max_new_tokens"] = self.config.max_new_tokens
        segments, info = self._model.transcribe(
            np.ascontiguousarray(wave, np.float32),
            language=self.config.language,
            beam_size=self.config.beam_size,
            temperature=list(self.config.temperatures),
            word_timestamps=self.config.word_timestamps,
            condition_on_previous_text=False,
            vad_filter=False,
            **kwargs,
        )
        segments = list(segments)
        text = " ".join(s.text.strip() for s in segments).strip()
        words: list[Word] = []
        weights, logprob, nospeech = [], [], []
        for s in segments:
            weights.append(max(min(s.end, duration) - min(s.start, duration), 0.01))
            logprob.append(s.avg_logprob)
            nospeech.append(s.no_speech_prob)
            for w in s.words or []:
                start, end = min(float(w.start), duration), min(float(w.end), duration)
                words.append(Word(w.word.strip(), start, end, float(w.probability)))
        avg = lambda v: float(np.average(v, weights=weights)) if v else None  # noqa: E731
        return AsrResult(
            transcript=text,
            language=info.language,
            language_probability=float(info.language_probability),
            avg_logprob=avg(logprob),
            no_speech_prob=avg(nospeech),
            compression_ratio=compression_ratio(text),
            words=words,
        )
