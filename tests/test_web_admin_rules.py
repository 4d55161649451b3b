"""/admin/rules: the rule form with the file's validation and cascade, the dry run (would_alert over
the last 7 days), precision from analysts' feedback, scoping, audit, and coexistence with the
rules file sync. On SQLite and PostgreSQL (the ``web`` fixture)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from alerts.precision import rule_precision
from alerts.rules_file import parse_rules, sync_rules
from models import Alert, AlertRule, AuditEntry, Label, utcnow
from models.enums import AlertKind, CaseState, RiskLevel, SentimentLabel
from models.scope import system_scope
from tests import factories
from tests.web_support import web_settings


def _db(web: Any) -> Session:
    session: Session = web.app.state.session_factory()
    return session


def _alert(db: Session, rule: AlertRule, article_id: int, state: CaseState, age: timedelta, **kw: Any) -> Alert:
    row = Alert(dedupe_key=f"t:{rule.id}:{article_id}", kind=AlertKind.STORY, rule_id=rule.id, article_id=article_id,
                severity=RiskLevel.HIGH, title="t", state=state, unit_id=rule.unit_id,
                reason={"article_ids": [article_id]}, **kw)
    db.add(row)
    db.flush()
    row.created_at = utcnow() - age
    db.flush()
    return row


@pytest.fixture
def world_rules(web: Any) -> dict[str, int]:
    db = _db(web)
    units = web.world.units
    settings = web_settings()
    rules = {"rules": [
        {"name": "dz-negative", "severity": "high", "unit": "dz-court",
         "when": {"min_risk": "high", "sentiment": ["negative"]},
         "options": {"escalation": [{"name": "院长", "address": "president@dz.example.cn"}]},
         "recipients": [{"name": "值班", "address": "duty@dz.example.cn", "language": "zh-CN"}]},
        {"name": "hy-rule", "severity": "high", "unit": "hy-thads", "when": {"min_risk": "medium"},
         "recipients": [{"address": "duty@hy.example.vn", "language": "vi"}]},
    ]}
    sync_rules(db, parse_rules(rules, settings))
    dz = db.scalar(select(AlertRule).where(AlertRule.name == "dz-negative"))
    hy = db.scalar(select(AlertRule).where(AlertRule.name == "hy-rule"))
    assert dz is not None and hy is not None and dz.unit_id == units["dz-court"].id
    now = utcnow()
    out = factories.outlet(db, name="南海网")
    src = factories.source(db, outlet_id=out.id)
    hit = factories.article(db, title="儋州法院执行干警被指暴力执法", source_id=src.id, outlet_id=out.id,
                            published_at=now - timedelta(days=1))
    factories.classification(db, hit, sentiment=SentimentLabel.NEGATIVE, risk_level=RiskLevel.HIGH, risk_score=0.8,
                             created_at=now - timedelta(days=1))
    calm = factories.article(db, title="儋州法院开展普法宣传", source_id=src.id, outlet_id=out.id,
                             published_at=now - timedelta(days=2))
    factories.classification(db, calm, created_at=now - timedelta(days=2))
    old = factories.article(db, title="十天前的旧闻", source_id=src.id, published_at=now - timedelta(days=10))
    factories.classification(db, old, sentiment=SentimentLabel.NEGATIVE, risk_level=RiskLevel.CRITICAL,
                             created_at=now - timedelta(days=10))
    # feedback over the last 30 days: one answered (confirmed), one dismissed, one marked
    # "not about us" on the article page, one not judged; one older than 30 days is left out
    pieces = [factories.article(db) for _ in range(5)]
    _alert(db, dz, pieces[0].id, CaseState.RESOLVED, timedelta(days=3))
    _alert(db, dz, pieces[1].id, CaseState.DISMISSED, timedelta(days=4))
    _alert(db, dz, pieces[2].id, CaseState.NEW, timedelta(days=5))
    db.add(Label(article_id=pieces[2].id, task="relevance", label="not_about_us", author="dz-duty"))
    _alert(db, dz, pieces[3].id, CaseState.NEW, timedelta(days=6))
    _alert(db, dz, pieces[4].id, CaseState.DISMISSED, timedelta(days=40))
    db.commit()
    ids = {"dz": dz.id, "hy": hy.id, "hit": hit.id, "calm": calm.id, "old": old.id}
    db.close()
    return ids


def _form(**kw: Any) -> dict[str, Any]:
    data: dict[str, Any] = {"name": "dz-critical", "unit": "dz-court", "severity": "critical", "enabled": "1",
                            "min_risk": "high", "sentiment": ["negative"], "recipients": "duty@dz.example.cn; 值班; zh-CN",
                            "channels": ["email"], "action": "save"}
    data.update(kw)
    return data


def test_precision_counts_confirmed_against_false_alarms(web: Any, world_rules: dict[str, int]) -> None:
    db = _db(web)
    found = rule_precision(db, system_scope(), days=30)
    dz = found[world_rules["dz"]]
    assert (dz.raised, dz.confirmed, dz.false_alarms, dz.unjudged) == (4, 1, 2, 1)
    assert dz.precision == pytest.approx(1 / 3)
    assert found[world_rules["hy"]].precision is None  # nothing raised, nothing judged
    # a wider window takes the 40-day-old dismissed case in
    assert rule_precision(db, system_scope(), days=60)[world_rules["dz"]].false_alarms == 3
    db.close()
    page = web.login("dz-admin").get("/admin/rules")
    assert page.status_code == 200
    assert "33 %" in page.text


def test_rules_are_scoped(web: Any, world_rules: dict[str, int]) -> None:
    client = web.login("dz-admin")
    listing = client.get("/admin/rules").text
    assert "dz-negative" in listing and "hy-rule" not in listing
    hy = world_rules["hy"]
    assert client.get(f"/admin/rules/{hy}").status_code == 404
    assert client.post(f"/admin/rules/{hy}", data=_form(name="hy-rule")).status_code == 404
    assert client.post(f"/admin/rules/{hy}/enabled", data={"enabled": "0"}).status_code == 404
    assert web.login("dz-duty").get("/admin/rules").status_code == 403
    # the precision function answers for the scope's rules only
    db = _db(web)
    from models.scope import scope_for_user

    scope = scope_for_user(db, web.world.users["dz-admin"])
    assert set(rule_precision(db, scope)) == {world_rules["dz"]}
    db.close()


def test_dry_run_lists_what_would_have_fired_and_why(web: Any, world_rules: dict[str, int]) -> None:
    client = web.login("dz-admin")
    page = client.get(f"/admin/rules/{world_rules['dz']}")
    assert page.status_code == 200
    assert "when.max_age_hours" in page.text  # the cascade: the built-in default shows
    run = client.post(f"/admin/rules/{world_rules['dz']}", data=_form(name="dz-negative", severity="high",
                                                                      action="dry_run"))
    assert run.status_code == 200
    text = run.text
    assert "儋州法院执行干警被指暴力执法" in text  # fired
    assert "儋州法院开展普法宣传" not in text.split('data-testid="dry-run-misses"')[0]  # not fired
    assert "十天前的旧闻" not in text  # older than 7 days
    assert f"/articles/{world_rules['hit']}" in text
    assert "risk low is below high" in text  # why the others did not fire
    # the dry run of an edited, unsaved rule: risk medium and any sentiment fires on nothing more
    # here, but a rule on neutral pieces fires on the calm one
    calm = client.post(f"/admin/rules/{world_rules['dz']}",
                       data=_form(name="dz-negative", min_risk="low", sentiment=["neutral"], action="dry_run")).text
    assert "儋州法院开展普法宣传" in calm.split('data-testid="dry-run-misses"')[0]
    db = _db(web)
    row = db.get(AlertRule, world_rules["dz"])
    assert row is not None and row.conditions["min_risk"] == "high" and row.managed_by == "file"  # nothing saved
    db.close()


def test_save_validates_like_the_file_audits_and_wins_over_the_file(web: Any, world_rules: dict[str, int]) -> None:
    client = web.login("dz-admin")
    bad = client.post("/admin/rules/new", data=_form(query="儋州 AND (法院"))
    assert bad.status_code == 400 and "rule dz-critical" in bad.text and "query:" in bad.text
    bad_mail = client.post("/admin/rules/new", data=_form(recipients="not-an-address"))
    assert bad_mail.status_code == 400 and "recipients[0] address" in bad_mail.text
    elsewhere = client.post("/admin/rules/new", data=_form(unit="hy-thads"))
    assert elsewhere.status_code == 400
    saved = client.post("/admin/rules/new", data=_form(sla_critical="15", quiet_hours="23:00-07:00"))
    assert saved.status_code == 303
    db = _db(web)
    row = db.scalar(select(AlertRule).where(AlertRule.name == "dz-critical"))
    assert row is not None and row.managed_by == "web" and row.unit_id == web.world.units["dz-court"].id
    assert row.conditions["max_age_hours"] == 72  # inherited from the built-in default
    assert row.options["sla_minutes"]["critical"] == 15 and row.options["sla_minutes"]["high"] == 120
    assert row.options["origins"]["options.quiet_hours"] == "rule"
    rule_id = row.id
    db.close()
    assert client.post("/admin/rules/new", data=_form()).status_code == 400  # the name is taken
    edited = client.post(f"/admin/rules/{rule_id}", data=_form(min_risk="critical", sla_critical="15",
                                                               quiet_hours="23:00-07:00"))
    assert edited.status_code == 303
    # the form shows the rule's own layer back
    form = client.get(f"/admin/rules/{rule_id}").text
    assert 'value="15"' in form and "23:00-07:00" in form
    # the form has no field for the escalation list: editing a rule keeps the one it declares
    assert client.post(f"/admin/rules/{world_rules['dz']}", data=_form(
        name="dz-negative", severity="high", quiet_hours="22:00-06:00",
        recipients="duty@dz.example.cn; 值班; zh-CN; email; Asia/Ho_Chi_Minh")).status_code == 303
    db = _db(web)
    kept = db.get(AlertRule, world_rules["dz"])
    assert kept is not None and kept.options["escalation"] == [{"name": "院长", "address": "president@dz.example.cn"}]
    assert kept.options["quiet_hours"] == "22:00-06:00" and kept.managed_by == "web"
    assert kept.recipients[0]["timezone"] == "Asia/Ho_Chi_Minh"  # the fifth field of a recipient line
    db.close()
    # taking over a file rule: it becomes web-managed, and the file sync leaves it alone
    assert client.post(f"/admin/rules/{world_rules['dz']}/enabled", data={"enabled": "0"}).status_code == 303
    db = _db(web)
    entries = db.scalars(select(AuditEntry).where(AuditEntry.object_type == "alert_rule",
                                                  AuditEntry.actor == "dz-admin").order_by(AuditEntry.id)).all()
    assert [(e.action, e.object_id) for e in entries] == [
        ("rule.add", "dz-critical"), ("rule.update", "dz-critical"), ("rule.update", "dz-negative"),
        ("rule.disable", "dz-negative")]
    assert entries[1].before["conditions"]["min_risk"] == "high"  # type: ignore[index]
    assert entries[1].after["conditions"]["min_risk"] == "critical"  # type: ignore[index]
    counts = sync_rules(db, parse_rules({"rules": [
        {"name": "dz-negative", "severity": "low", "recipients": [{"address": "x@dz.example.cn"}]},
        {"name": "hy-rule", "severity": "high", "unit": "hy-thads",
         "recipients": [{"address": "duty@hy.example.vn", "language": "vi"}]},
    ]}, web_settings()))
    db.flush()
    dz = db.get(AlertRule, world_rules["dz"])
    critical = db.get(AlertRule, rule_id)
    assert dz is not None and dz.enabled is False and str(dz.severity) == "high"  # not overwritten by the file
    assert critical is not None and critical.enabled  # not listed in the file, not disabled: the web owns it
    assert counts["disabled"] == 0
    db.rollback()
    db.close()


def test_the_cli_prints_each_rules_precision(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    import settings as settings_mod
    from models.db import make_engine, session_scope, upgrade
    from presswatch.cli import app
    from tests.web_support import build_world

    url = f"sqlite:///{tmp_path / 'pw.db'}"
    upgrade(url)
    engine = make_engine(url)
    with session_scope(engine) as db:
        build_world(db)
        sync_rules(db, parse_rules({"rules": [{"name": "dz-negative", "severity": "high", "unit": "dz-court",
                                               "recipients": [{"address": "duty@dz.example.cn"}]}]}, web_settings()))
        rule = db.scalar(select(AlertRule).where(AlertRule.name == "dz-negative"))
        assert rule is not None
        pieces = [factories.article(db) for _ in range(4)]
        for piece, state in zip(pieces, (CaseState.RESOLVED, CaseState.RESPONDING, CaseState.DISMISSED,
                                         CaseState.NEW), strict=True):
            _alert(db, rule, piece.id, state, timedelta(days=2))
    engine.dispose()
    monkeypatch.setenv("PRESSWATCH_DB__URL", url)
    settings_mod.reset_settings_cache()
    result = CliRunner().invoke(app, ["alerts", "precision", "--days", "30"])
    assert result.exit_code == 0, result.output
    row = next(line for line in result.output.splitlines() if "dz-negative" in line)
    cells = [c.strip() for c in row.split("│") if c.strip()]
    assert cells == ["dz-negative", "4", "2", "1", "1", "67%"], result.output  # 2 / (2 + 1)
