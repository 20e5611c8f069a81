"""Versioned captioning prompts: YAML files in configs/prompts/ (``version``, ``system``, ``user``,
``retry_suffix``). The version travels with every caption (``caption_prompt_version``), so a
dataset says which instruction produced its text.

    prompt = load_prompt("caption_v1")        # or a path to a YAML file
    prompt.user_text(num_frames=4, seconds=3.9, min_words=8, max_words=160)
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml

from humo_data.config_base import configs_dir


@dataclass(frozen=True)
class Prompt:
    version: str
    system: str
    user: str
    retry_suffix: str = ""

    def user_text(self, *, retry: bool = False, **values: object) -> str:
        text = self.user.format(**values)
        if retry and self.retry_suffix:
            text = f"{text} {self.retry_suffix.format(**values)}"
        return text


def prompt_path(name_or_path: str) -> Path:
    p = Path(name_or_path)
    if p.suffix in (".yaml", ".yml"):
        return p
    return configs_dir() / "prompts" / f"{name_or_path}.yaml"


def load_prompt(name_or_path: str) -> Prompt:
    """The prompt named ``name_or_path`` (configs/prompts/<name>.yaml) or at a YAML path."""
    path = prompt_path(name_or_path)
    if not path.is_file():
        known = sorted(x.stem for x in (configs_dir() / "prompts").glob("*.yaml"))
        raise FileNotFoundError(f"caption prompt {name_or_path!r} not found ({path}); known: {known}")
    raw = yaml.safe_load(path.read_text()) or {}
    missing = [k for k in ("version", "system", "user") if not raw.get(k)]
    if missing:
        raise ValueError(f"caption prompt {path}: missing {missing}")
    return Prompt(
        version=str(raw["version"]),
        system=str(raw["system"]).strip(),
        user=str(raw["user"]).strip(),
        retry_suffix=str(raw.get("retry_suffix") or "").strip(),
    )
