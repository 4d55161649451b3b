"""Broken user-edited YAML files give one clear error naming the file, whichever loader reads them."""

from __future__ import annotations

from pathlib import Path

import pytest

from alerts.rules import RulesError
from alerts.rules_file import read_rules_file
from crawlers.registry import RegistryError, load_registry
from quota.config import parse_quota_file
from quota.units import QuotaError
from settings import load_settings


def test_gbk_saved_file_is_named_not_a_traceback(tmp_path: Path) -> None:
    gbk = tmp_path / "alert_rules.yaml"
    gbk.write_bytes("rules:\n  - name: 负面报道\n".encode("gbk"))
    with pytest.raises(RulesError, match=r"alert_rules\.yaml: not UTF-8 text"):
        read_rules_file(gbk, load_settings(environ={}).settings)
    quota = tmp_path / "quota.yaml"
    quota.write_bytes(gbk.read_bytes())
    with pytest.raises(QuotaError, match=r"quota\.yaml: not UTF-8 text"):
        parse_quota_file(quota)


def test_invalid_yaml_names_file_and_line(tmp_path: Path) -> None:
    bad = tmp_path / "sources.yaml"
    bad.write_text("sources:\n  - key: a\n    name: [unclosed\n", encoding="utf-8")
    with pytest.raises(RegistryError, match=r"(?s)sources\.yaml: not valid YAML: .*line 3"):
        load_registry(bad)
