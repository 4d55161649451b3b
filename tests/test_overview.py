"""alerts.overview: the dashboard's figures for a scope and a window. SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy.orm import Session

from alerts.overview import overview
from models import Alert
from models.enums import AlertKind, CaseState, OutletTier, RiskLevel, SentimentLabel, UnitKind
from models.scope import Scope, subtree_ids, system_scope
from tests import factories

NOW = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)


def test_figures_for_an_operator_and_for_one_organization(session: Session) -> None:
    court = factories.unit(session, code="ov-court", name="儋州市人民法院", kind=UnitKind.COURT)
    team = factories.unit(session, code="ov-team", name="执行一队", kind=UnitKind.TEAM, parent_id=court.id)
    other = factories.unit(session, code="ov-other", name="Cục THADS", kind=UnitKind.DEPARTMENT)
    news = factories.outlet(session, name="今日儋州")
    own = factories.outlet(session, name="儋州法院微博", tier=OutletTier.OWN_CHANNEL, unit_id=court.id)
    story = factories.story(session, title="强制腾退", outlet_count=3, article_count=4)
    day = timedelta(days=1)
    pieces = [
        # (published, outlet, story, sentiment, risk, topics)
        (NOW - 2 * day, news, story, SentimentLabel.NEGATIVE, RiskLevel.HIGH,
         [{"name": "enforcement", "score": 0.9}, {"name": "dishonest_debtors", "score": 0.5}]),
        (NOW - 2 * day, news, story, SentimentLabel.NEGATIVE, RiskLevel.CRITICAL, ["enforcement"]),
        (NOW - 1 * day, own, None, SentimentLabel.POSITIVE, RiskLevel.LOW, []),
        (NOW - 1 * day, news, None, SentimentLabel.NEUTRAL, RiskLevel.LOW, [{"name": "legal_aid", "score": 0.7}]),
        (NOW - 20 * day, news, story, SentimentLabel.NEGATIVE, RiskLevel.MEDIUM, [{"name": "enforcement"}]),
    ]
    for at, outlet, st, sentiment, risk, topics in pieces:
        art = factories.article(session, published_at=at, outlet_id=outlet.id, story_id=st.id if st else None)
        factories.classification(session, art, sentiment=sentiment, risk_level=risk, topics=topics)
    factories.article(session, published_at=NOW - day, outlet_id=news.id)  # not classified yet
    session.add_all([
        Alert(dedupe_key="ov:1", kind=AlertKind.STORY, severity=RiskLevel.HIGH, title="t", story_id=story.id,
              state=CaseState.NEW, unit_id=team.id),
        Alert(dedupe_key="ov:2", kind=AlertKind.STORY, severity=RiskLevel.CRITICAL, title="t",
              state=CaseState.RESPONDING, unit_id=court.id),
        Alert(dedupe_key="ov:3", kind=AlertKind.STORY, severity=RiskLevel.LOW, title="t",
              state=CaseState.RESOLVED, unit_id=court.id),
        Alert(dedupe_key="ov:4", kind=AlertKind.STORY, severity=RiskLevel.HIGH, title="t",
              state=CaseState.NEW, unit_id=other.id),
    ])
    session.flush()

    everything = overview(session, system_scope(), window="7d", tz="Asia/Shanghai", now=NOW)
    assert everything.pieces == 5 and everything.negative == 2
    assert sum(b.pieces for b in everything.buckets) == 5 and len(everything.buckets) == 7
    assert everything.risk == {"critical": 1, "high": 1, "medium": 0, "low": 2}
    assert everything.sentiment == {"negative": 2, "neutral": 1, "positive": 1}
    assert everything.channels == {"news": 4, "social": 0, "own": 1}
    assert [(k, n) for k, _label, n in everything.topics] == [("enforcement", 2), ("dishonest_debtors", 1),
                                                              ("legal_aid", 1)]
    assert everything.topics[0][1] != "enforcement"  # a label, not the key
    assert everything.stories[0][0] == story.id
    assert everything.outlets[0][1] == "今日儋州" and everything.outlets[0][2] == 4

    mine = Scope(user_id=None, username="leader", unit_ids=subtree_ids(session, [court.id]))
    ours = overview(session, mine, window="30d", tz="Asia/Shanghai", now=NOW)
    # The court's coverage: its alert's story (3 pieces in 30 days) and its own channel (1).
    assert ours.pieces == 4 and ours.negative == 3
    assert {u.name: (u.new, u.in_progress) for u in ours.units} == {"执行一队": (1, 0), "儋州市人民法院": (0, 1)}
    assert ours.open_alerts == 1 and ours.open_cases == 1
    last_day = overview(session, mine, window="24h", tz="Asia/Shanghai", now=NOW)
    assert last_day.hourly and len(last_day.buckets) == 24 and last_day.pieces == 1
