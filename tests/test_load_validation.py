"""A bad time zone or recipient address fails when its file loads, naming the field.

Before, ``quota load`` accepted ``timezone: Asia/Beijing`` at the top of quota.yaml and a contact
``email: 儋州法院宣传科`` (a name, not an address): the file loaded and every later ``quota
status`` or period report broke. The one time-zone check (``presswatch.i18n.validate_timezone``)
and the one address check (``presswatch.addresses``) now run at load in every file.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from alerts.digest.definitions import DigestError, parse_definitions
from alerts.rules import RulesError
from alerts.rules_file import parse_rules
from presswatch.cli import app
from settings import ConfigError, load_settings

TEMPLATE = Path(__file__).resolve().parents[1] / "presswatch" / "templates" / "quota.example.yaml"


@pytest.mark.parametrize(("old", "new", "needle"), [
    ("timezone: Asia/Shanghai\n", "timezone: Asia/Beijing\n", "timezone: Value error, unknown time zone 'Asia/Beijing'"),
    ("contacts: [{email: press@dz-court.example.cn, language: zh-CN}]",
     "contacts: [{email: 儋州法院宣传科, language: zh-CN}]",
     "units[0] (dz-court).contacts.0.email: Value error, not an e-mail address: '儋州法院宣传科'"),
])
def test_quota_load_refuses_a_bad_zone_or_address_naming_the_field(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, old: str, new: str, needle: str) -> None:
    monkeypatch.setenv("PRESSWATCH_DB__URL", f"sqlite:///{tmp_path / 'pw.db'}")
    text = TEMPLATE.read_text(encoding="utf-8")
    assert old in text
    (tmp_path / "quota.yaml").write_text(text.replace(old, new, 1), encoding="utf-8")
    result = CliRunner().invoke(app, ["quota", "load"])
    assert result.exit_code != 0
    assert needle in str(result.exception), str(result.exception)
    shutil.copyfile(TEMPLATE, tmp_path / "quota.yaml")
    ok = CliRunner().invoke(app, ["quota", "load"])
    assert ok.exit_code == 0, (ok.output, ok.exception)


def test_digest_recipient_and_zone_are_checked_at_load() -> None:
    with pytest.raises(DigestError, match=r"digests\[0\] \(dz\): recipients: .*not an e-mail address"):
        parse_definitions({"digests": [{"name": "dz", "recipients": ["leader@court,example.cn"]}]}, "digests.yaml")
    with pytest.raises(DigestError, match=r"timezone: .*unknown time zone 'Asia/Hanoi'"):
        parse_definitions({"digests": [{"name": "dz", "timezone": "Asia/Hanoi"}]}, "digests.yaml")


def test_alert_rule_email_recipient_is_checked_at_load() -> None:
    data = {"rules": [{"name": "r", "severity": "high", "recipients": [{"address": "值班室", "channel": "email"}]}]}
    with pytest.raises(RulesError, match=r"recipients\[0\] address: not an e-mail address: '值班室'"):
        parse_rules(data, load_settings(environ={}).settings)


@pytest.mark.parametrize("key", ["scheduler.timezone", "quota.timezone", "pipeline.default_timezone"])
def test_settings_time_zones_use_the_one_check(key: str) -> None:
    with pytest.raises(ConfigError, match=rf"{key} \(from flag\): unknown time zone 'Asia/Beijing'"):
        load_settings(environ={}, overrides={key: "Asia/Beijing"})
