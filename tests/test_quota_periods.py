"""Period maths: boundaries, labels, time zones (pure functions, no database)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from models.enums import Period
from quota.periods import PeriodError, Window, local_date, parse_span, period_containing, windows_overlapping


@pytest.mark.parametrize(
    ("kind", "day", "start", "end", "label"),
    [
        (Period.WEEK, date(2024, 5, 19), date(2024, 5, 13), date(2024, 5, 20), "2024-W20"),  # Sunday
        (Period.WEEK, date(2024, 5, 20), date(2024, 5, 20), date(2024, 5, 27), "2024-W21"),  # Monday
        (Period.WEEK, date(2024, 12, 31), date(2024, 12, 30), date(2025, 1, 6), "2025-W01"),  # ISO year
        (Period.HALF_MONTH, date(2024, 2, 15), date(2024, 2, 1), date(2024, 2, 16), "2024-02-H1"),
        (Period.HALF_MONTH, date(2024, 2, 16), date(2024, 2, 16), date(2024, 3, 1), "2024-02-H2"),
        (Period.HALF_MONTH, date(2024, 2, 29), date(2024, 2, 16), date(2024, 3, 1), "2024-02-H2"),  # leap day
        (Period.HALF_MONTH, date(2024, 12, 31), date(2024, 12, 16), date(2025, 1, 1), "2024-12-H2"),
        (Period.MONTH, date(2024, 12, 1), date(2024, 12, 1), date(2025, 1, 1), "2024-12"),
        (Period.QUARTER, date(2024, 6, 30), date(2024, 4, 1), date(2024, 7, 1), "2024-Q2"),
        (Period.QUARTER, date(2024, 7, 1), date(2024, 7, 1), date(2024, 10, 1), "2024-Q3"),
        (Period.YEAR, date(2024, 12, 31), date(2024, 1, 1), date(2025, 1, 1), "2024"),
    ],
)
def test_period_containing(kind: Period, day: date, start: date, end: date, label: str) -> None:
    w = period_containing(kind, day)
    assert (w.start, w.end, w.label) == (start, end, label)
    assert w.contains(day) and not w.contains(end) and not w.contains(start - timedelta(days=1))
    assert parse_span(label) == w


def test_consecutive_periods_tile_the_year_without_gaps_or_overlaps() -> None:
    for kind in Period:
        w = period_containing(kind, date(2023, 12, 20))
        covered = 0
        while w.start < date(2025, 1, 10):
            nxt = w.next()
            assert nxt.start == w.end and nxt.previous() == w
            covered += (w.end - w.start).days
            w = nxt
        assert covered > 365


def test_boundary_instant_lands_by_local_time_in_one_period() -> None:
    # 2024-05-15 16:00 UTC is 2024-05-16 00:00 in Shanghai: the first instant of the second half.
    instant = datetime(2024, 5, 15, 16, 0, tzinfo=UTC)
    first, second = parse_span("2024-05-H1"), parse_span("2024-05-H2")
    assert isinstance(first, Window) and isinstance(second, Window)
    s1, e1 = first.utc_bounds("Asia/Shanghai")
    s2, e2 = second.utc_bounds("Asia/Shanghai")
    assert e1 == s2 == instant
    assert not (s1 <= instant < e1) and (s2 <= instant < e2)
    assert local_date(instant, "Asia/Shanghai") == date(2024, 5, 16)
    # One microsecond earlier is still the first half.
    assert s1 <= instant - timedelta(microseconds=1) < e1
    # The same instant in Ha Noi (UTC+7) is 23:00 on the 15th: still the first half there.
    assert local_date(instant, "Asia/Ho_Chi_Minh") == date(2024, 5, 15)
    s1v, e1v = first.utc_bounds("Asia/Ho_Chi_Minh")
    assert s1v <= instant < e1v


def test_week_boundary_monday_midnight_local() -> None:
    w = parse_span("2024-W21")
    assert isinstance(w, Window)
    start, end = w.utc_bounds("Asia/Shanghai")
    assert start == datetime(2024, 5, 19, 16, 0, tzinfo=UTC)  # Monday 00:00 +08:00
    assert end - start == timedelta(days=7)


def test_dst_zone_bounds_are_local_midnights() -> None:
    w = period_containing(Period.MONTH, date(2024, 3, 5))
    start, end = w.utc_bounds("Europe/Berlin")  # DST starts 2024-03-31
    assert start == datetime(2024, 2, 29, 23, 0, tzinfo=UTC)
    assert end == datetime(2024, 3, 31, 22, 0, tzinfo=UTC)


def test_windows_overlapping_and_days_left() -> None:
    q2 = parse_span("2024-Q2")
    assert isinstance(q2, Window)
    weeks = windows_overlapping(Period.WEEK, q2)
    assert weeks[0].start == date(2024, 4, 1) and weeks[-1].start == date(2024, 6, 24) and len(weeks) == 13
    halves = windows_overlapping(Period.HALF_MONTH, q2)
    assert [h.label for h in halves][:2] == ["2024-04-H1", "2024-04-H2"] and len(halves) == 6
    assert windows_overlapping(Period.YEAR, q2) == [parse_span("2024")]
    assert windows_overlapping(Period.MONTH, date(2024, 5, 17)) == [parse_span("2024-05")]
    assert parse_span("2024-05-H2").days_left(date(2024, 5, 31)) == 0  # type: ignore[union-attr]
    assert parse_span("2024-05-H2").days_left(date(2024, 5, 26)) == 5  # type: ignore[union-attr]


@pytest.mark.parametrize("bad", ["2024-Q5", "2024-13", "2024-05-H3", "24", "Q2-2024", "2024-W54", "yesterday"])
def test_bad_labels_are_refused_with_the_accepted_forms(bad: str) -> None:
    with pytest.raises(PeriodError, match="expected 2024, 2024-Q2"):
        parse_span(bad)


def test_naive_and_unknown_zone_refused() -> None:
    with pytest.raises(PeriodError, match="naive"):
        local_date(datetime(2024, 1, 1), "Asia/Shanghai")
    with pytest.raises(PeriodError, match="unknown time zone 'Mars/Base'"):
        period_containing(Period.WEEK, date(2024, 1, 1)).utc_bounds("Mars/Base")
