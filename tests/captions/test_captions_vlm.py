"""The transformers VLM backend on a tiny random Qwen2.5-VL saved to disk and loaded back (its text
is garbage; the plumbing is real), the answer cleaning, and the retry/refusal logic."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from humo_data.captions import CAPTIONERS, Captioner, CaptionsConfig, CaptionStage
from humo_data.captions.postprocess import clean_caption, strip_boilerplate, truncate_words
from humo_data.stage import rows_to_table
from tests.captions.tiny_vlm import tiny_qwen25_vl
from tests.quality.clip_rows import decode_rgb, row_from_frames
from tests.shared_media import media_file, needs_media

pytestmark = needs_media
EOS = 2  # "<|im_end|>" in the tiny tokenizer (special tokens come first)


@pytest.fixture(scope="module")
def vlm_dir(tmp_path_factory) -> Path:
    return tiny_qwen25_vl(tmp_path_factory.mktemp("vlm") / "tiny-qwen2.5-vl")


@pytest.fixture(scope="module")
def rows() -> list[dict]:
    """Three clips of different sizes (square 512, portrait 1080x1920 capped to 720, reversed)."""
    a = decode_rgb(media_file("sadtalker_WDA_AlexandriaOcasioCortez_000.mp4"), 1.2, 0.5)
    b = decode_rgb(media_file("latentsync_demo1_video.mp4"), 1.2, 0.5)
    made = [
        row_from_frames(a, clip_id="a"),
        row_from_frames(b, clip_id="b"),
        row_from_frames(a[::-1], clip_id="c"),
    ]
    return rows_to_table(made).to_pylist()


def vlm(vlm_dir: Path, **kw) -> CaptionsConfig:
    base = dict(enabled=True, backend="transformers", model_dir=str(vlm_dir), device="cpu", num_frames=2,
                max_new_tokens=10, min_words=0)  # fmt: skip
    return CaptionsConfig(**{**base, **kw})


def test_batched_generation_matches_one_by_one(vlm_dir, rows):
    stage = CaptionStage(vlm(vlm_dir, batch_clips=2))
    stage.setup()
    requests = [stage.request(r) for r in rows]
    batched = stage.captioner.generate(requests)
    assert stage.captioner.calls == 2  # 3 clips in batches of 2
    single = [stage.captioner.generate([r])[0] for r in requests]
    assert batched == single and len(batched) == 3
    assert batched[0] == batched[2] or batched[0] != batched[1]  # per-clip answers, not one broadcast


def test_one_caption_or_reason_per_clip_with_the_prompt_version(vlm_dir, rows, tmp_path):
    prompt = tmp_path / "house_style.yaml"
    prompt.write_text(yaml.safe_dump({"version": "house-v7", "system": "Describe people.",
                                      "user": "Frames: {num_frames}. Clip: {seconds:.1f} s. Words: {min_words}-{max_words}."}))  # fmt: skip
    stage = CaptionStage(vlm(vlm_dir, prompt=str(prompt), max_words=3))
    out = stage(rows_to_table(rows)).to_pylist()
    assert [r["clip_id"] for r in out] == ["a", "b", "c"]
    for r in out:
        assert (r["caption"] is None) != (r["caption_reason"] is None)
        assert r["caption_backend"] == "transformers:tiny-qwen2.5-vl"
        assert r["caption_prompt_version"] == "house-v7"
        assert r["caption"] is None or len(r["caption"].split()) <= 3  # length bound enforced
        assert r["_reject_reason"] is None  # a missing caption is never a reject
    text = stage.captioner.chat_text(stage.request(rows[0]), retry=False)
    assert "Frames: 2. Clip: 1.2 s. Words: 0-3." in text and "Describe people." in text
    assert text.count("<|image_pad|>") == 2


def test_empty_answers_are_retried_once_then_give_a_reason(vlm_dir, rows):
    # a logit bias on the end-of-turn token makes the real model answer nothing at all
    stage = CaptionStage(vlm(vlm_dir, batch_clips=4, generate_kwargs={"sequence_bias": [[[EOS], 100.0]]}))
    out = stage(rows_to_table(rows[:2])).to_pylist()
    assert stage.captioner.calls == 2  # first try + one retry, both batched
    assert [r["caption"] for r in out] == [None, None]
    assert all(r["caption_reason"].startswith("vlm_empty") for r in out)


def test_too_short_answers_get_a_reason(vlm_dir, rows):
    out = CaptionStage(vlm(vlm_dir, min_words=40, retries=0))(rows_to_table(rows[:1])).to_pylist()
    assert out[0]["caption"] is None and out[0]["caption_reason"].startswith(("too_short", "repetitive"))


@CAPTIONERS.register("scripted-test-vlm")
class ScriptedVlm(Captioner):
    """A stand-in VLM for the branches a random model cannot be steered into (refusals)."""

    answers: dict[str, list[str]] = {}

    def generate(self, requests, retry=False):
        return [self.answers[r.row["clip_id"]][1 if retry else 0] for r in requests]


def test_refusals_retry_then_reason(rows):
    ScriptedVlm.answers = {
        "a": ["I'm sorry, but I can't help with identifying people in images.",
              "Sure! Here is a description: The video shows a woman with dark hair speaking to the camera."],
        "b": ["I cannot describe this.", "As an AI, I am unable to help."],
        "c": ["", "   "],
    }  # fmt: skip
    cfg = CaptionsConfig(enabled=True, backend="transformers", model_dir="unused", min_words=3)
    stage = CaptionStage(cfg.model_copy(update={"backend": "scripted-test-vlm"}))
    a, b, c = stage(rows_to_table(rows)).to_pylist()
    assert a["caption"] == "A woman with dark hair speaking to the camera." and a["caption_reason"] is None
    assert b["caption"] is None and b["caption_reason"].startswith("vlm_refused")
    assert c["caption"] is None and c["caption_reason"].startswith("vlm_empty")


@pytest.mark.parametrize(
    "raw, expected",
    [
        ("Sure! Here's a detailed description of the clip: In this video, a man talks.", "A man talks."),
        (
            "**Caption:** The footage shows two people at a table. Let me know if you need more!",
            "Two people at a table.",
        ),
        ("- A woman smiles.\n- She waves.", "A woman smiles. She waves."),
    ],
)
def test_boilerplate_is_stripped(raw, expected):
    assert strip_boilerplate(raw) == expected


def test_length_bounds():
    text = "A man sits. He talks about the weather in a calm voice. He smiles at the end of it."
    assert truncate_words(text, 12) == "A man sits. He talks about the weather in a calm voice."
    assert truncate_words("one two three four five six", 4) == "one two three four."
    assert clean_caption("A man sits.", 5, 50) == (None, "too_short 3 words < 5")
    assert clean_caption("word " * 30, 1, 100)[1].startswith("repetitive")


def test_a_clip_the_processor_refuses_gets_a_reason_and_the_batch_goes_on(vlm_dir, rows):
    import numpy as np

    from humo_data.media.frames import frame_record

    sliver = dict(rows[0], clip_id="sliver", _frames=[frame_record(0, 0.0, np.zeros((8, 3000, 3), np.uint8))])
    stage = CaptionStage(vlm(vlm_dir, batch_clips=4, retries=0, max_pixels=3000 * 8))
    out = stage(rows_to_table([rows[1], sliver])).to_pylist()
    assert out[1]["caption"] is None and out[1]["caption_reason"].startswith("vlm_error")
    assert (out[0]["caption"] is None) != (out[0]["caption_reason"] is None)
    assert not (out[0]["caption_reason"] or "").startswith("vlm_error")
