"""`presswatch config export` / `import`: an organization's sources, alert rules, watch queries,
digests and quota rules as YAML; import validates with each file's own loader, shows the changes
first (dry run) and applies them; a round trip changes nothing. On SQLite and PostgreSQL."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import select
from sqlalchemy.orm import Session

from accounts.orgconfig import ConfigError, apply_import, export_config, plan_import
from alerts.digest.definitions import all_definitions
from alerts.rules_file import parse_rules, sync_rules
from crawlers.registry import parse_registry, sync_registry
from models import AlertRule, AuditEntry, QuotaRule, Source, WatchQuery
from quota.config import load_quota, parse_quota_data
from settings import Settings, load_settings
from tests.web_support import build_world

DIGESTS = {"digests": [
    {"name": "dz-daily", "title": "儋州法院舆情日报", "recipients": ["leader@dz.example.cn"], "language": "zh-CN",
     "send_time": "07:30", "scope": {"units": ["dz-court"]}},
    {"name": "hy-daily", "title": "Bản tin Hưng Yên", "recipients": ["lanhdao@hy.example.vn"], "language": "vi",
     "timezone": "Asia/Ho_Chi_Minh", "scope": {"units": ["hy-thads"]}},
]}


def _settings(tmp_path: Path) -> Settings:
    digests = tmp_path / "digests.yaml"
    digests.write_text(yaml.safe_dump(DIGESTS, allow_unicode=True), encoding="utf-8")
    return load_settings(environ={}, overrides={"alerts.digests_file": str(digests),
                                                "alerts.rules_file": str(tmp_path / "none.yaml")}).settings


def _world(session: Session, settings: Settings) -> None:
    build_world(session)
    sync_registry(session, parse_registry({"outlets": [{"key": "nanhai", "name": "南海法治网"}], "sources": [
        {"key": "dz-news", "name": "儋州新闻", "kind": "html", "outlet": "nanhai", "unit": "dz-court",
         "start_urls": ["https://news.dz.example.cn/list.html"],
         "selectors": {"links": "ul.news a::attr(href)", "title": "h1::text"}},
        {"key": "hy-news", "name": "Báo Hưng Yên", "kind": "feed", "unit": "hy-thads", "language": "vi",
         "start_urls": ["https://baohungyen.example.vn/rss"]},
    ]}))
    sync_rules(session, parse_rules({"rules": [
        {"name": "dz-negative", "severity": "high", "unit": "dz-court", "when": {"min_risk": "high"},
         "options": {"quiet_hours": "23:00-07:00"},
         "recipients": [{"name": "值班", "address": "duty@dz.example.cn", "language": "zh-CN"}]},
        {"name": "hy-rule", "severity": "high", "unit": "hy-thads",
         "recipients": [{"address": "duty@hy.example.vn", "language": "vi"}]},
    ]}, settings))
    unit_ids = {code: session.scalar(select(AlertRule.unit_id).where(AlertRule.name == name))
                for code, name in (("dz-court", "dz-negative"), ("hy-thads", "hy-rule"))}
    session.add(WatchQuery(name="dz-org", query="儋州 AND 法院", purpose="org", unit_id=unit_ids["dz-court"]))
    session.add(WatchQuery(name="hy-org", query="Hưng Yên", purpose="org", unit_id=unit_ids["hy-thads"]))
    load_quota(session, parse_quota_data({"rules": [
        {"key": "dz-exec-monthly", "name": "执行一队每月供稿", "unit": "dz-exec-1", "period": "month", "target": 2},
        {"key": "hy-monthly", "name": "Văn Lâm hằng tháng", "unit": "hy-vanlam", "period": "month", "target": 3},
    ]}), "Asia/Shanghai")
    session.flush()


def _roundtrip(data: dict[str, Any]) -> Any:
    return yaml.safe_load(yaml.safe_dump(data, allow_unicode=True, sort_keys=False))


def test_export_takes_the_organization_and_a_round_trip_changes_nothing(session: Session, tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    _world(session, settings)
    data = export_config(session, settings, "dz-court")
    assert [s["key"] for s in data["sources"]] == ["dz-news"]
    assert [r["name"] for r in data["rules"]] == ["dz-negative"]
    assert data["rules"][0]["unit"] == "dz-court" and data["rules"][0]["options"] == {"quiet_hours": "23:00-07:00"}
    assert [w["name"] for w in data["watch_queries"]] == ["dz-org"]
    assert [d["name"] for d in data["digests"]] == ["dz-daily"]
    assert [q["key"] for q in data["quota_rules"]] == ["dz-exec-monthly"]
    assert "Hưng Yên" not in yaml.safe_dump(data, allow_unicode=True)
    plan = plan_import(session, settings, _roundtrip(data))
    assert len(plan.changes) == 5 and plan.pending == []


def test_import_shows_the_changes_then_applies_them(session: Session, tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    _world(session, settings)
    data = _roundtrip(export_config(session, settings, "dz-court"))
    edited = copy.deepcopy(data)
    edited["sources"][0]["name"] = "儋州新闻网"
    edited["rules"][0]["severity"] = "critical"
    edited["watch_queries"].append({"name": "dz-officials", "query": "院长 OR 执行局长", "purpose": "official",
                                    "unit": "dz-court"})
    edited["digests"][0]["send_time"] = "08:00"
    edited["quota_rules"][0]["target"] = 4
    plan = plan_import(session, settings, edited)
    shown = "\n".join(line for c in plan.changes for line in c.lines())
    assert '~ sources dz-news\n    name: "儋州新闻" -> "儋州新闻网"' in shown
    assert '~ rules dz-negative\n    severity: "high" -> "critical"' in shown
    assert "+ watch_queries dz-officials" in shown
    assert '~ digests dz-daily\n    send_time: "07:30" -> "08:00"' in shown
    assert "~ quota_rules dz-exec-monthly\n    target: 2.0 -> 4" in shown
    # nothing is written by the plan
    assert session.scalar(select(Source.name).where(Source.key == "dz-news")) == "儋州新闻"
    counts = apply_import(session, settings, plan)
    assert counts == {"sources": 1, "rules": 1, "watch_queries": 1, "digests": 1, "quota_rules": 1}
    source = session.scalar(select(Source).where(Source.key == "dz-news"))
    assert source is not None and source.name == "儋州新闻网" and source.managed_by == "web"
    rule = session.scalar(select(AlertRule).where(AlertRule.name == "dz-negative"))
    assert rule is not None and str(rule.severity) == "critical" and rule.managed_by == "web"
    assert rule.options["quiet_hours"] == "23:00-07:00"
    assert session.scalar(select(WatchQuery.purpose).where(WatchQuery.name == "dz-officials")) == "official"
    assert session.scalar(select(QuotaRule.target).where(QuotaRule.key == "dz-exec-monthly")) == 4
    effective = {d.name: d.send_time for d in all_definitions(session, settings.alerts.digests_file)}
    assert effective == {"dz-daily": "08:00", "hy-daily": "07:30"}
    actions = set(session.scalars(select(AuditEntry.action).where(AuditEntry.actor == "config import")))
    assert actions == {"source.update", "rule.update", "watch_query.add", "digest.update", "quota_rule.import"}
    # exporting again gives what was imported: a second import changes nothing
    again = _roundtrip(export_config(session, settings, "dz-court"))
    assert plan_import(session, settings, again).pending == []
    assert again["sources"][0]["name"] == "儋州新闻网" and again["rules"][0]["severity"] == "critical"


def test_import_refuses_invalid_entries_and_other_organizations(session: Session, tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    _world(session, settings)
    data = _roundtrip(export_config(session, settings, "dz-court"))
    bad = copy.deepcopy(data)
    bad["sources"][0]["selectors"]["links"] = "ul.news a[["
    bad["rules"][0]["when"] = {"min_risk": "extreme"}
    bad["watch_queries"][0]["query"] = "儋州 AND (法院"
    bad["digests"][0]["send_time"] = "25:99"
    bad["quota_rules"][0]["period"] = "fortnight"
    with pytest.raises(ConfigError) as raised:
        plan_import(session, settings, bad)
    text = str(raised.value)
    assert "source 'dz-news', field selectors.links: invalid CSS selector" in text
    assert "min_risk 'extreme' is not one of low, medium, high, critical" in text
    assert "watch_queries[0] (dz-org): query:" in text
    assert "send_time must be HH:MM" in text
    assert "quota_rules: rules[0] (dz-exec-monthly).period" in text
    # another organization's units and keys are refused under --org
    foreign = copy.deepcopy(data)
    foreign["sources"][0]["unit"] = "hy-thads"
    foreign["rules"].append({"name": "hy-rule", "severity": "low", "unit": "dz-court",
                             "recipients": [{"address": "x@dz.example.cn"}]})
    with pytest.raises(ConfigError) as refused:
        plan_import(session, settings, foreign, org_code="dz-court")
    assert "unit 'hy-thads' is outside the organization 'dz-court'" in str(refused.value)
    assert "the name 'hy-rule' belongs to another organization's rule" in str(refused.value)
    assert session.scalar(select(Source.name).where(Source.key == "dz-news")) == "儋州新闻"


def test_the_cli_exports_then_dry_runs_then_applies(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    import settings as settings_mod
    from models.db import make_engine, session_scope, upgrade
    from presswatch.cli import app

    url = f"sqlite:///{tmp_path / 'pw.db'}"
    upgrade(url)
    settings = _settings(tmp_path)
    engine = make_engine(url)
    with session_scope(engine) as db:
        _world(db, settings)
    monkeypatch.setenv("PRESSWATCH_DB__URL", url)
    monkeypatch.setenv("PRESSWATCH_ALERTS__DIGESTS_FILE", settings.alerts.digests_file)
    settings_mod.reset_settings_cache()
    runner = CliRunner()
    out = tmp_path / "dz.yaml"
    exported = runner.invoke(app, ["config", "export", "--org", "dz-court", "-o", str(out)])
    assert exported.exit_code == 0, exported.output
    assert "1 sources, 1 rules, 1 watch_queries, 1 digests, 1 quota_rules" in " ".join(exported.output.split())
    unchanged = runner.invoke(app, ["config", "import", str(out)])
    assert unchanged.exit_code == 0 and "dry run: 0 to add or change, 5 unchanged" in " ".join(unchanged.output.split())
    out.write_text(out.read_text(encoding="utf-8").replace("儋州新闻", "儋州新闻网"), encoding="utf-8")
    dry = runner.invoke(app, ["config", "import", str(out)])
    assert "~ sources dz-news" in dry.output and "dry run: 1 to add or change" in " ".join(dry.output.split())
    with session_scope(engine) as db:
        assert db.scalar(select(Source.name).where(Source.key == "dz-news")) == "儋州新闻"
    applied = runner.invoke(app, ["config", "import", str(out), "--apply"])
    assert applied.exit_code == 0 and "imported 1 sources" in applied.output
    with session_scope(engine) as db:
        assert db.scalar(select(Source.name).where(Source.key == "dz-news")) == "儋州新闻网"
    refused = runner.invoke(app, ["config", "import", str(out), "--org", "hy-thads"])
    assert refused.exit_code != 0 and "outside the organization 'hy-thads'" in str(refused.exception)
    engine.dispose()
