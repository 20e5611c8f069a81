"""The audio stage: speech activity, speech-to-background, vocal separation, transcript, speakers.

Per batch of live clips::

    _audio_pcm (clip + margin) ──> clip window ──> Silero VAD (one ONNX batch for all clips)
        │                                  └─> speech-to-background estimate, clipping
        └─ noisy/musical clips only ──> separator ──> VAD again on the vocals
    speaker segmentation (all clips with audio, one model batch) ──> count, overlap, turns
    speech segments + ratio ──> ASR on clips with speech (vocals where separated)

Nothing here rejects a clip: stage 2 is a subset of stage 1, so a clip that fails a gate keeps its
row and gets ``audio_gate`` (the first failed gate: no_audio, not_enough_speech,
several_speakers, audio_clipped, asr_low_logprob, asr_no_speech, asr_repetitive; null = passed).
ASR text is a ``transcript`` only from a backend whose measured word error rate is within
``asr.max_wer``; otherwise it is an ``asr_hypothesis`` and the asr_* gates ignore its figures.
The stage writes that column from its own measurements every time it runs (a rerun with looser
gates clears it); only finish turns it into ``stage2``/``stage2_reason``. The stored ``audio`` stays the original mix unless
``separation.store_separated`` is set.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa

from humo_data.audio.asr import AsrResult, build_asr
from humo_data.audio.config import AudioConfig
from humo_data.audio.diarization import build_diarizer
from humo_data.audio.levels import clipped_fraction, speech_to_background
from humo_data.audio.separation import build_separator
from humo_data.audio.vad import SileroVad, speech_ratio, speech_segments
from humo_data.media.audio import clip_window, decode_audio_bytes, pcm_from_bytes, pcm_to_bytes
from humo_data.media.encode import encode_audio
from humo_data.media.remux import replace_audio_track
from humo_data.schema import VOCALS_COLUMN
from humo_data.stage import Stage

VAD_NAME = "silero-vad-v5"
#: media the stage writes besides its measurements: with separation.store_separated the vocals
#: become the clip's audio (stored bytes, MP4 track, the sync stage's hand-off); the separated
#: vocals go to the sync stage (same framing as _audio_pcm)
MEDIA_OUTPUTS = ("audio", "video", "_audio_pcm", VOCALS_COLUMN)
MAX_CLIPPED_FRACTION = 0.01  # > 1% of samples at full scale: audibly distorted


@dataclass
class ClipAudio:
    """The audio of one live clip while the stage works on it."""

    wave: np.ndarray | None  # the clip window (original mix)
    padded: np.ndarray | None  # clip + margin (original mix)
    margin: float
    seconds: float
    vocals_padded: np.ndarray | None = None
    out: dict[str, Any] = field(default_factory=dict)

    @property
    def analysis(self) -> np.ndarray | None:
        """What VAD/ASR hear: the separated vocals when separation ran, else the mix."""
        if self.vocals_padded is not None:
            return clip_window(self.vocals_padded, self.margin, 16000, self.seconds)
        return self.wave


def clip_audio(row: dict[str, Any], sample_rate: int) -> ClipAudio:
    """The clip's audio from the cutter's hand-off (``_audio_pcm``), or the stored ``audio`` bytes
    when a stage is rerun on a finished dataset (no margin then)."""
    fps = row.get("fps") or 25.0
    seconds = (row.get("num_frames") or 0) / fps
    if not seconds and row.get("end_time") is not None and row.get("start_time") is not None:
        seconds = float(row["end_time"]) - float(row["start_time"])
    if row.get("has_audio") is False:
        return ClipAudio(None, None, 0.0, seconds)
    margin = float(row.get("_audio_margin") or 0.0)
    padded = pcm_from_bytes(row.get("_audio_pcm"))
    if not len(padded) and row.get("audio"):
        padded, margin = decode_audio_bytes(row["audio"], sample_rate), 0.0
    if not len(padded):
        return ClipAudio(None, None, margin, seconds)
    padded = np.nan_to_num(padded).astype(np.float32)
    if not seconds:
        seconds = max(len(padded) / sample_rate - 2 * margin, 0.0)
    return ClipAudio(clip_window(padded, margin, sample_rate, seconds), padded, margin, seconds)


class AudioStage(Stage[AudioConfig]):
    name = "audio"
    actor = True  # VAD session, ASR model and separator load once per actor
    inputs = (
        "_audio_pcm", "_audio_margin", "audio", "audio_format", "video", "has_audio", "fps", "num_frames",
        "start_time", "end_time",
    )  # fmt: skip
    #: people on screen (faces stage): more than max_speakers fails the speaker gate
    optional_inputs = ("people_count",)
    outputs = (
        "speech_ratio", "speech_segments", "transcript", "asr_hypothesis", "asr_backend", "asr_wer", "language",
        "language_probability",
        "asr_avg_logprob", "asr_no_speech_prob", "asr_compression_ratio", "asr_words", "speaker_count",
        "overlap_ratio", "speaker_turns", "speaker_backend", "separation_applied", "speech_to_background_db",
        "speech_to_background_db_after", "audio_clipped_fraction", "speech_backend", "audio_gate",
        *MEDIA_OUTPUTS,
    )  # fmt: skip

    def setup(self) -> None:
        cfg = self.config
        threads = max(1, int(self.resources.num_cpus))
        self.vad = SileroVad(cfg.vad, threads=threads)
        self.asr = build_asr(cfg.asr)
        self.separator = build_separator(cfg.separation)
        self.diarizer = build_diarizer(cfg.diarization, threads=threads)

    def provenance(self) -> dict[str, Any]:
        cfg = self.config
        parts = [VAD_NAME, cfg.asr.backend, cfg.separation.backend, cfg.diarization.backend]
        return {
            "backend": "+".join(p for p in parts if p != "none"),
            "asr": cfg.asr.backend,
            "separation": cfg.separation.backend,
            "diarization": cfg.diarization.backend,
        }

    def preflight(self) -> str | None:
        """The speaker model shipped in whisperx, when the config uses it: a missing whisperx
        fails here, at job start, with the command that installs it."""
        cfg = self.config.diarization
        if cfg.backend != "pyannote-segmentation" or cfg.model_path:
            return None
        from humo_data.audio.diarization.pyannote_numpy import whisperx_model_path

        return whisperx_model_path()

    def weights(self) -> dict[str, str | None]:
        from humo_data.audio.vad import packaged_model_path

        cfg = self.config
        speaker_model = cfg.diarization.model_path
        if cfg.diarization.backend == "pyannote-segmentation" and not speaker_model:
            try:
                speaker_model = self.preflight()
            except FileNotFoundError:  # `humo-data plan` shows it missing; the job refuses to start
                speaker_model = None
        return {
            "vad_model": cfg.vad.model_path or packaged_model_path(),
            "asr_model": cfg.asr.model_dir,
            "separation_model": cfg.separation.model_path,
            "diarization_model": speaker_model,
        }

    # ------------------------------------------------------------------------------------------
    def transform(self, live: pa.Table) -> dict[str, list]:
        cfg = self.config
        wanted = list(self.reads())
        if not cfg.separation.store_separated:
            wanted.remove("video")  # MBs per row, needed only to re-mux separated vocals
        rows = live.select(wanted).to_pylist()
        clips = [clip_audio(r, cfg.sample_rate) for r in rows]
        has = [i for i, c in enumerate(clips) if c.wave is not None and len(c.wave)]
        probs = dict(zip(has, self.vad.probabilities([clips[i].wave for i in has]), strict=True))
        thr = cfg.vad.threshold
        neg = cfg.vad.neg_threshold if cfg.vad.neg_threshold is not None else max(thr - 0.15, 0.01)

        separate = []
        for i in has:
            c = clips[i]
            s2b, background_dbfs = speech_to_background(c.wave, probs[i], thr, neg)
            c.out.update(speech_to_background_db=s2b, audio_clipped_fraction=clipped_fraction(c.wave))
            people = rows[i].get("people_count")
            already_failed = people is not None and people > cfg.max_speakers
            if (
                self.separator is not None
                and not already_failed  # separation costs the most with a real model: stage-2 candidates only
                and s2b is not None
                and s2b < cfg.separation.trigger_db
                and background_dbfs > cfg.separation.min_background_dbfs
            ):
                separate.append(i)
        for i in separate:
            c = clips[i]
            mix_probs = self.vad.probabilities([c.padded])[0]
            c.vocals_padded = self.separator.separate(c.padded, mix_probs)
        if separate:
            again = self.vad.probabilities([clips[i].analysis for i in separate])
            for i, p in zip(separate, again, strict=True):
                s2b_after, _ = speech_to_background(clips[i].analysis, p, thr, neg)
                # a learned separator can unmask speech the mix hid; an enhancer (spectral gating)
                # only removes background, and what it leaves of music can read as speech
                probs[i] = p if self.separator.reveals_speech else np.minimum(p, probs[i])
                clips[i].out.update(separation_applied=True, speech_to_background_db_after=s2b_after)

        if self.diarizer is not None and has:
            speakers = self.diarizer.analyse([clips[i].analysis for i in has])
            for i, act in zip(has, speakers, strict=True):
                clips[i].out.update(
                    speaker_count=act.speaker_count,
                    overlap_ratio=act.overlap_ratio,
                    speaker_turns=[{"speaker": k, "start": a, "end": b} for k, a, b in act.turns],
                    speaker_backend=self.diarizer.backend_name,
                )
        for i in has:
            self._speech(clips[i], probs[i], rows[i])
        results = [self._finish(c, r) for c, r in zip(clips, rows, strict=True)]
        out = {name: [res.get(name) for res in results] for name in self.outputs if name not in MEDIA_OUTPUTS}
        if cfg.separation.store_separated and separate:
            # the separated vocals become the clip's audio: stored bytes, MP4 track, and the hand-off
            # the sync stage shifts
            out["audio"] = [self._stored_audio(c, r) for c, r in zip(clips, rows, strict=True)]
            out["video"] = [self._stored_video(c, r) for c, r in zip(clips, rows, strict=True)]
            out["_audio_pcm"] = [
                pcm_to_bytes(c.vocals_padded) if c.vocals_padded is not None else r.get("_audio_pcm")
                for c, r in zip(clips, rows, strict=True)
            ]
        out[VOCALS_COLUMN] = [
            pcm_to_bytes(c.vocals_padded) if c.vocals_padded is not None else None for c in clips
        ]
        return out

    def _speech(self, clip: ClipAudio, probs: np.ndarray, row: dict[str, Any]) -> None:
        cfg = self.config
        segments = speech_segments(probs, cfg.vad, clip.seconds)
        ratio = speech_ratio(segments, clip.seconds)
        clip.out.update(speech_ratio=ratio, speech_segments=[list(s) for s in segments])
        clip.out.setdefault("separation_applied", False)
        speech_seconds = ratio * clip.seconds
        failed = self.signal_gate(clip.out, row, clip)
        if (
            self.asr is not None
            and speech_seconds >= cfg.asr.min_speech_seconds
            and not (failed and cfg.asr.skip_failed)
        ):
            clip.out.update(self._asr_columns(self.asr.transcribe(clip.analysis, segments)))

    def _asr_columns(self, res: AsrResult) -> dict[str, Any]:
        """The text goes to ``transcript`` only from a backend whose measured WER is within the
        ceiling; otherwise to ``asr_hypothesis`` (see AsrConfig.measured_wer)."""
        trusted = self.config.asr.trusted()
        return {
            "transcript": res.transcript if trusted else None,
            "asr_hypothesis": None if trusted else res.transcript,
            "asr_backend": self.config.asr.backend,
            "asr_wer": self.config.asr.recorded_wer(),
            "language": res.language,
            "language_probability": res.language_probability,
            "asr_avg_logprob": res.avg_logprob,
            "asr_no_speech_prob": res.no_speech_prob,
            "asr_compression_ratio": res.compression_ratio,
            "asr_words": [
                {"word": w.word, "start": w.start, "end": w.end, "probability": w.probability}
                for w in res.words
            ],
        }

    def _backend_name(self, clip: ClipAudio) -> str:
        cfg = self.config
        parts = [VAD_NAME]
        if cfg.asr.backend != "none":
            parts.append(cfg.asr.backend)
        if clip.out.get("separation_applied"):
            parts.append(cfg.separation.backend)
        return "+".join(parts)

    def _finish(self, clip: ClipAudio, row: dict[str, Any]) -> dict[str, Any]:
        out = dict(clip.out)
        if clip.wave is not None and len(clip.wave):
            out["speech_backend"] = self._backend_name(clip)
        out["audio_gate"] = self.gate(out, row, clip)
        return out

    def signal_gate(self, out: dict[str, Any], row: dict[str, Any], clip: ClipAudio) -> str | None:
        """The first stage-2 gate failed before ASR: no_audio, not_enough_speech, several_speakers,
        audio_clipped."""
        cfg = self.config
        if clip.wave is None or not len(clip.wave):
            return "no_audio"
        if (out.get("speech_ratio") or 0.0) < cfg.min_speech_ratio:
            return "not_enough_speech"
        people, speakers = row.get("people_count"), out.get("speaker_count")
        if (people is not None and people > cfg.max_speakers) or (
            speakers is not None and speakers > cfg.max_speakers
        ):
            return "several_speakers"
        if (out.get("audio_clipped_fraction") or 0.0) > MAX_CLIPPED_FRACTION:
            return "audio_clipped"
        return None

    def gate(self, out: dict[str, Any], row: dict[str, Any], clip: ClipAudio) -> str | None:
        """The first stage-2 gate this clip fails (None = passes the audio gates). The asr_* gates
        trust only a backend whose text is a transcript (asr_backend names it)."""
        asr = self.config.asr
        reason = self.signal_gate(out, row, clip)
        if reason or not asr.trusted():
            return reason
        lp, ns, cr = (
            out.get("asr_avg_logprob"),
            out.get("asr_no_speech_prob"),
            out.get("asr_compression_ratio"),
        )
        if asr.min_avg_logprob is not None and lp is not None and lp < asr.min_avg_logprob:
            return "asr_low_logprob"
        if asr.max_no_speech_prob is not None and ns is not None and ns > asr.max_no_speech_prob:
            return "asr_no_speech"
        if asr.max_compression_ratio is not None and cr is not None and cr > asr.max_compression_ratio:
            return "asr_repetitive"
        return None

    def _stored_audio(self, clip: ClipAudio, row: dict[str, Any]) -> bytes | None:
        if clip.vocals_padded is None:
            return row.get("audio")
        return encode_audio(clip.analysis, self.config.sample_rate, row.get("audio_format") or "flac")

    def _stored_video(self, clip: ClipAudio, row: dict[str, Any]) -> bytes | None:
        if clip.vocals_padded is None or not row.get("video"):
            return row.get("video")
        return replace_audio_track(row["video"], clip.analysis, self.config.sample_rate)
