"""Alert rules as data: validation, the cascade, and ``would_alert`` with its reasons."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from alerts.rules import (
    AlertItem,
    RulesError,
    RuleSpec,
    active_rules,
    load_items,
    parse_rules,
    read_rules_file,
    sync_rules,
    would_alert,
)
from models import AlertRule
from models.enums import RiskLevel, SentimentLabel
from presswatch.cli import app
from settings import load_settings
from tests import factories

SETTINGS = load_settings(environ={}, overrides={"alerts.quiet_hours": "22:00-06:00"}).settings
EXAMPLE = Path(__file__).resolve().parents[1] / "presswatch" / "templates" / "alert_rules.example.yaml"


def item(**kw: Any) -> AlertItem:
    fields: dict[str, Any] = dict(
        article_id=1, story_id=1, title="儋州法院执行干警被指暴力执法",
        text="多名居民反映，儋州市人民法院在强制腾退中暴力执法。",
        lang="zh", source_key="jinri-danzhou", source_name="今日儋州", outlet_key="jinri-danzhou",
        outlet_name="今日儋州", outlet_tier="prefecture", risk_level="high", risk_score=0.8,
        sentiment="negative", topics=("暴力执法",), mentions_org=True,
    )
    fields.update(kw)
    return AlertItem(**fields)


def spec(**conditions: Any) -> RuleSpec:
    return RuleSpec(name="r", severity="high", conditions=conditions, recipients=(), options={})


def test_would_alert_fires_and_says_why() -> None:
    rule = spec(min_risk="medium", sentiment=["negative"], query="儋州法院 AND 暴力执法", languages=["zh"])
    decision = would_alert(item(), rule)
    assert decision.fire
    assert "risk high ≥ medium" in decision.reason and "sentiment negative" in decision.reason
    assert "儋州法院" in decision.reason and "暴力执法" in decision.reason


@pytest.mark.parametrize(
    ("conditions", "changes", "why"),
    [
        ({"min_risk": "high"}, {"risk_level": "medium"}, "risk medium is below high"),
        ({"sentiment": ["negative"]}, {"sentiment": "neutral"}, "sentiment neutral not in negative"),
        ({"topics": ["强制腾退"]}, {}, "none of the topics"),
        ({"tiers": ["central", "provincial"]}, {}, "outlet tier prefecture not in"),
        ({"sources": ["baophapluat"]}, {}, "source jinri-danzhou not in"),
        ({"languages": ["vi"]}, {}, "language zh not in vi"),
        ({"query": "Văn Lâm"}, {}, "watch query did not match"),
        ({"mentions_org": True}, {"mentions_org": False}, "does not mention"),
    ],
)
def test_would_alert_names_the_condition_that_failed(conditions: dict[str, Any], changes: dict[str, Any],
                                                     why: str) -> None:
    decision = would_alert(item(**changes), spec(**conditions))
    assert not decision.fire
    assert why in decision.reason


def test_risk_plan_lowers_the_threshold_and_widens_the_query() -> None:
    rule = spec(min_risk="high", query="儋州法院")
    piece = item(risk_level="medium", title="那大镇某小区强制腾退现场", text="现场有群众围观拍摄。")
    assert not would_alert(piece, rule).fire
    tightened = rule.tightened("medium", ['"强制腾退" OR "那大镇"'])
    decision = would_alert(piece, tightened)
    assert decision.fire and "(risk plan)" in decision.reason
    # Lowering never raises a threshold that is already lower.
    assert rule.tightened("critical", []).conditions["min_risk"] == "high"


def test_vietnamese_item_and_query() -> None:
    rule = spec(min_risk="medium", sentiment=["negative"], query='"thi hành án" AND "Văn Lâm"', languages=["vi"])
    piece = item(title="Khiếu nại đông người về cưỡng chế thi hành án ở Văn Lâm", text="Nhiều hộ dân phản ánh.",
                 lang="vi", source_key="bao-hungyen", outlet_tier="provincial")
    assert would_alert(piece, rule).fire


def test_old_coverage_does_not_alert() -> None:
    """A new source's first crawl or an imported archive brings old negative pieces: not news."""
    from datetime import UTC, datetime, timedelta

    now = datetime(2026, 11, 21, 12, tzinfo=UTC)
    rule = spec(min_risk="high", max_age_hours=72)
    assert would_alert(item(published_at=now - timedelta(hours=30)), rule, now).fire
    old = would_alert(item(published_at=now - timedelta(days=30)), rule, now)
    assert not old.fire and old.reason == "published 30 days before it was evaluated (max_age_hours 72)"
    # Without a clock (the dry run), the time the item was classified is when it was seen.
    seen_fresh = item(published_at=now - timedelta(days=30), classified_at=now - timedelta(days=29, hours=23))
    assert would_alert(seen_fresh, rule).fire
    assert would_alert(item(published_at=now - timedelta(days=30)), spec(min_risk="high", max_age_hours=0), now).fire
    assert would_alert(item(published_at=None), rule, now).fire  # undated: the fetch time stands in


def test_cascade_rule_over_group_over_global_over_default() -> None:
    doc = {
        "defaults": {"when": {"min_risk": "medium"}, "options": {"merge_window_minutes": 5}},
        "groups": {"g": {"options": {"merge_window_minutes": 7, "rate_limit_per_hour": 3},
                         "recipients": [{"name": "A", "address": "a@court.example.cn", "language": "zh-CN"}]}},
        "rules": [
            {"name": "plain", "when": {"sentiment": "negative"},
             "recipients": [{"address": "b@court.example.cn", "language": "vi", "channels": ["email", "json"]}]},
            {"name": "grouped", "group": "g", "when": {"min_risk": "critical"}, "options": {"rate_limit_per_hour": 9}},
        ],
    }
    parsed = parse_rules(doc, SETTINGS)
    plain, grouped = parsed.rules
    assert plain["conditions"] == {"min_risk": "medium", "sentiment": ["negative"], "max_age_hours": 72}
    assert plain["options"]["merge_window_minutes"] == 5
    assert plain["options"]["quiet_hours"] == "22:00-06:00"  # from settings (global)
    assert plain["options"]["origins"]["options.quiet_hours"] == "global"
    assert plain["options"]["origins"]["options.sla_minutes"] == "default"
    assert [(r["channel"], r["language"]) for r in plain["recipients"]] == [("email", "vi"), ("json", "vi")]
    assert grouped["conditions"]["min_risk"] == "critical"
    assert grouped["options"]["merge_window_minutes"] == 7
    assert grouped["options"]["rate_limit_per_hour"] == 9
    assert grouped["options"]["origins"]["options.rate_limit_per_hour"] == "rule"
    assert grouped["options"]["origins"]["options.merge_window_minutes"] == "group g"
    assert grouped["recipients"][0]["address"] == "a@court.example.cn"


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ({"rules": [{"name": "x", "when": {"min_rsk": "high"}}]}, "rule x (rule conditions): unknown key(s) min_rsk"),
        ({"rules": [{"name": "x", "when": {"min_risk": "severe"}}]}, "min_risk 'severe' is not one of"),
        ({"rules": [{"name": "x", "when": {"query": "儋州 AND (执行"}}]}, "query:"),
        ({"rules": [{"name": "x", "group": "nope"}]}, "unknown group 'nope'"),
        ({"rules": [{"name": "x", "when": {"max_age_hours": "3 days"}}]}, "max_age_hours must be hours >= 0"),
        ({"rules": [{"name": "x", "recipients": [{"address": "a@b.cn", "language": "fr"}]}]}, "language 'fr'"),
        ({"rules": [{"name": "x"}, {"name": "x"}]}, "duplicate name"),
        ({"rules": [{"name": "x"}], "surge": {"notify_rule": "y"}}, "surge.notify_rule 'y' is not a rule"),
    ],
)
def test_bad_rules_fail_at_load_time_naming_the_rule(doc: dict[str, Any], message: str) -> None:
    with pytest.raises(RulesError) as exc:
        parse_rules(doc, SETTINGS)
    assert message in str(exc.value)


def test_example_file_loads_and_syncs(session: Session) -> None:
    parsed = read_rules_file(EXAMPLE, SETTINGS)
    counts = sync_rules(session, parsed)
    assert counts["added"] == 4
    rules = {r.name: r for r in active_rules(session)}
    assert {r.language for r in rules["hy-negative-coverage"].recipients} == {"vi"}
    assert "surge" in rules["dz-negative-coverage"].options
    # Syncing again changes nothing; a rule removed from the file is disabled, not deleted.
    assert sync_rules(session, parsed) == {"added": 0, "updated": 0, "disabled": 0}
    parsed.rules.pop()
    assert sync_rules(session, parsed)["disabled"] == 1
    assert session.query(AlertRule).count() == 4


def test_items_come_from_current_classifications(session: Session) -> None:
    outlet = factories.outlet(session, key="fz", name="法制时报")
    src = factories.source(session, key="fz-rss", outlet_id=outlet.id)
    story = factories.story(session)
    art = factories.article(session, title="儋州法院执行干警被指暴力执法", source_id=src.id, outlet_id=outlet.id,
                            story_id=story.id)
    factories.classification(session, art, model_version="old", is_current=False, risk_level=RiskLevel.LOW)
    factories.classification(session, art, model_version="new", risk_level=RiskLevel.HIGH,
                             sentiment=SentimentLabel.NEGATIVE, topics=[{"name": "暴力执法", "score": 0.9}],
                             created_at=datetime.now(UTC))
    [got] = [i for i in load_items(session, since=datetime.now(UTC) - timedelta(minutes=5))
             if i.article_id == art.id]
    assert got.risk_level == "high" and got.topics == ("暴力执法",) and got.outlet_name == "法制时报"
    assert got.source_key == "fz-rss" and got.story_id == story.id


def test_cli_rules_and_dry_run(fresh_db_url: str, tmp_path: Path) -> None:
    from models.db import make_engine, session_scope, upgrade

    upgrade(fresh_db_url)
    engine = make_engine(fresh_db_url)
    db_url = fresh_db_url
    (tmp_path / "alert_rules.yaml").write_text(EXAMPLE.read_text(encoding="utf-8"), encoding="utf-8")
    with session_scope(engine) as session:
        art = factories.article(session, title="儋州法院执行干警被指暴力执法 dry-run", lang="zh")
        factories.classification(session, art, risk_level=RiskLevel.HIGH, sentiment=SentimentLabel.NEGATIVE)
        calm = factories.article(session, title="儋州法院举办开放日 dry-run", lang="zh")
        factories.classification(session, calm, risk_level=RiskLevel.LOW, sentiment=SentimentLabel.POSITIVE)
    try:
        from presswatch.cli import console

        console.width = 250  # rich tables: no cell wrapping in the captured output
        runner = CliRunner()
        base = ["--set", f"db.url={db_url}"]
        result = runner.invoke(app, [*base, "alerts", "rules"], catch_exceptions=False)
        assert result.exit_code == 0, result.output
        assert "dz-negative-coverage" in result.output and "hy-negative-coverage" in result.output
        assert "sentiment=negative" in result.output and "['" not in result.output  # values, not Python reprs
        result = runner.invoke(app, [*base, "alerts", "test", "dz-negative-coverage", "--since", "1d", "--all"],
                               catch_exceptions=False)
        assert result.exit_code == 0, result.output
        assert "nothing was sent" in result.output
        assert "risk low is below medium" in result.output
        result = runner.invoke(app, [*base, "alerts", "test", "no-such-rule"])
        assert result.exit_code != 0
        with session_scope(engine) as session:
            from models import Delivery

            assert session.query(Delivery).count() == 0
    finally:
        engine.dispose()
