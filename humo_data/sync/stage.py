"""The sync stage: find each clip's audio offset, gate stage 2 on it, and realign the audio.

Per live clip with audio (whatever the other gates found: turning sync on later, or loosening an
audio gate, must find every clip scored)::

    _audio_pcm (clip + margin; separated vocals when the audio stage made them)
        └─ Silero VAD on the clip: speech ratio < min_speech_ratio ──> no_speech (nothing scored)
    video MP4 ──decode once──> main face per frame (face_track + dlib landmarks)
                                              scorer (syncnet | landmark-envelope-xcorr)
    best offset, confidence, distance ──> gates: a reading the scorer can trust       (low_sync_confidence:
                                                 confidence >= backend minimum,       too short, flat or
                                                 consistent across the clip)          inconsistent curve)
                                                 |offset| <= max_abs_offset_frames    (out_of_sync)
    passed and |offset| >= the scorer's min shift ──> audio shifted from the margin, FLAC + the MP4's
                               AAC track rewritten, audio_offset_frames = offset

No shift without evidence: music or silence (no_speech) and readings that are not confident
(low_sync_confidence) keep their audio as cut and are not stage 2. A confident reading within one
frame of 0 passes as cut; one from 2 frames up to the scorer's smallest move (the offline scorer's
``xcorr_min_shift_frames``: readings of in-sync speech spread over +-2 frames from speaker to
speaker) is ambiguous, so low_sync_confidence too: it is neither trusted as in sync nor moved.

A failed gate keeps the row (stage 1 needs no audio) with ``sync_gate`` (null = passed); the
stage writes it from its own reading every time it runs and never reads another gate; only
finish turns it into ``stage2``/``stage2_reason``. ``sync_verified`` is true only when SyncNet with
weights known to verify (humo_data.sync.verify) passed the clip; the manifest's provenance says
why it is or is not. With the offline scorer stage 2 means "offset corrected".
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa

from humo_data.audio.config import VadConfig
from humo_data.media.audio import decode_audio_bytes, pcm_from_bytes
from humo_data.media.vad import speech_ratio, speech_segments
from humo_data.schema import VOCALS_COLUMN
from humo_data.stage import Stage
from humo_data.sync.backends import SyncInput, build_scorer
from humo_data.sync.config import SyncConfig
from humo_data.sync.shift import shifted_media
from humo_data.sync.verify import Verifier, verifier_status

SR = 16000
VAD = VadConfig()  # Silero's published segment rules (the audio stage's defaults)


class SyncStage(Stage[SyncConfig]):
    name = "sync"
    actor = True  # SyncNet weights / dlib models load once per actor
    inputs = (
        "video", "audio", "audio_format", "has_audio", "fps", "num_frames", "audio_offset_frames",
        "_audio_pcm", "_audio_margin",
    )  # fmt: skip
    #: the faces stage's main track (else the scorer finds the face itself) and the audio stage's
    #: separated vocals (else the mix)
    optional_inputs = ("face_track", VOCALS_COLUMN)
    outputs = (
        "sync_confidence", "sync_distance", "sync_offset_frames", "sync_verified", "sync_backend",
        "audio_offset_frames", "sync_gate",
        "audio", "video",  # realigned by the offset when the clip passed the gates
    )  # fmt: skip
    consumes = ("_audio_pcm", VOCALS_COLUMN)

    def setup(self) -> None:
        from humo_data.media.vad import SileroVad
        from humo_data.sync.track import dlib_models

        self.scorer = build_scorer(self.config)
        self.vad = SileroVad(VAD)
        dlib_models()  # both scorers follow the face with dlib: load its models once per actor
        if self.config.backend == "syncnet":
            import torch

            torch.set_num_threads(max(1, int(self.resources.num_cpus)))

    @property
    def verifier(self) -> Verifier:
        if getattr(self, "_verifier", None) is None:
            self._verifier = verifier_status(self.config)
        return self._verifier

    def provenance(self) -> dict[str, Any]:
        v = self.verifier
        return {
            "backend": self.config.backend,
            "sync_verified_possible": v.verified,
            "sync_verified_why": v.why,
        }

    def weights(self) -> dict[str, str | None]:
        from humo_data.media.vad import packaged_model_path

        out: dict[str, str | None] = {"vad_model": packaged_model_path()}  # the no_speech gate
        if self.config.backend == "syncnet":
            out["weights"] = self.config.weights
        return out

    def transform(self, live: pa.Table) -> dict[str, list]:
        rows = live.to_pylist()
        clips = [self.clip_audio(r) for r in rows]
        speech = self.speech_ratios(clips)
        results = [self.process(r, c, sr) for r, c, sr in zip(rows, clips, speech, strict=True)]
        names = list(dict.fromkeys([*self.outputs, *(k for r in results for k in r)]))
        # media pass through unless shifted; every other output is this run's own reading
        keep = ("audio", "video")
        return {
            n: [r.get(n, rows[i].get(n) if n in keep else None) for i, r in enumerate(results)] for n in names
        }

    def clip_audio(self, row: dict[str, Any]) -> tuple[np.ndarray, np.ndarray, float]:
        """(the clip's margin-padded audio as cut, what the scorer reads: separated vocals when the
        audio stage made them, else the same; the margin in seconds)."""
        padded, margin = pcm_from_bytes(row.get("_audio_pcm")), float(row.get("_audio_margin") or 0.0)
        if not len(padded) and row.get("audio"):
            padded, margin = decode_audio_bytes(row["audio"], SR), 0.0  # rerun on a finished dataset
        vocals = pcm_from_bytes(row.get(VOCALS_COLUMN))
        return padded, vocals if len(vocals) else padded, margin

    def speech_ratios(self, clips: list[tuple[np.ndarray, np.ndarray, float]]) -> list[float]:
        """Silero VAD speech ratio of each clip's own window (margins left out), one ONNX batch."""
        windows = [heard[int(round(m * SR)) : len(heard) - int(round(m * SR))] for _, heard, m in clips]
        probs = self.vad.probabilities(windows)
        out = []
        for wave, p in zip(windows, probs, strict=True):
            seconds = len(wave) / SR
            out.append(speech_ratio(speech_segments(p, VAD, seconds), seconds) if len(wave) else 0.0)
        return out

    def process(
        self, row: dict[str, Any], audio: tuple[np.ndarray, np.ndarray, float], speech: float
    ) -> dict[str, Any]:
        cfg = self.config
        out: dict[str, Any] = {"sync_gate": None, "audio_offset_frames": row.get("audio_offset_frames")}
        fps = float(row.get("fps") or 25.0)
        seconds = (row.get("num_frames") or 0) / fps
        padded, heard, margin = audio
        if row.get("has_audio") is False or not len(padded) or not row.get("video"):
            out["sync_gate"] = "no_audio"
            return out
        out["sync_backend"] = self.scorer.backend_name
        if speech < cfg.min_speech_ratio:  # music, silence: no speech to align, nothing to move
            out["sync_gate"] = "no_speech"
            return out
        clip = SyncInput(row["video"], row.get("face_track"), fps, seconds, heard, margin)
        result = self.scorer.score(clip)
        if result.scores is None:
            out["sync_gate"] = result.reason
            return out
        s = result.scores
        out.update(sync_offset_frames=s.offset, sync_confidence=s.confidence, sync_distance=s.distance)
        confident = result.uncertain is None and s.confidence >= self.scorer.min_confidence
        in_range = abs(s.offset) <= cfg.max_abs_offset_frames
        # between "in sync within one frame" and the scorer's smallest move a reading is ambiguous:
        # in-sync speech with a speaker's lip-audio lag, or a small shift read short; neither left
        # as cut nor moved (a 4-frame shift read as 2 would otherwise reach stage 2 unmoved)
        ambiguous = 1 < abs(s.offset) < self.scorer.min_shift_frames
        gate = "low_sync_confidence" if not confident or ambiguous else None if in_range else "out_of_sync"
        out["sync_gate"] = gate
        out["sync_verified"] = bool(gate is None and self.scorer.learned and self.verifier.verified)
        if gate is None and abs(s.offset) >= self.scorer.min_shift_frames:
            audio, video = shifted_media(
                padded, margin, seconds, s.offset, fps, row["video"], row.get("audio_format") or "flac", SR
            )
            out.update(
                audio=audio, video=video, audio_offset_frames=(row.get("audio_offset_frames") or 0) + s.offset
            )
        return out
