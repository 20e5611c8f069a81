"""The sync stage: find each clip's audio offset, gate stage 2 on it, and realign the audio.

Per live clip with audio (whatever the other gates found: turning sync on later, or loosening an
audio gate, must find every clip scored)::

    video MP4 ──decode once──> main face per frame (face_track + dlib landmarks)
    _audio_pcm (clip + margin; separated vocals when the audio stage made them) ─┐
                                              scorer (syncnet | landmark-envelope-xcorr)
    best offset, confidence, distance ──> gates: |offset| <= max_abs_offset_frames  (out_of_sync)
                                                 confidence >= backend minimum        (low_sync_confidence)
    passed and offset != 0 ──> audio shifted from the margin, FLAC + the MP4's AAC track rewritten,
                               audio_offset_frames = offset

A failed gate keeps the row (stage 1 needs no audio) with ``sync_gate`` (null = passed); the
stage writes it from its own reading every time it runs and never reads another gate; only
finish turns it into ``stage2``/``stage2_reason``. ``sync_verified`` is true only when a learned scorer (SyncNet) passed the
clip; with the offline scorer stage 2 means "offset corrected".
"""

from __future__ import annotations

from typing import Any

import pyarrow as pa

from humo_data.media.audio import decode_audio_bytes, pcm_from_bytes
from humo_data.schema import VOCALS_COLUMN
from humo_data.stage import Stage
from humo_data.sync.backends import SyncInput, build_scorer
from humo_data.sync.config import SyncConfig
from humo_data.sync.shift import shifted_media

SR = 16000


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
        from humo_data.sync.track import dlib_models

        self.scorer = build_scorer(self.config)
        dlib_models()  # both scorers follow the face with dlib: load its models once per actor
        if self.config.backend == "syncnet":
            import torch

            torch.set_num_threads(max(1, int(self.resources.num_cpus)))

    def provenance(self) -> dict[str, Any]:
        return {"backend": self.config.backend}

    def weights(self) -> dict[str, str | None]:
        return {"weights": self.config.weights} if self.config.backend == "syncnet" else {}

    def transform(self, live: pa.Table) -> dict[str, list]:
        rows = live.to_pylist()
        results = [self.process(r) for r in rows]
        names = list(dict.fromkeys([*self.outputs, *(k for r in results for k in r)]))
        # media pass through unless shifted; every other output is this run's own reading
        keep = ("audio", "video")
        return {
            n: [r.get(n, rows[i].get(n) if n in keep else None) for i, r in enumerate(results)] for n in names
        }

    def process(self, row: dict[str, Any]) -> dict[str, Any]:
        cfg = self.config
        out: dict[str, Any] = {"sync_gate": None, "audio_offset_frames": row.get("audio_offset_frames")}
        fps = float(row.get("fps") or 25.0)
        seconds = (row.get("num_frames") or 0) / fps
        padded, margin = pcm_from_bytes(row.get("_audio_pcm")), float(row.get("_audio_margin") or 0.0)
        if not len(padded) and row.get("audio"):
            padded, margin = decode_audio_bytes(row["audio"], SR), 0.0  # rerun on a finished dataset
        if row.get("has_audio") is False or not len(padded) or not row.get("video"):
            out["sync_gate"] = "no_audio"
            return out
        vocals = pcm_from_bytes(row.get(VOCALS_COLUMN))
        clip = SyncInput(
            row["video"], row.get("face_track"), fps, seconds, vocals if len(vocals) else padded, margin
        )
        result = self.scorer.score(clip)
        out["sync_backend"] = self.scorer.backend_name
        if result.scores is None:
            out["sync_gate"] = result.reason
            return out
        s = result.scores
        out.update(sync_offset_frames=s.offset, sync_confidence=s.confidence, sync_distance=s.distance)
        in_range = abs(s.offset) <= cfg.max_abs_offset_frames
        confident = s.confidence >= self.scorer.min_confidence
        out["sync_verified"] = bool(self.scorer.learned and in_range and confident)
        gate = None if in_range and confident else ("out_of_sync" if not in_range else "low_sync_confidence")
        out["sync_gate"] = gate
        if gate is None and s.offset != 0:
            audio, video = shifted_media(
                padded, margin, seconds, s.offset, fps, row["video"], row.get("audio_format") or "flac", SR
            )
            out.update(
                audio=audio, video=video, audio_offset_frames=(row.get("audio_offset_frames") or 0) + s.offset
            )
        return out
