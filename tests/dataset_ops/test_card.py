"""The dataset card's header declares only what was measured: the spoken languages the ASR
identified (the rows' `language` column), no language field when none was, unless the card
config declares one. Synthetic datasets (real shards and manifest, placeholder media)."""

from __future__ import annotations

import yaml

from humo_data.dataset_ops.card import run_card
from humo_data.dataset_ops.config import load_ops_config
from tests.dataset_ops.synthetic import clip_row, write_dataset


def _header(out) -> dict:
    text = (out / "README.md").read_text()
    return yaml.safe_load(text.split("---\n")[1])


def _dataset(out, languages: list[str | None]):
    rows = [clip_row(f"s{i:03d}", 0, f"id-{i}") for i in range(len(languages))]
    for row, lang in zip(rows, languages, strict=True):
        row["language"] = lang
    return write_dataset(out, rows)


def test_card_has_no_language_when_none_was_measured(tmp_path):
    out = _dataset(tmp_path / "out", [None, None, None])
    run_card(str(out), load_ops_config(None, None, []))
    head = _header(out)
    assert "language" not in head and head["task_categories"] == ["text-to-video"]
    assert "none identified" in (out / "README.md").read_text()


def test_card_lists_measured_languages_most_clips_first(tmp_path):
    out = _dataset(tmp_path / "out", ["zh", "en", "zh", None])
    run_card(str(out), load_ops_config(None, None, []))
    assert _header(out)["language"] == ["zh", "en"]
    assert "not measured on 1 clip(s)" in (out / "README.md").read_text()
    run_card(str(out), load_ops_config(None, None, ["card.language=[de]"]))  # declared by the user
    assert _header(out)["language"] == ["de"]
