"""Config errors fail at start-up and name the key."""

import subprocess
import sys

import pytest

from humo_data.config import ConfigError, CurateConfig, load_config


def test_defaults_load_and_overrides_apply():
    cfg = load_config("default", ["clips.max_seconds=8", "writer.rows_per_shard=3", "shots.backend=none"])
    assert isinstance(cfg, CurateConfig)
    assert (cfg.clips.max_seconds, cfg.writer.rows_per_shard, cfg.shots.backend) == (8.0, 3, "none")
    assert load_config("gpu").shots.backend == "pyscenedetect-adaptive"


@pytest.mark.parametrize(
    "override,needle",
    [
        ("clips.max_secondz=3", "clips.max_secondz: unknown key"),
        ("clips.fps=fast", "clips.fps"),
        ("shots.backend=magic", "shots.backend"),
        ("writer.rows_per_shard=0", "writer.rows_per_shard"),
        ("nosuchsection.x=1", "nosuchsection: unknown key"),
        ("clips.min_seconds=20", "min_seconds"),
    ],
)
def test_bad_override_names_the_key(override, needle):
    with pytest.raises(ConfigError) as err:
        load_config("default", [override])
    assert needle in str(err.value)


def test_bad_yaml_key_names_the_key(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("clips:\n  short_sid: 480\n")
    with pytest.raises(ConfigError, match="clips.short_sid: unknown key"):
        load_config(bad)


def test_cli_reports_config_error_before_starting(tmp_path):
    run = subprocess.run(
        [sys.executable, "-m", "humo_data.cli", "curate", "-i", str(tmp_path), "-o", str(tmp_path / "o"),
         "--set", "probe.max_pixelz=1"],
        capture_output=True, text=True,
    )  # fmt: skip
    assert run.returncode == 2
    assert "probe.max_pixelz: unknown key" in run.stderr
    assert not (tmp_path / "o").exists()
