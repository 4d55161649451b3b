"""Settings: layering order, provenance, masking and clear errors for bad config."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from settings import ConfigError, describe, load_settings


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_defaults_use_embedded_sqlite() -> None:
    loaded = load_settings(environ={})
    assert loaded.settings.db.url.startswith("sqlite:///var/")
    assert loaded.origins == {}


def test_layers_file_then_env_then_flags(tmp_path: Path) -> None:
    cfg = write(tmp_path / "p.toml", '[crawl]\nretry_times = 5\nfetch_timeout_seconds = 3\n[db]\nurl = "sqlite:///a.db"\n')
    env = {"PRESSWATCH_CRAWL__RETRY_TIMES": "7", "PRESSWATCH_DB__URL": "sqlite:///b.db"}
    loaded = load_settings(cfg, environ=env, overrides={"db.url": "sqlite:///c.db"})
    s = loaded.settings
    assert s.crawl.fetch_timeout_seconds == 3.0  # file
    assert s.crawl.retry_times == 7  # env beats file
    assert s.db.url == "sqlite:///c.db"  # flag beats env
    assert loaded.origins["crawl.fetch_timeout_seconds"] == f"file:{cfg}"
    assert loaded.origins["crawl.retry_times"] == "env:PRESSWATCH_CRAWL__RETRY_TIMES"
    assert loaded.origins["db.url"] == "flag"


def test_bad_value_names_key_and_file(tmp_path: Path) -> None:
    cfg = write(tmp_path / "p.toml", "[crawl]\nretry_times = \"many\"\n")
    with pytest.raises(ConfigError) as exc:
        load_settings(cfg, environ={})
    assert "crawl.retry_times" in str(exc.value)
    assert str(cfg) in str(exc.value)


def test_unknown_key_and_bad_env_are_named(tmp_path: Path) -> None:
    cfg = write(tmp_path / "p.toml", "[crawl]\nretry_tims = 1\n")
    with pytest.raises(ConfigError, match=r"unknown setting 'crawl.retry_tims'"):
        load_settings(cfg, environ={})
    with pytest.raises(ConfigError, match="PRESSWATCH_ALERTS__SMTP_PORT"):
        load_settings(environ={"PRESSWATCH_ALERTS__SMTP_PORT": "seventy"})


def test_invalid_toml_and_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_settings(write(tmp_path / "p.toml", "[db\n"), environ={})
    with pytest.raises(ConfigError, match="config file not found"):
        load_settings(tmp_path / "missing.toml", environ={})


def test_secrets_are_masked() -> None:
    loaded = load_settings(environ={"PRESSWATCH_ALERTS__SMTP_PASSWORD": "hunter2"})
    rows = {key: (value, origin) for key, value, origin in describe(loaded)}
    assert rows["alerts.smtp_password"] == ("********", "env:PRESSWATCH_ALERTS__SMTP_PASSWORD")
    assert "hunter2" not in repr(rows)


def test_every_setting_has_a_description_shown_by_config_show_all() -> None:
    """A setting nobody can read about is a setting nobody sets right."""
    from typer.testing import CliRunner

    from presswatch.cli import app, console
    from settings import _known_keys, descriptions

    about = descriptions()
    assert set(about) == _known_keys()
    missing = sorted(key for key, text in about.items() if len(text.strip()) < 10)
    assert missing == []
    console.width = 400
    shown = CliRunner().invoke(app, ["config", "show", "--all"])
    assert shown.exit_code == 0, shown.output
    for key in ("crawl.retry_times", "db.url", "alerts.smtp_port"):
        line = next(ln for ln in shown.output.splitlines() if f" {key} " in ln)
        assert about[key][:30] in line


def test_no_development_machine_path_is_a_default() -> None:
    from settings import Settings

    assert "/work/" not in json.dumps(Settings().model_dump(mode="json"))
    assert Settings().classify.shared_data_dir == ""
