"""Digest definitions (YAML) and local-time periods."""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from pathlib import Path

import pytest

from alerts.digest.definitions import DigestError, find_definition, load_definitions, parse_definitions
from alerts.digest.periods import (
    PeriodError,
    daily_period,
    due_report_period,
    latest_due_day,
    local_days,
    report_period,
)

EXAMPLE = Path(__file__).resolve().parents[1] / "presswatch" / "templates" / "digests.example.yaml"


def test_example_file_defines_a_chinese_and_a_vietnamese_digest() -> None:
    defs = load_definitions(EXAMPLE)
    assert [(d.name, d.language, d.timezone, d.send_time) for d in defs] == [
        ("dz-daily", "zh-CN", "Asia/Shanghai", "07:30"),
        ("hy-daily", "vi", "Asia/Ho_Chi_Minh", "07:00"),
    ]
    assert defs[0].scope.langs == ["zh"] and defs[0].scope.units == ["dz-court"]
    assert defs[1].limits.topics == 8
    assert find_definition(defs, "hy-daily").local_send_time == time(7, 0)


def test_missing_file_means_no_digests(tmp_path: Path) -> None:
    assert load_definitions(tmp_path / "nope.yaml") == []


@pytest.mark.parametrize(
    ("patch", "needle"),
    [
        ({"timezone": "Asia/Hanoi"}, "timezone: Value error, unknown time zone 'Asia/Hanoi'"),
        ({"send_time": "7.30"}, "send_time: Value error, send_time must be HH:MM"),
        ({"sections": ["headline", "weather"]}, "unknown section(s) ['weather']"),
        ({"recipients": ["not-an-address"]}, "not an e-mail address: 'not-an-address'"),
        ({"recipients": ["duty@court.example.cn;"]}, "not an e-mail address: 'duty@court.example.cn;'"),
        ({"language": "fr"}, "language: Input should be 'zh-CN', 'vi' or 'en'"),
        ({"colour": "red"}, "colour: Extra inputs are not permitted"),
        ({"reports": ["monthly", "weekly"]}, "reports: Value error, unknown report kind(s) ['weekly']"),
    ],
)
def test_bad_definitions_name_the_file_digest_and_key(patch: dict[str, object], needle: str) -> None:
    raw = {"name": "dz-daily", "recipients": ["a@court.example.cn"], **patch}
    with pytest.raises(DigestError) as exc:
        parse_definitions({"digests": [raw]}, "digests.yaml")
    assert str(exc.value).startswith("digests.yaml: digests[0] (dz-daily): ")
    assert needle in str(exc.value)


def test_duplicate_names_and_bad_yaml_are_refused(tmp_path: Path) -> None:
    with pytest.raises(DigestError, match="duplicate digest name 'a'"):
        parse_definitions([{"name": "a"}, {"name": "a"}])
    bad = tmp_path / "digests.yaml"
    bad.write_text("digests: [\n  - name: x\n", encoding="utf-8")
    with pytest.raises(DigestError, match="not valid YAML"):
        load_definitions(bad)
    with pytest.raises(DigestError, match="no digest named 'zz' \\(known: a\\)"):
        find_definition(parse_definitions([{"name": "a"}]), "zz")


def test_sections_come_in_reading_order_whatever_the_yaml_order() -> None:
    (d,) = parse_definitions([{"name": "a", "sections": ["chart", "flagged", "headline"]}])
    assert d.sections == ["headline", "flagged", "chart"]


def test_daily_period_is_the_24_hours_before_the_local_send_time() -> None:
    p = daily_period(date(2024, 5, 14), time(7, 30), "Asia/Shanghai")
    assert (p.start, p.end) == (datetime(2024, 5, 12, 23, 30, tzinfo=UTC), datetime(2024, 5, 13, 23, 30, tzinfo=UTC))
    assert p.previous().end == p.start and p.previous().length == p.length
    v = daily_period(date(2024, 5, 14), time(7, 0), "Asia/Ho_Chi_Minh")
    assert v.end == datetime(2024, 5, 14, 0, 0, tzinfo=UTC)


def test_latest_due_day_switches_at_the_send_time() -> None:
    sh = "Asia/Shanghai"
    assert latest_due_day(datetime(2024, 5, 13, 23, 29, tzinfo=UTC), time(7, 30), sh) == date(2024, 5, 13)
    assert latest_due_day(datetime(2024, 5, 13, 23, 30, tzinfo=UTC), time(7, 30), sh) == date(2024, 5, 14)


def test_report_periods_in_local_time() -> None:
    m = report_period("monthly", "2024-05", "Asia/Shanghai")
    assert (m.start, m.end) == (datetime(2024, 4, 30, 16, tzinfo=UTC), datetime(2024, 5, 31, 16, tzinfo=UTC))
    assert m.previous().label == "2024-04" and m.previous().end == m.start
    assert len(local_days(m)) == 31
    q = report_period("quarterly", "2024-05", "Asia/Ho_Chi_Minh")
    assert q.label == "2024-Q2" and len(local_days(q)) == 91
    assert q.previous().label == "2024-Q1"
    w = report_period("weekly", "2024-05-15", "Asia/Shanghai")
    assert w.label == "2024-W20" and len(local_days(w)) == 7
    assert report_period("weekly", "2024-W20", "Asia/Shanghai") == w
    c = report_period("custom", "2024-05-01..2024-05-03", "Asia/Shanghai")
    assert len(local_days(c)) == 3 and c.previous().end == c.start
    with pytest.raises(PeriodError, match="monthly period must be like 2024-05"):
        report_period("monthly", "2024-13", "Asia/Shanghai")
    with pytest.raises(PeriodError, match="ends before it starts"):
        report_period("custom", "2024-05-03..2024-05-01", "Asia/Shanghai")


def test_reports_key_is_ordered_and_bounds_the_name_length() -> None:
    (d,) = parse_definitions({"digests": [{"name": "a", "reports": ["yearly", "monthly", "yearly"]}]})
    assert d.reports == ["monthly", "yearly"]
    assert parse_definitions([{"name": "b"}])[0].reports == []
    with pytest.raises(DigestError, match=r"digests\[0\] \(x+\): \(definition\): Value error, name must be at most 90"):
        parse_definitions([{"name": "x" * 95, "reports": ["monthly"]}], "digests.yaml")


def test_yearly_period_in_local_time() -> None:
    for tz, start in (("Asia/Shanghai", datetime(2023, 12, 31, 16, tzinfo=UTC)),
                      ("Asia/Ho_Chi_Minh", datetime(2023, 12, 31, 17, tzinfo=UTC))):
        y = report_period("yearly", "2024", tz)
        assert (y.kind, y.label, y.start, y.end) == ("yearly", "2024", start, start.replace(year=2024))
        assert len(local_days(y)) == 366
        assert y.local_start().date() == date(2024, 1, 1) and y.local_end().date() == date(2025, 1, 1)
        assert y.previous().label == "2023" and y.previous().end == y.start
        assert report_period("yearly", "2024-07", tz) == y
    with pytest.raises(PeriodError, match="yearly period must be like 2024"):
        report_period("yearly", "24", "Asia/Shanghai")


def test_reports_fall_due_on_the_first_local_day_of_the_next_period_at_the_send_time() -> None:
    tz = "Asia/Ho_Chi_Minh"
    # 2025-01-01 07:00 in Hanoi is 00:00 UTC.
    at_send = datetime(2025, 1, 1, 0, 0, tzinfo=UTC)
    for kind, label in (("monthly", "2024-12"), ("quarterly", "2024-Q4"), ("yearly", "2024")):
        period, due_at = due_report_period(kind, at_send, time(7, 0), tz)
        assert (period.kind, period.label, due_at) == (kind, label, at_send)
        assert period.end == datetime(2024, 12, 31, 17, tzinfo=UTC)
    y, _ = due_report_period("yearly", at_send, time(7, 0), tz)
    assert y.start == datetime(2023, 12, 31, 17, tzinfo=UTC)
    # A minute before the send time the due one is still the period before.
    before, due_before = due_report_period("monthly", datetime(2024, 12, 31, 23, 59, tzinfo=UTC), time(7, 0), tz)
    assert before.label == "2024-11" and due_before == datetime(2024, 12, 1, 0, 0, tzinfo=UTC)
    assert due_report_period("yearly", datetime(2025, 6, 1, tzinfo=UTC), time(7, 0), tz)[0].label == "2024"
