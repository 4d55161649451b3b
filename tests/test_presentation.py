"""What people read: topic labels (not keys), one rendering of a classification's reasons, one
risk-level order, and words from the one catalog in zh-CN, vi and en."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from zoneinfo import ZoneInfo

import pytest

from alerts.render import render_alerts, why_lines
from classify.reasons import describe_reasons, parse_reasons
from classify.taxonomy import TaxonomyError, load_taxonomy, topic_label
from models.enums import RISK_LEVELS, RiskLevel, risk_rank

ENGINE_REASONS = {  # what classify.engine writes (abridged)
    "model_version": "v1",
    "lang": {"value": "zh-CN", "why": "declared"},
    "notes": [],
    "mentions": [{"query": "儋州法院", "purpose": "org", "terms": ["儋州法院"]}],
    "topics": [{"name": "coercive_enforcement", "score": 0.9, "rule_terms": ["强制腾退"], "in_title": True}],
    "sentiment": {"label": "negative", "score": -0.7, "lexicon": {"score": -0.5, "terms": [
        {"term": "暴力执法", "weight": -1.0}]}},
    "risk": {"level": "high", "score": 0.71, "how": "weighted factors", "factors": [
        {"factor": "sensitive_terms", "weight": 0.35, "value": 1.0, "contribution": 0.35,
         "detail": [{"term": "暴力执法", "weight": 1.0}]},
        {"factor": "names_organization", "weight": 0.2, "value": 0.9, "contribution": 0.18, "detail": ["儋州法院"]},
        {"factor": "source_reach", "weight": 0.1, "value": 0.0, "contribution": 0.0},
    ]},
    "matched_terms": ["儋州法院", "暴力执法"],
    "factors": [
        {"factor": "sensitive_terms", "weight": 0.35, "value": 1.0, "contribution": 0.35},
        {"factor": "names_organization", "weight": 0.2, "value": 0.9, "contribution": 0.18},
    ],
}


def test_every_bundled_topic_has_a_label_in_each_language() -> None:
    taxonomy = load_taxonomy()
    for key, topic in taxonomy.topics.items():
        assert set(topic.labels) == {"zh", "vi", "en"}, key
    # A Vietnamese label with a comma was cut at the comma ({vi: Khiếu nại, tố cáo} is two YAML keys).
    assert topic_label("complaints", "vi") == "Khiếu nại, tố cáo"
    assert topic_label("thads", "zh-CN") == "越南民事判决执行"
    assert topic_label("coercive_enforcement", "en") == "Coercive enforcement actions"
    assert topic_label("no_such_topic", "vi") == "no_such_topic"


def test_an_unquoted_label_with_a_comma_fails_when_the_taxonomy_loads(tmp_path: Path) -> None:
    bad = tmp_path / "taxonomy.yaml"
    bad.write_text("topics:\n  complaints:\n    labels: {zh: 信访投诉, vi: Khiếu nại, tố cáo, en: Complaints}\n",
                   encoding="utf-8")
    with pytest.raises(TaxonomyError, match=r"complaints.*tố cáo"):
        load_taxonomy(bad)


def test_reasons_for_people_name_each_factor_once_in_the_readers_language() -> None:
    zh = describe_reasons(ENGINE_REASONS, "zh-CN", sections=("risk", "sentiment", "topics", "terms", "factors"))
    assert zh == ["风险等级：高（分值 0.71）", "情感倾向：负面", "话题：强制执行行动",
                  "命中词「儋州法院」「暴力执法」", "敏感词 0.35", "点名本单位 0.18"]
    vi = describe_reasons(ENGINE_REASONS, "vi", sections=("topics", "factors"))
    assert vi == ["Chủ đề: Cưỡng chế thi hành án", "từ ngữ nhạy cảm 0.35", "nêu tên đơn vị 0.18"]
    # Nothing a person reads is a key or a Python repr.
    text = " ".join(describe_reasons(ENGINE_REASONS, "en", sections=("topics", "terms", "factors", "privacy")))
    for raw in ("coercive_enforcement", "sensitive_terms", "{", "'"):
        assert raw not in text


def test_parse_reasons_drops_what_the_classifier_never_writes() -> None:
    typed = parse_reasons({"summary": "x", "factors": {"reach": 2}, "risk": "high", "risk_score": "0.70",
                           "mentions": ["儋州法院"], "privacy": ["cn_id 4600**********1234"]})
    assert typed == {"risk": {"level": "high", "score": 0.7, "factors": []},
                     "mentions": [{"query": "儋州法院", "purpose": "", "terms": []}],
                     "privacy": [{"kind": "cn_id", "excerpt": "4600**********1234"}]}
    assert parse_reasons(typed) == typed  # idempotent: a typed value passes through


def test_an_alert_message_shows_topic_labels_and_says_each_reason_once() -> None:
    reason = {
        "why_parts": [["risk", {"level": "high", "min": "medium"}], ["topics", {"names": "thads, complaints"}]],
        "classification": {"risk": {"level": "high", "score": 0.71, "factors": []},
                           "topics": [{"name": "thads", "score": 0.9}],
                           "matched_terms": ["cưỡng chế"],
                           "factors": [{"factor": "sensitive_terms", "weight": 0.3, "value": 1.0, "contribution": 0.3}]},
    }
    lines = why_lines(reason, "vi")
    assert lines == ["Mức rủi ro Cao (ngưỡng của quy tắc: Trung bình)",
                     "Chủ đề: Thi hành án dân sự (THADS), Khiếu nại, tố cáo",
                     "Từ ngữ đáng chú ý: “cưỡng chế”", "từ ngữ nhạy cảm 0.30"]
    alert = SimpleNamespace(id=7, kind="story", severity="high", title="Cưỡng chế ở Văn Lâm", reason=reason,
                            deadline_at=None)
    body = render_alerts([alert], "vi").text
    assert "thads" not in body and "complaints" not in body and "sensitive_terms" not in body


def test_one_risk_order() -> None:
    assert RISK_LEVELS == ("low", "medium", "high", "critical")
    assert [RiskLevel(v).rank for v in RISK_LEVELS] == [0, 1, 2, 3]
    assert sorted(["high", "unknown", "critical", "low"], key=risk_rank) == ["unknown", "low", "high", "critical"]


def test_cli_tables_show_the_organizations_local_time_to_the_minute(fresh_db_url: str, monkeypatch: pytest.MonkeyPatch
                                                                     ) -> None:
    """cases, outbox, stories and corrections printed raw UTC datetimes (2026-12-04 17:53:33.481742+00:00)."""
    from datetime import UTC, datetime, timedelta

    from sqlalchemy import select
    from typer.testing import CliRunner

    from alerts import cases
    from models import Alert, Delivery
    from models.db import make_engine, session_scope, upgrade
    from presswatch.cli import app, console
    from tests import factories
    from tests.test_cases import raise_one

    monkeypatch.setenv("LANGUAGE", "en")
    raw = datetime(2026, 12, 4, 17, 53, 33, 481742, tzinfo=UTC)  # 2026-12-05 01:53 in Asia/Shanghai
    recent = datetime.now(UTC).replace(second=33, microsecond=481742) - timedelta(hours=1)
    upgrade(fresh_db_url)
    engine = make_engine(fresh_db_url)
    try:
        with session_scope(engine) as session:
            alert = raise_one(session)
            alert_id = alert.id
            alert.deadline_at = raw
            for delivery in session.scalars(select(Delivery)):
                delivery.next_attempt_at = raw
            factories.outlet(session, key="fz", name="法制时报")
            req = cases.request_correction(session, outlet_key="fz", piece_url="http://fz.example/1.html",
                                           false_claim="不实", actor="王五")
            req.requested_at, req.deadline_at = raw, raw
            story = factories.story(session, title="暴力执法", lang="zh", first_seen_at=recent, last_seen_at=recent,
                                    article_count=1)
            factories.article(session, story_id=story.id, title="暴力执法")
            assert session.get(Alert, alert_id) is not None
        console.width = 250
        runner = CliRunner()

        def run(*args: str) -> str:
            result = runner.invoke(app, ["--set", f"db.url={fresh_db_url}", *args], catch_exceptions=False)
            assert result.exit_code == 0, result.output
            return result.output

        for args in (("cases", "list"), ("cases", "show", str(alert_id)), ("alerts", "outbox"),
                     ("corrections", "list")):
            out = run(*args)
            assert "2026-12-05 01:53" in out, (args, out)
            assert "17:53" not in out and "+00:00" not in out and "UTC" not in out, (args, out)
        stories = run("stories", "--since", "1d")
        local = recent.astimezone(ZoneInfo("Asia/Shanghai")).strftime("%Y-%m-%d %H:%M")
        assert local in stories and "UTC" not in stories and ":33" not in stories
        # Another organization time zone, another reading of the same instant.
        out = runner.invoke(app, ["--set", f"db.url={fresh_db_url}", "--set", "scheduler.timezone=Asia/Ho_Chi_Minh",
                                  "cases", "list"], catch_exceptions=False).output
        assert "2026-12-05 00:53" in out
    finally:
        engine.dispose()
