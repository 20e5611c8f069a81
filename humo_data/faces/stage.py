"""The face stage: detect, filter, track and describe faces on each clip's sampled frames.

Per live clip it writes ``face_count`` (most kept faces in one sampled frame), ``people_count``
(kept tracks), ``face_track`` (the main track: largest and most present, boxes in encoded-clip
pixels), ``face_backend`` and the ``_features_faces`` struct (every detection with its embedding,
track mean embeddings, and head-and-shoulders crops with a context descriptor for the identity pass).

Rejects: ``no_face`` (nothing detected), ``face_too_small`` (faces, none big enough: sizes are
judged in stored-clip and source pixels, see FacesConfig), ``face_cut_by_border`` (big enough, but
eyes/nose/mouth outside the picture). Several people stay.

Flow per batch: decode every sampled frame once, detect on all of them in one backend call, filter,
link into IoU fragments, embed a few detections per fragment in one batched call, merge fragments by
embedding, then crops and context descriptors (one batched call).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa

from humo_data.faces import geometry, tracks
from humo_data.faces.backends import FACE_BACKENDS, Face, FaceBackend, load_backend
from humo_data.faces.config import FacesConfig
from humo_data.faces.context import ContextBackend, load_context
from humo_data.faces.crops import head_and_shoulders
from humo_data.media.frames import SampledFrame, decode_frames, encode_image
from humo_data.stage import Stage

NO_FACE, TOO_SMALL, CUT = "no_face", "face_too_small", "face_cut_by_border"


@dataclass
class ClipFaces:
    """Working state of one clip between the batched backend calls."""

    row: dict[str, Any]
    frames: list[SampledFrame]
    faces: list[list[Face]]
    pictures: list[np.ndarray] = field(default_factory=list)  # per frame: picture box (frame px)
    scales: list[geometry.FrameScale] = field(default_factory=list)  # per frame: to stored / source px
    status: list[list[str]] = field(default_factory=list)
    kept: list[list[int]] = field(default_factory=list)  # per frame: indices into faces[f] that were kept
    frags: list[list[tracks.Ref]] = field(default_factory=list)  # refs into kept (frame, kept index)
    groups: list[list[tracks.Ref]] = field(default_factory=list)  # tracks, main first
    error: str | None = None

    def face(self, ref: tracks.Ref) -> Face:
        f, k = ref
        return self.faces[f][self.kept[f][k]]


class FaceStage(Stage[FacesConfig]):
    name = "faces"
    inputs = ("_frames", "_motion", "width", "height", "source_width", "source_height", "shot_index",
              "start_time", "end_time")  # fmt: skip
    #: the quality stage's content region (letterbox bars cropped), when it ran
    optional_inputs = ("quality_border",)
    outputs = ("face_count", "people_count", "face_track", "face_backend", "_features_faces")
    actor = True

    backend: FaceBackend
    context: ContextBackend

    def setup(self) -> None:
        self.backend = load_backend(self.config)
        self.backend.setup()
        self.context = load_context(self.config)
        self.context.setup()

    def provenance(self) -> dict[str, Any]:
        info: dict[str, Any] = {
            "backend": self.config.backend,
            "context_backend": self.config.context_backend,
        }
        if self._ready:
            info.update(self.backend.provenance())
        return info

    def weights(self) -> dict[str, str | None]:
        cfg = self.config
        out = FACE_BACKENDS.get(cfg.backend).weights(cfg)
        if cfg.context_backend == "open_clip":
            out["context_weights"] = cfg.context_weights
        return out

    # --- batch flow -----------------------------------------------------------------------------
    def transform(self, live: pa.Table) -> dict[str, list]:
        rows = live.to_pylist()
        clips = [self._decode(r) for r in rows]
        images = [fr.rgb for c in clips for fr in c.frames]
        min_sides = [
            geometry.smallest_kept_side(pic, scale, self.config)
            for c in clips
            for pic, scale in zip(c.pictures, c.scales, strict=True)
        ]
        found = self.backend.detect(images, min_sides) if images else []
        i = 0
        for c in clips:
            c.faces = found[i : i + len(c.frames)]
            i += len(c.frames)
            self._filter_and_link(c)
        self._embed(clips)
        results = [self._finish(c) for c in clips]
        self._add_crops(clips, results)
        names = [*self.outputs, "_reject_reason", "_reject_detail"]
        return {n: [r.get(n) for r in results] for n in names}

    def _decode(self, row: dict[str, Any]) -> ClipFaces:
        try:
            frames = decode_frames(row.get("_frames"))
        except (ValueError, KeyError, TypeError) as err:
            return ClipFaces(row=row, frames=[], faces=[], error=f"sampled frames unreadable: {err}")
        size = (row.get("width"), row.get("height"))
        source = (row.get("source_width"), row.get("source_height"))
        return ClipFaces(
            row=row,
            frames=frames,
            faces=[],
            pictures=[
                geometry.picture_box(fr.width, fr.height, row.get("quality_border"), size) for fr in frames
            ],
            scales=[geometry.frame_scale(fr.width, fr.height, size, source) for fr in frames],
            error=None if frames else "no sampled frames",
        )

    def _filter_and_link(self, c: ClipFaces) -> None:
        for faces, picture, scale in zip(c.faces, c.pictures, c.scales, strict=True):
            status = [geometry.classify(face, picture, scale, self.config, self.backend) for face in faces]
            c.status.append(status)
            c.kept.append([j for j, s in enumerate(status) if s == geometry.KEPT])
        boxes = [[c.faces[f][j].box for j in kept] for f, kept in enumerate(c.kept)]
        c.frags = tracks.fragments(boxes, self.config.track_iou)

    def _embed(self, clips: list[ClipFaces]) -> None:
        items: list[tuple[np.ndarray, Face]] = []
        for c in clips:
            for frag in c.frags:
                areas = {r: c.face(r).area for r in frag}
                for ref in tracks.pick_for_embedding(frag, areas, self.config.embeddings_per_track):
                    items.append((c.frames[ref[0]].rgb, c.face(ref)))
        if not items:
            return
        vectors = self.backend.embed(items)
        for (_, face), vec in zip(items, vectors, strict=True):
            face.embedding = np.asarray(vec, np.float32)

    # --- per clip -------------------------------------------------------------------------------
    def _track_distance(self) -> float:
        return self.config.track_distance or self.backend.match_distance

    def _mean(self, vectors: list[np.ndarray]) -> np.ndarray:
        mean = np.mean(np.stack(vectors), axis=0)
        if self.backend.backend_name != "dlib":  # unit-norm embedders: the mean goes back on the sphere
            mean = mean / max(float(np.linalg.norm(mean)), 1e-12)
        return mean.astype(np.float32)

    def _finish(self, c: ClipFaces) -> dict[str, Any]:
        out: dict[str, Any] = {"face_backend": self.backend.backend_name}
        frag_emb = [
            self._mean([c.face(r).embedding for r in fr if c.face(r).embedding is not None]) for fr in c.frags
        ]
        groups = tracks.merge(c.frags, frag_emb, self._track_distance()) if c.frags else []
        n_frames = max(1, len(c.frames))

        def weight(group: list[tracks.Ref]) -> float:  # size x presence: the sum of area fractions
            return sum(c.face(r).area / (c.frames[r[0]].width * c.frames[r[0]].height) for r in group)

        groups.sort(key=lambda g: (-weight(g), g[0]))
        track_of = {ref: t for t, g in enumerate(groups) for ref in g}
        embeddings = [
            self._mean([c.face(r).embedding for r in g if c.face(r).embedding is not None]) for g in groups
        ]
        c.groups = groups
        out["face_count"] = max((len(k) for k in c.kept), default=0)
        out["people_count"] = len(groups)
        if not groups:
            out.update(self._reject_reason(c))
        else:
            out["face_track"] = self._track_struct(c, groups[0], n_frames)
        out["_features_faces"] = {
            "shot_index": c.row.get("shot_index"),
            "start_time": c.row.get("start_time"),
            "end_time": c.row.get("end_time"),
            "backend": self.backend.backend_name,
            "context_backend": self.context.backend_name,
            "frames": [self._frame_struct(c, f, track_of) for f in range(len(c.frames))],
            "main_track": 0 if groups else None,
            "main_embedding": embeddings[0].tolist() if groups else None,
            "track_embeddings": [e.tolist() for e in embeddings],
            "crops": [],
            # the cutter's per-frame motion, carried for the identity pass's same-footage check
            "motion": c.row.get("_motion"),
        }
        return out

    def _frame_struct(self, c: ClipFaces, f: int, track_of: dict[tracks.Ref, int]) -> dict[str, Any]:
        fr = c.frames[f]
        kept_index = {j: k for k, j in enumerate(c.kept[f])}
        faces = []
        for j, face in enumerate(c.faces[f]):
            k = kept_index.get(j)
            faces.append({
                "box": [float(v) for v in face.box],
                "score": face.score,
                "landmarks": face.landmarks.reshape(-1).astype(float).tolist(),
                "embedding": None if face.embedding is None else face.embedding.tolist(),
                "track": track_of.get((f, k), -1) if k is not None else -1,
                "kept": k is not None,
            })  # fmt: skip
        return {"time": fr.time, "width": fr.width, "height": fr.height, "faces": faces}

    def _track_struct(self, c: ClipFaces, group: list[tracks.Ref], n_frames: int) -> dict[str, Any]:
        w, h = c.row.get("width"), c.row.get("height")
        boxes, times, sides, scores, yaws, eyes = [], [], [], [], [], []
        for f, k in group:
            fr, face = c.frames[f], c.face((f, k))
            sx, sy = (w / fr.width, h / fr.height) if w and h else (1.0, 1.0)
            boxes.append(geometry.scale_box(face.box, sx, sy))
            eye = geometry.eye_distance(face, self.backend)
            if eye is not None:
                eyes.append(eye * c.scales[f].stored)
            times.append(fr.time)
            sides.append(face.side)
            scores.append(face.score)
            yaws.append(abs(geometry.yaw_degrees(face, self.backend)))
        return {
            "track_id": 0,
            "num_frames": len(group),
            "presence": len(group) / n_frames,
            "mean_box": np.mean(np.array(boxes), axis=0).tolist(),
            "times": times,
            "boxes": boxes,
            "min_size_px": float(min(sides)),
            "eye_distance_px": float(np.median(eyes)) if eyes else None,
            "mean_score": float(np.mean(scores)),
            "yaw": float(np.mean(yaws)),
        }

    def _reject_reason(self, c: ClipFaces) -> dict[str, str]:
        n = len(c.frames)
        if c.error:
            return {"_reject_reason": NO_FACE, "_reject_detail": f"no_face: {c.error}"}
        seen = [(f, j) for f, st in enumerate(c.status) for j in range(len(st))]
        if not seen:
            return {
                "_reject_reason": NO_FACE,
                "_reject_detail": f"no_face: 0 detections on {n} sampled frames",
            }
        cut = [(f, j) for f, j in seen if c.status[f][j] == geometry.CUT]
        if cut:
            return {
                "_reject_reason": CUT,
                "_reject_detail": f"face_cut_by_border: {len(cut)} of {len(seen)} detections are big enough "
                f"but have eyes/nose/mouth outside the picture (margin {self.config.border_margin:.2f})",
            }
        return {"_reject_reason": TOO_SMALL, "_reject_detail": self._too_small_detail(c, seen)}

    def _too_small_detail(self, c: ClipFaces, seen: list[tracks.Ref]) -> str:
        """The largest face in every measure the filter uses, with each minimum."""
        cfg = self.config
        sizes = [geometry.face_size(c.faces[f][j], c.pictures[f], c.scales[f]) for f, j in seen]
        big = max(sizes, key=lambda z: z.stored_px)
        parts = [f"largest face {big.stored_px:.0f} px in the stored clip (min {cfg.min_face_px:.0f})"]
        if big.source_px is None:
            parts.append("source size unknown")
        else:
            parts.append(f"{big.source_px:.0f} px in the source (min {cfg.min_face_source_px:.0f})")
        if cfg.min_face_area > 0:
            share = max(z.picture_share for z in sizes)
            parts.append(f"{100 * share:.1f}% of the picture (min {100 * cfg.min_face_area:.1f}%)")
        return "face_too_small: " + ", ".join(parts)

    # --- crops ----------------------------------------------------------------------------------
    def _add_crops(self, clips: list[ClipFaces], results: list[dict[str, Any]]) -> None:
        cfg = self.config
        jobs: list[tuple[int, int, tracks.Ref]] = []  # (clip, track, ref)
        for ci, c in enumerate(clips):
            if results[ci].get("_reject_reason"):
                continue
            for t, g in enumerate(c.groups):
                n = cfg.crops_main if t == 0 else cfg.crops_other
                if n <= 0:
                    continue
                # embedded detections first (a crop with its own embedding is checked image by image
                # in the identity pass), then the rest; the largest, spread in time
                embedded = [r for r in g if c.face(r).embedding is not None]
                areas = {r: c.face(r).area * max(c.face(r).score, 1e-3) for r in g}
                picks = tracks.pick_for_embedding(embedded, areas, n)
                if len(picks) < n:
                    rest = [r for r in g if r not in picks]
                    picks += tracks.pick_for_embedding(rest, areas, n - len(picks))
                jobs.extend((ci, t, ref) for ref in sorted(picks))
        if not jobs:
            return
        contexts = self.context.describe(
            [
                (clips[ci].frames[r[0]].rgb, self.context.face_box(clips[ci].face(r), self.backend))
                for ci, _, r in jobs
            ]
        )
        for (ci, t, ref), ctx in zip(jobs, contexts, strict=True):
            c = clips[ci]
            fr, face = c.frames[ref[0]], c.face(ref)
            crop, box = head_and_shoulders(
                fr.rgb, face.box, cfg.crop_scale, cfg.crop_shift, cfg.crop_max_side
            )
            results[ci]["_features_faces"]["crops"].append({
                "track": t,
                "time": fr.time,
                "image": encode_image(crop, cfg.crop_format, cfg.crop_quality),
                "box": box,
                "yaw": geometry.yaw_degrees(face, self.backend),
                "context": ctx.tolist(),
                "embedding": None if face.embedding is None else face.embedding.tolist(),
            })  # fmt: skip
