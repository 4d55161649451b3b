"""Live evaluation: one alert per (rule, story), reposts update, rising risk escalates, delivery policy
(quiet hours, merging, rate limit), hostile crawled text, surges, failing sources, risk plans."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from alerts.engine import evaluate_pending, source_failing_alert
from alerts.notify import quiet_until
from alerts.plans import PlanError, create_plan, refresh_states
from alerts.rules_file import parse_rules, sync_rules
from alerts.surge import detect_surges
from models import Alert, AlertEvent, Article, Delivery, Story, WatchQuery
from models.enums import AlertKind, OutletTier, RiskLevel, SentimentLabel
from presswatch.events import SourceFailing
from settings import load_settings
from tests import factories

SETTINGS = load_settings(environ={}).settings
# 10:00 in Shanghai: outside any quiet hours used below.
NOON = datetime(2026, 11, 20, 2, 0, tzinfo=UTC)

RULES: dict[str, Any] = {
    "defaults": {"options": {"merge_window_minutes": 10, "rate_limit_per_hour": 20}},
    "groups": {"dz": {"recipients": [
        {"name": "王五", "address": "wangwu@dz-court.example.cn", "language": "zh-CN"},
        {"name": "Nguyễn Văn An", "address": "an@hy.example.vn", "language": "vi"},
        {"name": "duty bot", "address": "http://127.0.0.1:9/hook", "language": "en", "channel": "wecom"},
    ]}},
    "rules": [{"name": "dz-negative", "group": "dz", "severity": "high",
               "when": {"min_risk": "medium", "sentiment": ["negative"], "query": "儋州法院 OR 儋州市人民法院"}}],
    "surge": {"notify_rule": "dz-negative", "min_count": 3, "hour_ratio": 3.0, "day_ratio": 2.5},
    "source_failing": {"notify_rule": "dz-negative"},
}


def load(session: Session, rules: dict[str, Any] | None = None, **options: Any) -> None:
    doc = dict(rules or RULES)
    if options:
        doc = {**doc, "defaults": {"options": {**doc["defaults"]["options"], **options}}}
    sync_rules(session, parse_rules(doc, SETTINGS))


def piece(session: Session, *, story: Story | None = None, title: str = "儋州法院执行干警被指暴力执法",
          outlet: str = "今日儋州", risk: RiskLevel = RiskLevel.HIGH,
          sentiment: SentimentLabel = SentimentLabel.NEGATIVE, at: datetime = NOON,
          text: str = "居民反映强制腾退中有人受伤。",
          **reasons: Any) -> Article:
    o = factories.outlet(session, name=outlet, tier=OutletTier.PREFECTURE)
    s = factories.source(session, outlet_id=o.id)
    art = factories.article(session, title=title, text=text, outlet_id=o.id, source_id=s.id,
                            story_id=story.id if story else None, published_at=at, fetched_at=at)
    factories.classification(
        session, art, risk_level=risk, sentiment=sentiment, risk_score=0.8,
        reasons=reasons or {"matched_terms": ["暴力执法", "强制腾退"], "factors": [
            {"factor": "source_reach", "weight": 0.15, "value": 1.0, "contribution": 0.15},
            {"factor": "sensitive_terms", "weight": 0.35, "value": 1.0, "contribution": 0.35}]},
        topics=[{"name": "coercive_enforcement", "score": 0.9}], created_at=at,
    )
    return art


def deliveries(session: Session) -> list[Delivery]:
    return list(session.scalars(select(Delivery).order_by(Delivery.id)))


def test_an_archive_of_old_negative_coverage_raises_nothing(session: Session) -> None:
    """Importing last month's coverage (or a new source's first crawl) must not page the leaders."""
    load(session)
    piece(session, story=factories.story(session), title="儋州法院执行干警被指暴力执法（旧闻）", at=NOON - timedelta(days=30))
    stats = evaluate_pending(session, SETTINGS, now=NOON)
    assert stats.evaluated == 1 and stats.raised == 0 and deliveries(session) == []
    piece(session, story=factories.story(session), at=NOON - timedelta(hours=5))
    assert evaluate_pending(session, SETTINGS, now=NOON).raised == 1


def test_one_alert_per_story_reposts_update_and_rising_risk_escalates(session: Session) -> None:
    load(session)
    story = factories.story(session, title="暴力执法")
    first = piece(session, story=story)
    stats = evaluate_pending(session, SETTINGS, now=NOON)
    assert (stats.raised, stats.notifications) == (1, 3)
    [alert] = session.scalars(select(Alert)).all()
    assert alert.kind == AlertKind.STORY and alert.severity == RiskLevel.HIGH and alert.story_id == story.id
    assert alert.deadline_at == NOON + timedelta(minutes=120)
    sent = deliveries(session)
    by_lang = {d.language: d for d in sent}
    assert by_lang["zh-CN"].subject == "【舆情预警·高】儋州法院执行干警被指暴力执法"
    assert by_lang["vi"].subject.startswith("[Cảnh báo dư luận · Cao] ")
    assert "Lý do cảnh báo" in by_lang["vi"].body_text
    zh = by_lang["zh-CN"].body_text
    assert "预警原因" in zh and "风险等级高（规则阈值：中）" in zh and "情感倾向：负面" in zh
    assert "命中监测词：儋州法院" in zh and "命中词「暴力执法」「强制腾退」" in zh
    # Factors and topics by the names people use, each once; no raw keys.
    assert "敏感词 0.35" in zh and "媒体影响力 0.15" in zh and "话题：强制执行行动" in zh
    assert "source_reach" not in zh and "coercive_enforcement" not in zh and zh.count("敏感词") == 1
    assert "Mức rủi ro Cao (ngưỡng của quy tắc: Trung bình)" in by_lang["vi"].body_text
    assert by_lang["en"].channel == "wecom" and by_lang["en"].body_html is None

    # Reposts in two more outlets: the alert is updated, nobody is messaged again.
    piece(session, story=story, outlet="法制时报", at=NOON + timedelta(minutes=3))
    piece(session, story=story, outlet="儋州发布", at=NOON + timedelta(minutes=4))
    stats = evaluate_pending(session, SETTINGS, now=NOON + timedelta(minutes=5))
    assert (stats.raised, stats.updated, stats.notifications) == (0, 2, 0)
    session.refresh(alert)
    assert alert.reason["article_count"] == 3
    assert alert.reason["outlets"] == ["今日儋州", "法制时报", "儋州发布"]
    assert len(deliveries(session)) == 3

    # The story turns critical in a central outlet: escalated and notified again, at once.
    piece(session, story=story, outlet="人民日报", risk=RiskLevel.CRITICAL, at=NOON + timedelta(minutes=6))
    stats = evaluate_pending(session, SETTINGS, now=NOON + timedelta(minutes=7))
    assert stats.escalated == 1
    session.refresh(alert)
    assert alert.severity == RiskLevel.CRITICAL
    assert alert.deadline_at == NOON + timedelta(minutes=37)  # critical SLA, 30 minutes
    again = deliveries(session)[3:]
    assert len(again) == 3 and all(d.next_attempt_at <= NOON + timedelta(minutes=8) for d in again)
    zh_again = next(d for d in again if d.language == "zh-CN")
    assert zh_again.subject.startswith("【舆情预警·紧急】") and "风险升级" in zh_again.body_text
    actions = [e.action for e in session.scalars(select(AlertEvent).where(AlertEvent.alert_id == alert.id))]
    assert actions == ["raised", "updated", "updated", "escalated"]

    # Re-reading behind the cursor changes nothing.
    assert evaluate_pending(session, SETTINGS, now=NOON + timedelta(minutes=9)).notifications == 0
    assert first.id in alert.reason["article_ids"]


def test_pieces_that_do_not_match_raise_nothing(session: Session) -> None:
    load(session)
    piece(session, title="儋州法院举办执行开放日", sentiment=SentimentLabel.POSITIVE, risk=RiskLevel.LOW)
    piece(session, title="某地交通事故", text="与法院无关")
    stats = evaluate_pending(session, SETTINGS, now=NOON)
    assert stats.evaluated >= 2 and stats.raised == 0 and deliveries(session) == []


def test_hostile_title_is_inert_and_bounded(session: Session) -> None:
    load(session)
    hostile = ('儋州法院<script>alert("x")</script><img src=x onerror=alert(1)>\r\nBcc: victim@evil.example\r\n'
               + "暴" * 200_000)
    piece(session, title=hostile, text='<a href="javascript:alert(1)">点击</a>' * 1000,
          matched_terms=["<b>bold</b>\r\nX-Injected: 1"])
    evaluate_pending(session, SETTINGS, now=NOON)
    zh = next(d for d in deliveries(session) if d.language == "zh-CN")
    assert "\n" not in zh.subject and "\r" not in zh.subject and len(zh.subject) <= 250
    assert zh.body_html is not None
    assert "<script>" not in zh.body_html and "&lt;script&gt;" in zh.body_html
    assert "<img" not in zh.body_html and "javascript:" not in zh.body_html.split("<body", 1)[1].split("href=")[0]
    assert "<b>bold</b>" not in zh.body_html
    assert len(zh.body_text) < 5000 and len(zh.body_html) < 10000
    assert "\nX-Injected" not in zh.body_text and "\nBcc:" not in zh.body_text


def test_alerts_in_a_short_window_are_merged_into_one_message(session: Session) -> None:
    load(session)
    for n in range(3):
        piece(session, title=f"儋州法院第{n}起投诉", story=factories.story(session))
        evaluate_pending(session, SETTINGS, now=NOON + timedelta(minutes=n))
    zh = [d for d in deliveries(session) if d.language == "zh-CN"]
    assert len(zh) == 2
    immediate, batch = zh
    assert immediate.payload["kind"] == "alert" and len(immediate.payload["alert_ids"]) == 1
    assert batch.payload["kind"] == "alert-batch" and len(batch.payload["alert_ids"]) == 2
    assert batch.next_attempt_at > NOON + timedelta(minutes=5)  # waits for the window to close
    assert batch.subject == "【舆情预警】2 条新预警（最高级别：高）"
    assert "第1起" in batch.body_text and "第2起" in batch.body_text
    # A critical alert is never held back.
    piece(session, title="儋州法院紧急事件", story=factories.story(session), risk=RiskLevel.CRITICAL)
    evaluate_pending(session, SETTINGS, now=NOON + timedelta(minutes=4))
    critical = [d for d in deliveries(session) if d.language == "zh-CN"][-1]
    assert critical.payload["kind"] == "alert" and critical.subject.startswith("【舆情预警·紧急】")


def test_rate_limit_holds_non_critical_alerts(session: Session) -> None:
    load(session, merge_window_minutes=0, rate_limit_per_hour=2)
    for n in range(4):
        piece(session, title=f"儋州法院投诉{n}", story=factories.story(session))
    evaluate_pending(session, SETTINGS, now=NOON)
    zh = [d for d in deliveries(session) if d.language == "zh-CN"]
    assert [d.payload["kind"] for d in zh] == ["alert", "alert", "alert-batch"]
    assert len(zh[2].payload["alert_ids"]) == 2
    assert zh[2].next_attempt_at >= zh[0].created_at + timedelta(minutes=59)


def test_quiet_hours_delay_except_critical(session: Session) -> None:
    night = datetime(2026, 11, 20, 15, 30, tzinfo=UTC)  # 23:30 in Shanghai
    assert quiet_until(night, "23:00-07:00", "Asia/Shanghai") == datetime(2026, 11, 20, 23, 0, tzinfo=UTC)
    assert quiet_until(NOON, "23:00-07:00", "Asia/Shanghai") is None
    load(session, quiet_hours="23:00-07:00")
    piece(session, title="儋州法院夜间投诉", story=factories.story(session), at=night)
    piece(session, title="儋州法院夜间紧急", story=factories.story(session), at=night, risk=RiskLevel.CRITICAL)
    evaluate_pending(session, SETTINGS, now=night)
    zh = {d.subject: d for d in deliveries(session) if d.language == "zh-CN"}
    held = zh["【舆情预警·高】儋州法院夜间投诉"]
    assert held.next_attempt_at == datetime(2026, 11, 20, 23, 0, tzinfo=UTC)
    assert zh["【舆情预警·紧急】儋州法院夜间紧急"].next_attempt_at <= night + timedelta(seconds=5)
    # A repost while the message waits: it goes out with the latest spread, still once.
    story_id = session.scalars(select(Alert.story_id).where(Alert.title == "儋州法院夜间投诉")).one()
    piece(session, title="儋州法院夜间投诉", story=session.get(Story, story_id), outlet="法制时报", at=night)
    evaluate_pending(session, SETTINGS, now=night + timedelta(minutes=5))
    session.refresh(held)
    assert "法制时报" in held.body_text and "2 篇报道" in held.body_text
    assert len([d for d in deliveries(session) if d.language == "zh-CN"]) == 2


def test_surge_raises_its_own_alert_with_the_numbers(session: Session) -> None:
    load(session)
    session.add(WatchQuery(name="儋州法院", query="儋州法院"))
    now = NOON + timedelta(hours=1)
    # Baseline: one negative piece at this hour three days ago.
    piece(session, title="儋州法院旧投诉", at=now - timedelta(days=3, minutes=30))
    for n in range(4):
        piece(session, title=f"儋州法院投诉{n}", at=now - timedelta(minutes=10 + n))
    stats = detect_surges(session, SETTINGS, now=now)
    assert stats.raised >= 1
    surge = session.scalars(select(Alert).where(Alert.kind == AlertKind.SURGE)).all()
    hour = next(a for a in surge if a.reason["numbers"]["window"] == "hour")
    assert hour.reason["numbers"]["count"] == 4
    assert hour.reason["numbers"]["baseline"] == pytest.approx(1 / 7, abs=0.01)
    assert "4 negative in the last 1h" in hour.reason["why"][0]
    mails = [d for d in deliveries(session) if d.alert_id == hour.id and d.language == "zh-CN"]
    assert mails and "舆情激增" in mails[0].body_text
    assert "近1小时负面报道4篇，往日同一时段平均0.1篇" in mails[0].body_text
    # The same hour is not alerted twice.
    assert detect_surges(session, SETTINGS, now=now + timedelta(minutes=5)).raised == 0


def test_no_surge_when_today_looks_like_every_day(session: Session) -> None:
    load(session)
    session.add(WatchQuery(name="儋州法院", query="儋州法院"))
    now = NOON
    for day in range(0, 8):
        for n in range(3):
            piece(session, title=f"儋州法院日常{day}-{n}", at=now - timedelta(days=day, minutes=10 + n))
    assert detect_surges(session, SETTINGS, now=now).raised == 0


def test_failing_source_raises_an_alert_once(session: Session) -> None:
    load(session)
    src = factories.source(session, key="jinri-danzhou")
    event = SourceFailing(source_key="jinri-danzhou", consecutive_failures=3, reason="HTTP 503 on list page",
                          last_success_at=NOON - timedelta(hours=6))
    alert = source_failing_alert(session, event, now=NOON)
    assert alert is not None and alert.kind == AlertKind.SOURCE_FAILING and alert.source_id == src.id
    again = source_failing_alert(session, SourceFailing("jinri-danzhou", 4, "HTTP 503", NOON - timedelta(hours=6)),
                                 now=NOON + timedelta(minutes=15))
    assert again is not None and again.id == alert.id and again.reason["consecutive_failures"] == 4
    zh = [d for d in deliveries(session) if d.language == "zh-CN"]
    assert len(zh) == 1 and "信息源异常" in zh[0].body_text and "连续3次抓取失败" in zh[0].body_text
    assert "HTTP 503" in zh[0].body_text
    assert "上次成功：2026-11-20 04:00" in zh[0].body_text  # local time (Asia/Shanghai), not UTC ISO


def test_risk_plan_opens_a_tighter_window_and_closes_itself(session: Session) -> None:
    load(session)
    action = NOON + timedelta(days=2)
    plan = create_plan(session, name="那大镇强制腾退", action_at=action, keywords=["那大镇", "强制腾退"],
                       place="那大镇", parties=["申请执行人", "被执行人"], before_hours=24, after_hours=48,
                       overrides={"min_risk": "low", "poll_minutes": {"jinri-danzhou": 5}})
    calm_title = "那大镇某小区今日强制腾退"  # does not name the court: only the plan's keywords catch it
    piece(session, title=calm_title, risk=RiskLevel.LOW, story=factories.story(session), at=NOON)
    assert evaluate_pending(session, SETTINGS, now=NOON).raised == 0
    assert plan.state == "planned"
    during = action - timedelta(hours=2)
    piece(session, title=calm_title + "（续）", risk=RiskLevel.LOW, story=factories.story(session), at=during)
    stats = evaluate_pending(session, SETTINGS, now=during)
    assert plan.state == "open" and stats.raised == 1
    alert = session.scalars(select(Alert)).one()
    assert "(risk plan)" in alert.reason["why"][0]
    from crawlers.run import plan_poll_minutes

    assert plan_poll_minutes(session, during) == {"jinri-danzhou": 5}
    assert plan_poll_minutes(session, action - timedelta(hours=25)) == {}  # before the window opens
    with pytest.raises(PlanError, match="poll_minutes"):
        create_plan(session, name="bad", action_at=action, keywords=["x"], overrides={"poll_minutes": {"a": "fast"}})
    after = action + timedelta(hours=49)
    piece(session, title=calm_title + "（后）", risk=RiskLevel.LOW, story=factories.story(session), at=after)
    assert evaluate_pending(session, SETTINGS, now=after).raised == 0
    assert refresh_states(session, after) == [] and plan.state == "closed"


def test_quiet_hours_follow_the_recipients_time_zone(session: Session) -> None:
    doc = {**RULES, "groups": {"dz": {"recipients": [
        {"name": "王五", "address": "wangwu@dz-court.example.cn", "language": "zh-CN"},
        {"name": "An", "address": "an@hy.example.vn", "language": "vi", "timezone": "Asia/Ho_Chi_Minh"},
    ]}}}
    load(session, doc, quiet_hours="23:00-07:00")
    night = datetime(2026, 11, 20, 15, 30, tzinfo=UTC)  # 23:30 in Shanghai, 22:30 in Hà Nội
    piece(session, title="儋州法院夜间投诉", story=factories.story(session), at=night)
    evaluate_pending(session, SETTINGS, now=night)
    by_lang = {d.language: d for d in deliveries(session)}
    assert by_lang["zh-CN"].next_attempt_at == datetime(2026, 11, 20, 23, 0, tzinfo=UTC)
    assert by_lang["vi"].next_attempt_at == night
    with pytest.raises(Exception, match=r"timezone: unknown time zone .Mars/Base."):
        parse_rules({"rules": [{"name": "x", "recipients": [{"address": "a@b.cn", "timezone": "Mars/Base"}]}]},
                    SETTINGS)
