"""What the digest builder finds in a fixed world of classified articles, and how it reads it."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date

import pytest
from sqlalchemy import event
from sqlalchemy.orm import Session

from alerts.digest.builder import build_digest, build_for_definition, explain_reasons, make_extract
from alerts.digest.definitions import Scope
from alerts.digest.periods import daily_period
from models import WatchQuery
from tests.test_digest_world import DAY, NOW, VI_DEF, ZH_DEF, make_world


@pytest.fixture
def world(session: Session) -> Iterator[Session]:
    make_world(session)
    yield session


def _zh(session: Session, **kw: object):  # type: ignore[no-untyped-def]
    period = daily_period(DAY, ZH_DEF.local_send_time, ZH_DEF.timezone)
    definition = ZH_DEF.model_copy(update=kw) if kw else ZH_DEF
    return build_for_definition(session, definition, period, now=NOW)


def test_headline_numbers_and_change_vs_previous_period(world: Session) -> None:
    data = _zh(world)
    h = data.headline
    # 4 pieces of the story + defaulters + refusal + hostile + one not yet classified.
    assert h.pieces == 8
    assert h.negative == 5
    assert h.risk_counts == {"critical": 1, "high": 3, "medium": 1, "low": 2}
    assert h.high_risk == 4
    assert (h.previous_pieces, h.previous_negative, h.previous_high_risk) == (2, 1, 0)
    assert h.outlets == 4
    assert h.own_pieces == 2  # the rejected registration never counts; units below dz-court do
    assert data.stats()["negative_share"] == 0.625


def test_flagged_items_worst_first_reposts_once_with_case_state_and_reasons(world: Session) -> None:
    data = _zh(world)
    assert [i.risk for i in data.flagged] == ["critical", "medium"]
    top = data.flagged[0]
    assert top.title == "网传儋州法院执行人员强制腾房时暴力执法"
    assert top.outlet == "今日儋州" and top.story_outlets == 4
    assert top.case_state == "responding"
    assert top.reasons == ["命中词「暴力执法」「强制腾房」「儋州法院」", "敏感词 0.35", "点名本单位 0.18", "传播速度 0.11"]
    assert top.published is not None and top.published.strftime("%m-%d %H:%M %Z") == "05-13 09:05 CST"
    assert top.extract.startswith("5月13日上午") and top.extract.count("。") == 3
    assert data.flagged[1].case_state is None


def test_a_piece_an_alert_rule_fired_on_is_flagged_even_when_calm(world: Session) -> None:
    """A watch rule (e.g. an official's name at low risk) fired on a positive piece: the duty team
    saw it, so the digest lists it too; once the case is dismissed as a false alarm, it does not."""
    from sqlalchemy import select

    from models import Alert, Article
    from models.enums import AlertKind, CaseState, RiskLevel

    art = world.scalars(select(Article).where(Article.title == "儋州法院公布第五批失信被执行人名单")).one()
    alert = Alert(dedupe_key="watch-defaulters", kind=AlertKind.STORY, article_id=art.id, story_id=art.story_id,
                  severity=RiskLevel.LOW, title=art.title, state=CaseState.NEW)
    world.add(alert)
    world.flush()
    flagged = {i.title: i for i in _zh(world).flagged}
    assert art.title in flagged and flagged[art.title].case_state == "new"
    assert len(flagged) == 3  # the two flagged by risk and sentiment stay
    alert.state = CaseState.DISMISSED
    world.flush()
    assert art.title not in {i.title for i in _zh(world).flagged}


def test_top_stories_by_spread_topics_own_pieces_and_source_health(world: Session) -> None:
    data = _zh(world)
    assert [(s.title, s.outlets, s.articles, s.period_articles, s.case_state) for s in data.stories] == [
        ("网传儋州法院执行人员强制腾房时暴力执法", 4, 4, 4, "responding")
    ]
    assert data.stories[0].first_outlet == "今日儋州"
    # Topics are counted by key and shown by their label in the digest's language.
    assert [(t.key, t.name, t.count, t.negative) for t in data.topics] == [
        ("enforcement", "执行工作", 6, 5), ("defaulter_blacklist", "失信被执行人", 1, 0), ("refusal_crime", "拒执罪", 1, 0)
    ]
    assert [(p.title, p.unit, p.outlet) for p in data.own_pieces] == [
        ("执行一队：一周执结案件23件", "执行一队", "今日儋州"),
        ("执行局开展涉民生案件专项行动", "执行局", "法制时报"),
    ]
    assert [(s.key, s.consecutive_failures) for s in data.source_problems] == [("weibo-danzhou", 4)]
    assert data.sources_total == 4 and not data.sources_healthy


def test_chart_series_covers_14_local_days(world: Session) -> None:
    data = _zh(world)
    assert len(data.series) == 14
    assert data.series[-1].day == date(2024, 5, 14)
    assert data.series[0].day == date(2024, 5, 1)
    by_day = {p.day: (p.pieces, p.negative) for p in data.series}
    assert by_day[date(2024, 5, 13)] == (8, 5)
    assert by_day[date(2024, 5, 12)] == (2, 1)
    # The same numbers when the scope has to be applied in Python (topics live in JSON): only the
    # unclassified piece of 5/13 (no topics) drops out.
    topics = ["enforcement", "defaulter_blacklist", "refusal_crime", "unenforceable"]
    python_path = _zh(world, scope=ZH_DEF.scope.model_copy(update={"topics": topics}))
    assert {p.day: (p.pieces, p.negative) for p in python_path.series} == {**by_day, date(2024, 5, 13): (7, 5)}
    assert python_path.headline.previous_pieces == data.headline.previous_pieces == 2


def test_database_counts_agree_with_the_rows(world: Session) -> None:
    from alerts.digest.builder import _counts, _ScopeFilter

    period = daily_period(DAY, ZH_DEF.local_send_time, ZH_DEF.timezone)
    flt = _ScopeFilter(world, ZH_DEF.scope)
    h = _zh(world).headline
    # pieces, negative, high or critical: the 4 reposts of the story are negative and high/critical.
    assert _counts(world, flt, [period.start, period.end]) == [(h.pieces, h.negative, h.high_risk)] == [(8, 5, 4)]
    assert _counts(world, flt, [period.previous().start, period.start, period.end]) == [(2, 1, 0), (8, 5, 4)]


def test_vietnamese_scope_sees_only_vietnamese_coverage(world: Session) -> None:
    period = daily_period(DAY, VI_DEF.local_send_time, VI_DEF.timezone)
    data = build_for_definition(world, VI_DEF, period, now=NOW)
    assert data.headline.pieces == 3
    assert [i.title for i in data.flagged] == ["Khiếu nại đông người về cưỡng chế thi hành án ở Văn Lâm"]
    assert data.flagged[0].reasons == ["Từ ngữ đáng chú ý: “khiếu nại đông người”, “cưỡng chế”", "sắc thái tiêu cực 0.24"]
    assert [t.name for t in data.topics] == ["Khiếu nại, tố cáo", "Cưỡng chế thi hành án", "Thi hành án dân sự (THADS)"]
    assert [p.unit for p in data.own_pieces] == ["Chi cục THADS huyện Văn Lâm"]
    assert data.sources_healthy and data.sources_total == 2


def test_scope_by_sources_topics_and_watch_queries(world: Session) -> None:
    period = daily_period(DAY, ZH_DEF.local_send_time, ZH_DEF.timezone)
    by_source = build_digest(world, period=period, scope=Scope(sources=["fazhi-shibao"]), now=NOW)
    assert by_source.headline.pieces == 2
    by_topic = build_digest(world, period=period, scope=Scope(topics=["refusal_crime", "defaulter_blacklist"]), now=NOW)
    assert by_topic.headline.pieces == 2 and by_topic.headline.negative == 0
    world.add(WatchQuery(name="violence", query="暴力执法 OR title:拒不执行"))
    world.flush()
    by_query = build_digest(world, period=period, scope=Scope(watch_queries=["violence"]), now=NOW)
    assert by_query.headline.pieces == 5
    from alerts.digest.definitions import DigestError

    with pytest.raises(DigestError, match="unknown watch queries: nope"):
        build_digest(world, period=period, scope=Scope(watch_queries=["nope"]), now=NOW)


def test_empty_period_is_empty_and_says_whether_sources_are_healthy(world: Session) -> None:
    period = daily_period(date(2024, 3, 1), ZH_DEF.local_send_time, ZH_DEF.timezone)
    data = build_for_definition(world, ZH_DEF, period, now=NOW)
    assert data.empty and data.headline.pieces == 0 and data.flagged == []
    assert not data.sources_healthy  # weibo-danzhou is failing: silence may not mean "no news"


def test_reads_are_bounded_by_the_period_never_the_whole_table(world: Session) -> None:
    statements: list[str] = []

    def _log(conn, cursor, statement, params, context, executemany):  # type: ignore[no-untyped-def]
        statements.append(" ".join(statement.split()))

    bind = world.connection()
    event.listen(bind, "before_cursor_execute", _log)
    try:
        _zh(world)
    finally:
        event.remove(bind, "before_cursor_execute", _log)
    article_reads = [s for s in statements if "FROM articles" in s]
    assert article_reads
    for sql in article_reads:
        assert "articles.published_at >=" in sql or "articles.id IN" in sql, sql
    assert not any("FROM classifications" in s and "WHERE" not in s for s in statements)


def test_extract_takes_two_or_three_sentences() -> None:
    zh = "第一句话在这里说明了事件的基本情况。" * 1 + "第二句话补充细节。" + "第三句。" + "第四句不应出现。"
    assert make_extract(zh) == "第一句话在这里说明了事件的基本情况。第二句话补充细节。第三句。"
    vi = "Câu thứ nhất dài vừa phải. Câu thứ hai cũng vậy. Câu thứ ba. Câu thứ tư bị bỏ."
    assert make_extract(vi) == "Câu thứ nhất dài vừa phải. Câu thứ hai cũng vậy. Câu thứ ba."
    long = "没有句号的很长的一段文字" * 40
    assert make_extract(long).endswith("…") and len(make_extract(long)) <= 140
    assert make_extract("") == ""


def test_explain_reasons_reads_common_shapes_and_never_fails() -> None:
    # The classifier's shape (classify.engine): flat matched_terms and factors with contributions.
    stored = {
        "matched_terms": ["暴力执法", "强制腾退"],
        "factors": [
            {"factor": "sensitive_terms", "weight": 0.35, "value": 1.0, "contribution": 0.35},
            {"factor": "names_organization", "weight": 0.2, "value": 0.9, "contribution": 0.18},
            {"factor": "source_reach", "weight": 0.1, "value": 0.0, "contribution": 0.0},
        ],
        "sentiment": {"label": "negative", "score": -0.7},
        "risk": {"level": "high", "score": 0.71},
    }
    assert explain_reasons(stored) == ["命中词「暴力执法」「强制腾退」", "敏感词 0.35", "点名本单位 0.18"]
    assert explain_reasons(stored, language="vi")[1:] == ["từ ngữ nhạy cảm 0.35", "nêu tên đơn vị 0.18"]
    # Older rows kept the factors under risk only; a factor listed twice is said once.
    assert explain_reasons({"risk": {"level": "high", "score": 0.7, "factors": [
        {"factor": "spread_velocity", "contribution": 0.2}, {"factor": "spread_velocity", "contribution": 0.1}]}},
        language="en") == ["spread velocity 0.20"]
    # Keys the classifier never writes are not read (and never shown as a Python repr).
    assert explain_reasons({"factors": {"reach": 2.5}, "terms": ["a"], "odd": {"x": 1}}, language="en") == []
    assert explain_reasons(None) == []


def test_top_stories_via_the_database_join_match_the_in_list_path(
    world: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    import alerts.digest.builder as builder

    expected = [(s.title, s.outlets) for s in _zh(world).stories]
    assert expected
    monkeypatch.setattr(builder, "_IN_CHUNK", 1)  # "many stories": the subquery path
    assert [(s.title, s.outlets) for s in _zh(world).stories] == expected
