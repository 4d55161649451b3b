"""Late arrivals: pieces stored after the digest of their publication period was sent.

Clock: Asia/Shanghai, daily digest at 07:30; the digest dated D covers D-1 07:30 to D 07:30.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from itertools import pairwise
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import event
from sqlalchemy.orm import Session

from alerts.digest.builder import LATE_ARRIVAL_DAYS, DigestData, build_digest
from alerts.digest.definitions import Limits, Scope
from alerts.digest.periods import daily_period, rolling_period
from alerts.digest.render import render_digest
from models import Article
from models.enums import RiskLevel, SentimentLabel
from tests import factories

SH = ZoneInfo("Asia/Shanghai")
TZ = "Asia/Shanghai"
SEND = time(7, 30)
D = date(2024, 6, 10)
ALL = Limits(flagged=1000)


def _local(day: date, hh: int, mm: int = 0) -> datetime:
    return datetime.combine(day, time(hh, mm), tzinfo=SH).astimezone(UTC)


def _piece(session: Session, published: datetime, stored: datetime, **kw: Any) -> int:
    a = factories.article(session, published_at=published, fetched_at=stored, stored_at=stored)
    # Negative, so every piece is a flagged item and the tests can see which pieces a digest lists.
    factories.classification(session, a, sentiment=SentimentLabel.NEGATIVE, risk_level=RiskLevel.HIGH,
                             topics=[{"name": "执行", "score": 0.9}], **kw)
    return a.id


def _digest(session: Session, day: date, **kw: Any) -> DigestData:
    return build_digest(session, period=daily_period(day, SEND, TZ), limits=ALL, chart_days=0, **kw)


def _ids(data: DigestData) -> dict[int, bool]:
    return {item.article_id: item.late for item in data.flagged}


def test_a_date_only_piece_crawled_after_the_send_time_is_in_the_next_digest_marked_late(session: Session) -> None:
    # The page gives only the date D: stored as local midnight of D, crawled and stored at 10:00 on D,
    # after the digest dated D (D-1 07:30 .. D 07:30) went out at 07:30.
    dated = _piece(session, _local(D, 0), _local(D, 10))
    on_time = _piece(session, _local(D, 9), _local(D, 9, 5))

    assert dated not in _ids(_digest(session, D))
    nxt = _digest(session, D + timedelta(days=1))
    assert _ids(nxt) == {dated: True, on_time: False}
    assert (nxt.headline.pieces, nxt.headline.late, nxt.headline.negative) == (2, 1, 2)
    assert nxt.stats()["late"] == 1


def test_a_piece_published_long_before_is_not_a_late_arrival(session: Session) -> None:
    old = _piece(session, _local(D - timedelta(days=30), 12), _local(D, 10))
    just_inside = _piece(session, _local(D - timedelta(days=LATE_ARRIVAL_DAYS), 7, 31), _local(D, 11))
    nxt = _digest(session, D + timedelta(days=1))
    assert _ids(nxt) == {just_inside: True}
    # Beyond the bound it stays in the period it was published in (the reports count it there).
    assert _ids(_digest(session, D - timedelta(days=29))) == {old: False}


def test_a_piece_is_never_in_two_consecutive_digests(session: Session) -> None:
    pieces: dict[int, tuple[datetime, datetime]] = {}
    base = _local(D, 0)
    # Publication every 5 hours over 6 days; storage lags from 0 to 5 days.
    for i in range(30):
        published = base + timedelta(hours=5 * i)
        for lag_hours in (0, 1, 8, 23, 30, 70, 80, 120):
            stored = published + timedelta(hours=lag_hours)
            pieces[_piece(session, published, stored)] = (published, stored)

    days = [D + timedelta(days=i) for i in range(-1, 14)]
    digests = [_digest(session, day) for day in days]
    seen: dict[int, date] = {}
    for day, data in zip(days, digests, strict=True):
        for article_id in _ids(data):
            assert article_id not in seen, f"piece {article_id} in the digests of {seen[article_id]} and {day}"
            seen[article_id] = day
        assert data.headline.pieces == len(data.flagged)
    # Every piece is in exactly one of them, and in the one sent after it was stored.
    assert set(seen) == set(pieces)
    for article_id, day in seen.items():
        published, stored = pieces[article_id]
        period = daily_period(day, SEND, TZ)
        if stored - published <= timedelta(days=LATE_ARRIVAL_DAYS):
            assert stored < period.end
    # The comparison with the previous period counts by the same rule.
    for before, after in pairwise(digests):
        assert after.headline.previous_pieces == before.headline.pieces
        assert after.headline.previous_negative == before.headline.negative
        assert after.headline.previous_high_risk == before.headline.high_risk


def test_topic_scope_reads_rows_in_python_and_finds_the_same_late_arrivals(session: Session) -> None:
    dated = _piece(session, _local(D, 0), _local(D, 10))
    earlier = _piece(session, _local(D - timedelta(days=1), 7), _local(D - timedelta(days=1), 7, 40))
    day = D + timedelta(days=1)
    by_topic = _digest(session, day, scope=Scope(topics=["执行"]))
    plain = _digest(session, day)
    assert _ids(by_topic) == _ids(plain) == {dated: True}
    assert by_topic.headline.previous_pieces == plain.headline.previous_pieces == 1  # ``earlier``, late in D
    assert _ids(_digest(session, D)) == {earlier: True}


def test_rolling_preview_shows_pieces_stored_in_the_last_24_hours(session: Session) -> None:
    dated = _piece(session, _local(D, 0), _local(D, 10))
    data = build_digest(session, period=rolling_period(_local(D, 12), TZ), limits=ALL, chart_days=0)
    assert _ids(data) == {dated: False}  # published inside the window: on time
    later = build_digest(session, period=rolling_period(_local(D + timedelta(days=1), 1), TZ), limits=ALL,
                         chart_days=0)
    assert _ids(later) == {dated: True}


def test_late_reads_are_bounded_by_the_period(session: Session) -> None:
    _piece(session, _local(D, 0), _local(D, 10))
    statements: list[str] = []

    def _log(conn, cursor, statement, params, context, executemany):  # type: ignore[no-untyped-def]
        statements.append(" ".join(statement.split()))

    bind = session.connection()
    event.listen(bind, "before_cursor_execute", _log)
    try:
        _digest(session, D + timedelta(days=1))
    finally:
        event.remove(bind, "before_cursor_execute", _log)
    article_reads = [s for s in statements if "FROM articles" in s]
    assert any("articles.stored_at >=" in s for s in article_reads)
    for sql in article_reads:
        assert ("articles.published_at >=" in sql and "articles.published_at <" in sql) or "articles.id IN" in sql, sql


@pytest.mark.parametrize(("language", "badge", "count"), [
    ("zh-CN", "补报", "含补报 1 篇"), ("vi", "Bổ sung", "gồm 1 tin bổ sung"), ("en", "Late arrival", "incl. 1 late"),
])
def test_late_items_carry_a_badge_in_every_language(session: Session, language: str, badge: str, count: str) -> None:
    _piece(session, _local(D, 0), _local(D, 10))
    rendered = render_digest(_digest(session, D + timedelta(days=1), language=language), with_chart=False)
    for out in (rendered.html, rendered.text, rendered.file_html):
        assert badge in out and count in out
    assert f"|{badge}]" in rendered.text


def test_top_stories_via_the_database_join_see_late_arrivals_and_skip_moved_out_ones(
    session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    import alerts.digest.builder as builder

    def story_piece(story: Any, published: datetime, stored: datetime) -> None:
        a = factories.article(session, published_at=published, fetched_at=stored, stored_at=stored, story_id=story.id)
        factories.classification(session, a)

    late = factories.story(session, title="late", outlet_count=3, article_count=3)
    story_piece(late, _local(D, 0), _local(D, 10))
    moved = factories.story(session, title="moved", outlet_count=9, article_count=9)
    story_piece(moved, _local(D + timedelta(days=1), 7), _local(D + timedelta(days=1), 9))  # late in D+2
    plain = factories.story(session, title="plain", outlet_count=2, article_count=2)
    story_piece(plain, _local(D, 12), _local(D, 12))
    session.flush()

    expected = [s.title for s in _digest(session, D + timedelta(days=1)).stories]
    assert expected == ["late", "plain"]
    monkeypatch.setattr(builder, "_IN_CHUNK", 1)  # "many stories": the subquery path
    assert [s.title for s in build_digest(session, period=daily_period(D + timedelta(days=1), SEND, TZ),
                                          limits=Limits(stories=2), chart_days=0).stories] == expected
    assert [s.title for s in _digest(session, D + timedelta(days=2)).stories] == ["moved"]


def test_reports_list_a_piece_crawled_after_the_report_went_out_in_the_next_one_marked_late(
        session: Session, tmp_path: Path) -> None:
    """A monthly report is built on the 1st of the next month: a piece published on the last evening
    of May and stored on June 1st after the report was built is in the June report, marked late,
    not in neither. The same rule holds for weeks (and quarters, years); a piece stored long after
    it was published stays in the report of its publication period."""
    from alerts.digest.periods import calendar_period, report_period

    may, june = (calendar_period("monthly", date(2024, m, 1), TZ) for m in (5, 6))
    last_evening = _piece(session, _local(date(2024, 5, 31), 22), _local(date(2024, 6, 1), 10))
    in_may = _piece(session, _local(date(2024, 5, 20), 9), _local(date(2024, 5, 20), 9, 5))
    slow = _piece(session, _local(date(2024, 5, 10), 9), _local(date(2024, 6, 5), 9))  # 26 days: not late
    in_june = _piece(session, _local(date(2024, 6, 3), 9), _local(date(2024, 6, 3), 9, 5))

    def report(period: Any) -> DigestData:
        return build_digest(session, period=period, limits=ALL, chart_days=0)

    assert _ids(report(may)) == {in_may: False, slow: False}
    june_report = report(june)
    assert _ids(june_report) == {last_evening: True, in_june: False}
    assert (june_report.headline.pieces, june_report.headline.late) == (2, 1)
    assert june_report.headline.previous_pieces == 2  # May as its own report counts it
    # The exported report says why a piece dated May is in June.
    from openpyxl import load_workbook

    from alerts.digest.reports import export_xlsx

    path = export_xlsx(june_report, tmp_path / "june.xlsx")
    flagged_sheet = load_workbook(path).worksheets[2]  # summary, pieces per day, flagged
    titles = {str(row[2]) for row in flagged_sheet.iter_rows(min_row=2, values_only=True)}
    late_title, june_title = (session.get(Article, i).title for i in (last_evening, in_june))  # type: ignore[union-attr]
    assert titles == {f"[补报] {late_title}", june_title}

    # Weeks: Sunday 2024-06-09 23:00, stored Monday 09:00 -> the week of 2024-06-10, late.
    sunday_night = _piece(session, _local(date(2024, 6, 9), 23), _local(date(2024, 6, 10), 9))
    week_of_3rd, week_of_10th = (report_period("weekly", day, TZ) for day in ("2024-06-03", "2024-06-10"))
    assert sunday_night not in _ids(report(week_of_3rd))
    assert _ids(report(week_of_10th))[sunday_night] is True
