"""The scheduled jobs: an ArticleClassified event leads to evaluation and immediate delivery (no slow
timer), and the risk-plan CLI."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import pytest
from typer.testing import CliRunner

from alerts.mailbox import LocalMailbox
from models.enums import RiskLevel, SentimentLabel
from presswatch.events import ArticleClassified, bus
from tests import factories

RULES = """
rules:
  - name: dz
    when: {min_risk: medium, sentiment: [negative], query: 儋州法院}
    recipients: [{name: 王五, address: wangwu@dz-court.example.cn, language: zh-CN}]
"""


def test_classified_event_triggers_evaluation_and_delivery(
    fresh_db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import alerts.jobs as jobs
    import settings as settings_mod
    from models.db import get_engine, session_scope

    # A bus of this test's own: subscriptions made here must not outlive the test (other tests publish
    # events too), and those other tests made (a web app wires the process bus) must not hide here
    # whether scheduled_jobs() subscribes as a side effect.
    monkeypatch.setattr(bus, "_handlers", defaultdict(list))

    (tmp_path / "alert_rules.yaml").write_text(RULES, encoding="utf-8")
    with LocalMailbox() as box:
        settings_mod.configure(None, {
            "db.url": fresh_db_url, "alerts.rules_file": str(tmp_path / "alert_rules.yaml"),
            "alerts.smtp_host": box.host, "alerts.smtp_port": box.port,
            "alerts.from_address": "presswatch@dz-court.example.cn",
            "scheduler.classify_interval_seconds": 3600,
        })
        ids = {j.id for j in jobs.scheduled_jobs(settings_mod.get_settings())}
        assert ids == {"alerts-evaluate", "alerts-deliver", "alerts-sla", "alerts-sources"}
        assert not bus.is_subscribed(ArticleClassified, jobs.on_classified)  # no side effect of scheduled_jobs()
        from presswatch.wiring import wire

        wire()
        with session_scope(get_engine()) as session:
            art = factories.article(session, title="儋州法院执行干警被指暴力执法")
            factories.classification(session, art, risk_level=RiskLevel.HIGH, sentiment=SentimentLabel.NEGATIVE)
            article_id = art.id
        jobs._state.update(last_event=0.0, last_run=1e12)  # nothing waiting, fallback not due
        jobs.evaluate_job()
        assert box.wait_for(1, timeout_seconds=0.3) == []
        bus.publish(ArticleClassified(article_id=article_id, risk_level="high", sentiment="negative"))
        jobs.evaluate_job()
        [mail] = box.wait_for(1, timeout_seconds=5)
        assert mail.message["Subject"] == "【舆情预警·高】儋州法院执行干警被指暴力执法"


def test_plan_cli(fresh_db_url: str) -> None:
    from presswatch.cli import app, console

    console.width = 250
    runner = CliRunner()
    base = ["--set", f"db.url={fresh_db_url}"]
    result = runner.invoke(app, [*base, "alerts", "plan-add", "那大镇强制腾退", "--at", "2030-01-05T09:00+08:00",
                                 "-k", "那大镇", "-k", "强制腾退", "--poll", "jinri-danzhou=5"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    # Shown in the organization's time zone (scheduler.timezone, Asia/Shanghai by default).
    assert "window 2030-01-04 09:00 - 2030-01-08 09:00" in result.output
    result = runner.invoke(app, [*base, "alerts", "plans"], catch_exceptions=False)
    assert "那大镇强制腾退" in result.output and "planned" in result.output
    bad = runner.invoke(app, [*base, "alerts", "plan-add", "x", "--at", "tomorrow", "-k", "a"])
    assert bad.exit_code != 0


def test_broken_rules_file_keeps_the_last_good_rules(fresh_db_url: str, tmp_path: Path,
                                                     caplog: pytest.LogCaptureFixture) -> None:
    from alerts.engine import evaluate_new
    from alerts.rules import active_rules
    from models.db import make_engine, session_scope, upgrade
    from settings import load_settings

    upgrade(fresh_db_url)
    engine = make_engine(fresh_db_url)
    rules = tmp_path / "alert_rules.yaml"
    rules.write_text(RULES, encoding="utf-8")
    settings = load_settings(environ={}, overrides={"db.url": fresh_db_url, "alerts.rules_file": str(rules)}).settings
    evaluate_new(engine, settings)
    rules.write_text(RULES.replace("min_risk: medium", "min_risk: severe"), encoding="utf-8")
    with caplog.at_level("ERROR", logger="alerts.engine"):
        evaluate_new(engine, settings)
    assert "previous rules stay in force" in caplog.text and "severe" in caplog.text
    with session_scope(engine) as session:
        assert [r.conditions["min_risk"] for r in active_rules(session)] == ["medium"]
    engine.dispose()


def test_sla_job_escalates_and_reports_late_corrections(fresh_db_url: str, tmp_path: Path,
                                                        caplog: pytest.LogCaptureFixture) -> None:
    from datetime import timedelta

    import alerts.jobs as jobs
    import settings as settings_mod
    from alerts.cases import request_correction
    from models import Alert, utcnow
    from models.db import get_engine, session_scope
    from models.enums import AlertKind, CaseState

    settings_mod.configure(None, {"db.url": fresh_db_url})
    with session_scope(get_engine()) as session:
        req = request_correction(session, outlet_key=None, piece_url="http://x.example/1", false_claim="不实",
                                 actor="王五", now=utcnow() - timedelta(days=5))
        session.add(Alert(dedupe_key="k", kind=AlertKind.STORY, severity=RiskLevel.HIGH, title="t",
                          state=CaseState.NEW, deadline_at=utcnow() - timedelta(hours=1)))
        req_id = req.id
    with caplog.at_level("WARNING", logger="alerts.jobs"):
        jobs.sla_job()
        jobs.sla_job()  # a minute later: the same overdue request is not reported again
    assert f"#{req_id}" in caplog.text and "past their deadline" in caplog.text
    assert caplog.text.count("past their deadline") == 1 and "nobody to tell" in caplog.text
