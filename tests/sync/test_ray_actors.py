"""AudioStage and SyncStage as Ray Data actor pools (the job's path), on two clips the pipeline cut."""

import pytest

from tests.shared_media import needs_media
from tests.sync.pipeline_rows import TALKING_SOURCES


@needs_media
@pytest.mark.slow
def test_audio_then_sync_as_actor_pools(pipeline):
    ray = pytest.importorskip("ray")
    from humo_data.audio.config import AudioConfig
    from humo_data.audio.stage import AudioStage
    from humo_data.ray_compute import map_stage
    from humo_data.stage import rows_to_table
    from humo_data.sync.config import SyncConfig
    from humo_data.sync.stage import SyncStage

    talking = pipeline.rows(TALKING_SOURCES[0], 0, 10.0)
    silent = pipeline.rows("liveportrait_d19.mp4", 0, 10.0)
    table = rows_to_table(talking[:1] + silent[:1])
    ray.init(num_cpus=2, include_dashboard=False, ignore_reinit_error=True, logging_level="ERROR")
    try:
        ds = ray.data.from_arrow(table)
        ds = map_stage(ds, AudioStage(AudioConfig()))
        ds = map_stage(ds, SyncStage(SyncConfig()))
        rows = sorted(ds.take_all(), key=lambda r: r["source_uri"])
    finally:
        ray.shutdown()
    silent, talking = rows  # liveportrait_d19 < sadtalker
    assert talking["speech_ratio"] > 0.6 and talking["sync_backend"] == "landmark-envelope-xcorr"
    assert talking["audio_gate"] is None and talking["sync_offset_frames"] is not None
    assert talking["sync_gate"] in (
        None,
        "low_sync_confidence",
    )  # the offline scorer gates what it cannot tell
    assert silent["audio_gate"] == "not_enough_speech"  # the sync stage scores it anyway (its own gate)
    assert silent["sync_backend"] == "landmark-envelope-xcorr" and silent["sync_gate"] == "no_speech"
    assert all(r["_reject_reason"] is None for r in rows)
    assert all(r["_audio_pcm"] is None for r in rows)  # consumed by the sync stage
