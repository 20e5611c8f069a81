"""Triplet columns the trainer reads, picked from the versioned schema (never re-declared).

Each name is looked up in ``humo_data.schema.triplet_schema()`` at import, so a schema rename
fails here, loudly, instead of as a KeyError deep in a DataLoader worker.
"""

from __future__ import annotations

from humo_data.schema import triplet_schema


def _col(name: str) -> str:
    if name not in triplet_schema().names:
        raise RuntimeError(
            f"trainer expects column {name!r}, absent from triplet schema {triplet_schema().names}"
        )
    return name


CLIP_ID = _col("clip_id")
VIDEO = _col("video")
VIDEO_URI = _col("video_uri")
FPS = _col("fps")
NUM_FRAMES = _col("num_frames")
WIDTH = _col("width")
HEIGHT = _col("height")
HAS_AUDIO = _col("has_audio")
AUDIO = _col("audio")
AUDIO_FORMAT = _col("audio_format")
CAPTION = _col("caption")
REFERENCES = _col("reference_images")  # v1 shards: "references", renamed on read
FACE_TRACK = _col("face_track")
STAGE1 = _col("stage1")
STAGE2 = _col("stage2")

# Subfields of the struct columns, checked against the schema too.
_ref_type = triplet_schema().field(REFERENCES).type.value_type
_track_type = triplet_schema().field(FACE_TRACK).type
REF_IMAGE = _ref_type.field("image").name
TRACK_MEAN_BOX = _track_type.field("mean_box").name

# What the loader reads from every shard: the media and the few fields that shape a sample.
REQUIRED = (CLIP_ID, VIDEO, FPS, NUM_FRAMES, WIDTH, HEIGHT, HAS_AUDIO, AUDIO, AUDIO_FORMAT, CAPTION)
OPTIONAL = (VIDEO_URI, REFERENCES, FACE_TRACK, STAGE1, STAGE2)
