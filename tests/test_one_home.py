"""One home per concept: the calendar arithmetic and the time-zone check exist once.

Quotas and digests each did month/quarter arithmetic (two ``_add_months``, two label formats);
five loaders each checked a time zone their own way. A copy that reappears fails here."""

from __future__ import annotations

import re
from datetime import date, timedelta

from alerts.digest.periods import calendar_period, report_period
from presswatch.periods import Period, period_containing
from tests.conftest import REPO_ROOT

PACKAGES = ("presswatch", "crawlers", "pipeline", "classify", "alerts", "models", "quota", "accounts")


def _sources() -> list[tuple[str, str]]:
    out = []
    for package in PACKAGES:
        for path in (REPO_ROOT / package).rglob("*.py"):
            if "migrations" not in path.parts:
                out.append((str(path.relative_to(REPO_ROOT)), path.read_text(encoding="utf-8")))
    return out


def test_month_arithmetic_and_zone_checks_live_once() -> None:
    month_maths = [p for p, text in _sources() if re.search(r"def _?add_months\(", text)]
    assert month_maths == ["presswatch/periods.py"]
    zone_checks = [p for p, text in _sources() if "ZoneInfoNotFoundError" in text]
    # i18n holds the validator; pipeline/dates resolves a page's zone with a fallback (not a check).
    assert sorted(zone_checks) == ["pipeline/dates.py", "presswatch/i18n.py"]


def test_digest_reports_and_quota_periods_agree_on_every_day_of_two_years() -> None:
    kinds = {"weekly": Period.WEEK, "monthly": Period.MONTH, "quarterly": Period.QUARTER, "yearly": Period.YEAR}
    day = date(2024, 1, 1)
    while day < date(2026, 1, 1):
        for report_kind, kind in kinds.items():
            window = period_containing(kind, day)
            start, end = window.utc_bounds("Asia/Ho_Chi_Minh")
            if report_kind != "weekly":
                digest = calendar_period(report_kind, day, "Asia/Ho_Chi_Minh")
                assert (digest.label, digest.start, digest.end) == (window.label, start, end)
                assert digest.previous().label == window.previous().label
            parsed = report_period(report_kind, window.label, "Asia/Ho_Chi_Minh")
            assert (parsed.start, parsed.end) == (start, end)
        day += timedelta(days=1)
