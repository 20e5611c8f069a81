"""ClipCutStage without Ray: an audio track that ends early neither stalls nor loses clips."""

import numpy as np

from humo_data.clips.cutter import ClipCutStage, CutConfig
from humo_data.config import load_config
from humo_data.media.encode import decode_audio
from humo_data.media.ffmpeg import run_ffmpeg, safe_path
from humo_data.probe.stage import ProbeStage


def test_audio_ending_early_gives_zero_padded_clips(tmp_path):
    src = tmp_path / "short_audio.mp4"
    run_ffmpeg(["-f", "lavfi", "-i", "testsrc2=s=160x120:r=25:d=26", "-f", "lavfi", "-i",
                "sine=f=440:sample_rate=16000:d=3", "-c:v", "libx264", "-preset", "ultrafast", "-c:a", "aac",
                "-y", safe_path(src)])  # fmt: skip
    cfg = load_config("default", ["clips.max_seconds=4", "clips.min_seconds=2"])
    probe = ProbeStage(cfg.probe)
    row = next(
        iter(
            probe.run_rows([{"source_uri": str(src), "_source_size": src.stat().st_size, "_kind": "source"}])
        )
    )
    assert row.get("_reject_reason") is None
    out = list(ClipCutStage(CutConfig(shots=cfg.shots, clips=cfg.clips)).run_rows([row]))
    clips = [r for r in out if r["_kind"] == "clip" and r.get("_reject_reason") is None]
    assert out[-1]["_kind"] == "done" and out[-1]["_expected_units"] == [r["_unit"] for r in out[:-1]]
    # 26 s minus 2 x 0.12 s margins: six 97-frame clips (3.88 s) and a 2.48 s tail (>= 2 s, 61 frames)
    assert [c["num_frames"] for c in clips] == [97] * 6 + [61]
    first, last = (decode_audio(c["audio"])[0] for c in (clips[0], clips[-1]))
    assert np.abs(first).max() > 0.1  # the tone
    assert np.abs(last).max() == 0 and len(last) == round(clips[-1]["num_frames"] / 25 * 16000)


def test_encoder_auto_without_nvenc_cuts_the_same_clips_as_x264(tmp_path):
    """On a worker without NVENC (this machine), clips.encoder=auto is x264: same bytes, recorded."""
    src = tmp_path / "plain.mp4"
    run_ffmpeg(["-f", "lavfi", "-i", "testsrc2=s=160x120:r=25:d=5", "-c:v", "libx264", "-preset", "ultrafast",
                "-y", safe_path(src)])  # fmt: skip
    cuts = {}
    for encoder in ("x264", "auto"):
        cfg = load_config("default", ["clips.max_seconds=4", f"clips.encoder={encoder}"])
        row = next(iter(ProbeStage(cfg.probe.model_copy(update={"require_audio": False})).run_rows(
            [{"source_uri": str(src), "_source_size": src.stat().st_size, "_kind": "source"}])))  # fmt: skip
        out = ClipCutStage(CutConfig(shots=cfg.shots, clips=cfg.clips)).run_rows([row])
        cuts[encoder] = [r for r in out if r["_kind"] == "clip" and r.get("_reject_reason") is None]
    assert cuts["x264"] and [c["video"] for c in cuts["auto"]] == [c["video"] for c in cuts["x264"]]
    assert {c["video_encoder"] for c in cuts["auto"] + cuts["x264"]} == {"libx264"}


def test_decoder_auto_cuts_the_same_clips_as_cpu_and_records_the_decoder():
    """clips.decoder=auto on a bundled clip: NVDEC where the preflight passes (the same pixels),
    else the CPU with one log line; either way the same clips, each naming its decoder."""
    from pathlib import Path

    from humo_data.media.hwdecode import nvdec_preflight

    src = Path(__file__).resolve().parents[1] / "data" / "speaker_4s.mp4"
    cuts = {}
    for decoder in ("cpu", "auto"):
        cfg = load_config("default", ["clips.max_seconds=4", f"clips.decoder={decoder}"])
        row = next(iter(ProbeStage(cfg.probe).run_rows(
            [{"source_uri": str(src), "_source_size": src.stat().st_size, "_kind": "source"}])))  # fmt: skip
        out = list(ClipCutStage(CutConfig(shots=cfg.shots, clips=cfg.clips)).run_rows([row]))
        cuts[decoder] = [r for r in out if r["_kind"] == "clip" and r.get("_reject_reason") is None]
        assert out[-1]["_kind"] == "done" and out[-1]["_source_stats"]["decoder_fallback"] is None
    assert cuts["cpu"] and [c["clip_id"] for c in cuts["auto"]] == [c["clip_id"] for c in cuts["cpu"]]
    assert [c["video"] for c in cuts["auto"]] == [c["video"] for c in cuts["cpu"]]
    assert [c["audio"] for c in cuts["auto"]] == [c["audio"] for c in cuts["cpu"]]
    assert {c["video_decoder"] for c in cuts["cpu"]} == {"h264"}
    assert {c["video_decoder"] for c in cuts["auto"]} == {
        "h264_nvdec" if nvdec_preflight() is None else "h264"
    }


def test_a_gpu_codec_asked_for_and_missing_fails_instead_of_rejecting_the_source(tmp_path):
    """clips.decoder=nvdec (or encoder=nvenc) on a worker without it raises: as a reject row, a
    configuration mistake would commit every source as a decode_error."""
    import pytest

    from humo_data.media.encode import nvenc_preflight
    from humo_data.media.hwdecode import nvdec_preflight

    for setting, works in (("clips.decoder=nvdec", nvdec_preflight() is None),
                           ("clips.encoder=nvenc", nvenc_preflight() is None)):  # fmt: skip
        if works:
            continue
        cfg = load_config("default", [setting])
        stage = ClipCutStage(CutConfig(shots=cfg.shots, clips=cfg.clips))
        with pytest.raises(RuntimeError, match=setting.replace(".", r"\.")):
            list(stage.run_rows([{"source_uri": str(tmp_path / "never_opened.mp4"), "source_id": "x",
                                  "_kind": "source"}]))  # fmt: skip
