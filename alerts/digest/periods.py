"""Periods in local time, stored as UTC bounds: a daily digest's day, a week, a month, a quarter, a year.

A daily digest sent at 07:30 Asia/Shanghai on 2024-05-14 covers the 24 hours that end at that send
time (2024-05-13 07:30 to 2024-05-14 07:30 local): what happened since the last digest. Bounds are
half-open, ``start <= published_at < end``. Local arithmetic is done on dates, then converted, so a
time zone with daylight saving still gets whole local days.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from presswatch.periods import Period as CalendarKind
from presswatch.periods import period_containing


@dataclass(frozen=True)
class Period:
    kind: str  # daily / rolling / weekly / monthly / quarterly / yearly / custom
    label: str  # "2024-05-14", "2024-W20", "2024-05", "2024-Q2", "2024", "2024-05-01..2024-05-31"
    start: datetime  # UTC, inclusive
    end: datetime  # UTC, exclusive
    tz: str

    @property
    def length(self) -> timedelta:
        return self.end - self.start

    def previous(self) -> Period:
        """The period of the same kind just before this one (used for "change vs previous")."""
        zone = ZoneInfo(self.tz)
        if self.kind in CALENDAR_MONTHS:
            window = period_containing(_CALENDAR_KIND[self.kind], self.start.astimezone(zone).date()).previous()
            start, _end = window.utc_bounds(self.tz)
            return Period(self.kind, window.label, start, self.start, self.tz)
        return Period(self.kind, f"previous {self.label}", self.start - self.length, self.start, self.tz)

    def local_start(self) -> datetime:
        return self.start.astimezone(ZoneInfo(self.tz))

    def local_end(self) -> datetime:
        return self.end.astimezone(ZoneInfo(self.tz))


# Calendar report kinds and their length in months; the service sends these on the first local day
# of the next period (``reports:`` in a digest definition).
CALENDAR_MONTHS: dict[str, int] = {"monthly": 1, "quarterly": 3, "yearly": 12}
REPORT_KINDS: tuple[str, ...] = tuple(CALENDAR_MONTHS)


def _utc(day: date, at: time, zone: ZoneInfo) -> datetime:
    return datetime.combine(day, at, tzinfo=zone).astimezone(UTC)


# Report kinds -> calendar kinds of the one calendar-period module (presswatch/periods.py).
_CALENDAR_KIND = {"weekly": CalendarKind.WEEK, "monthly": CalendarKind.MONTH, "quarterly": CalendarKind.QUARTER,
                  "yearly": CalendarKind.YEAR}


def daily_period(local_day: date, send_at: time, tz: str) -> Period:
    """The daily digest dated ``local_day``: from the previous day's send time to this one's."""
    zone = ZoneInfo(tz)
    end = _utc(local_day, send_at, zone)
    start = _utc(local_day - timedelta(days=1), send_at, zone)
    return Period("daily", local_day.isoformat(), start, end, tz)


def latest_due_day(now: datetime, send_at: time, tz: str) -> date:
    """The local date of the most recent send time at or before ``now``."""
    local = now.astimezone(ZoneInfo(tz))
    return local.date() if local.time().replace(tzinfo=None) >= send_at else local.date() - timedelta(days=1)


def series_start(period: Period, moment: datetime) -> datetime | None:
    """Start of the period of the same series as ``period`` that contains ``moment``: for a daily
    digest the latest send time at or before ``moment``; for a rolling window the window of the same
    length, counted from ``period.start``; for a week, month, quarter or year the calendar period.
    ``None`` for custom ranges, which have no series and so no late arrivals."""
    if period.kind == "daily":
        send_at = period.local_start().time().replace(tzinfo=None)
        return _utc(latest_due_day(moment, send_at, period.tz), send_at, ZoneInfo(period.tz))
    if period.kind == "rolling" and period.length > timedelta(0):
        return period.start + ((moment - period.start) // period.length) * period.length
    local_day = moment.astimezone(ZoneInfo(period.tz)).date()
    if period.kind == "weekly":
        return report_period("weekly", local_day.isoformat(), period.tz).start
    if period.kind in CALENDAR_MONTHS:
        return calendar_period(period.kind, local_day, period.tz).start
    return None


def rolling_period(now: datetime, tz: str, hours: int = 24) -> Period:
    """The last ``hours`` up to ``now``: "the digest as if it were sent right now"."""
    end = now.astimezone(UTC)
    local = end.astimezone(ZoneInfo(tz))
    return Period("rolling", local.strftime("%Y-%m-%d %H:%M"), end - timedelta(hours=hours), end, tz)


def day_bounds(local_day: date, tz: str) -> tuple[datetime, datetime]:
    zone = ZoneInfo(tz)
    return _utc(local_day, time(0), zone), _utc(local_day + timedelta(days=1), time(0), zone)


_YEAR = re.compile(r"^(\d{4})$")
_MONTH = re.compile(r"^(\d{4})-(\d{1,2})$")
_QUARTER = re.compile(r"^(\d{4})-?Q([1-4])$", re.IGNORECASE)
_WEEK = re.compile(r"^(\d{4})-?W(\d{1,2})$", re.IGNORECASE)
_RANGE = re.compile(r"^(\d{4}-\d{2}-\d{2})\.\.(\d{4}-\d{2}-\d{2})$")


class PeriodError(ValueError):
    """A period string that cannot be read; the message shows the accepted forms."""


def report_period(kind: str, value: str, tz: str) -> Period:
    """Parse a report period: weekly ``2024-W20`` (or any date in the week), monthly ``2024-05``,
    quarterly ``2024-Q2`` (or a month in it), yearly ``2024`` (or a month in it), custom
    ``2024-05-01..2024-05-31`` (end date inclusive)."""
    zone = ZoneInfo(tz)
    value = value.strip()
    if kind == "custom" or _RANGE.match(value):
        match = _RANGE.match(value)
        if not match:
            raise PeriodError(f"custom period must be START..END dates, e.g. 2024-05-01..2024-05-31; got {value!r}")
        first, last = date.fromisoformat(match.group(1)), date.fromisoformat(match.group(2))
        if last < first:
            raise PeriodError(f"period ends before it starts: {value!r}")
        return Period("custom", value, _utc(first, time(0), zone), _utc(last + timedelta(days=1), time(0), zone), tz)
    if kind == "weekly":
        match = _WEEK.match(value)
        try:
            monday = (
                date.fromisocalendar(int(match.group(1)), int(match.group(2)), 1)
                if match
                else date.fromisoformat(value) - timedelta(days=date.fromisoformat(value).weekday())
            )
        except ValueError:
            raise PeriodError(f"weekly period must be like 2024-W20 or a date in the week; got {value!r}") from None
        week = period_containing(CalendarKind.WEEK, monday)
        start, end = week.utc_bounds(tz)
        return Period("weekly", week.label, start, end, tz)
    if kind == "monthly":
        match = _MONTH.match(value)
        if not match or not 1 <= int(match.group(2)) <= 12:
            raise PeriodError(f"monthly period must be like 2024-05; got {value!r}")
        return calendar_period("monthly", date(int(match.group(1)), int(match.group(2)), 1), tz)
    if kind == "quarterly":
        match = _QUARTER.match(value)
        month_match = _MONTH.match(value)
        if match:
            year, quarter = int(match.group(1)), int(match.group(2))
        elif month_match and 1 <= int(month_match.group(2)) <= 12:
            year, quarter = int(month_match.group(1)), (int(month_match.group(2)) - 1) // 3 + 1
        else:
            raise PeriodError(f"quarterly period must be like 2024-Q2 (or a month in it); got {value!r}")
        return calendar_period("quarterly", date(year, 3 * (quarter - 1) + 1, 1), tz)
    if kind == "yearly":
        match = _YEAR.match(value) or _MONTH.match(value)
        if not match:
            raise PeriodError(f"yearly period must be like 2024 (or a month in it); got {value!r}")
        return calendar_period("yearly", date(int(match.group(1)), 1, 1), tz)
    raise PeriodError(f"unknown report kind {kind!r}: weekly, monthly, quarterly, yearly or custom")


def calendar_period(kind: str, local_day: date, tz: str) -> Period:
    """The monthly, quarterly or yearly period that contains ``local_day``."""
    if kind not in CALENDAR_MONTHS:
        raise PeriodError(f"not a calendar report kind: {kind!r} (known: {', '.join(REPORT_KINDS)})")
    window = period_containing(_CALENDAR_KIND[kind], local_day)
    start, end = window.utc_bounds(tz)
    return Period(kind, window.label, start, end, tz)


def due_report_period(kind: str, now: datetime, send_at: time, tz: str) -> tuple[Period, datetime]:
    """The report most recently due at or before ``now`` and when it was due (UTC).

    A report of a period is sent on the first local day of the next period at ``send_at``: at
    2025-01-01 07:30 the monthly report of 2024-12, the quarterly of 2024-Q4 and the yearly of 2024.
    Before 07:30 that day the due one is still the period before (already sent, or missed).
    """
    current = calendar_period(kind, latest_due_day(now, send_at, tz), tz)
    return current.previous(), _utc(current.local_start().date(), send_at, ZoneInfo(tz))


def local_days(period: Period) -> list[date]:
    """Every local date the period touches, in order."""
    zone = ZoneInfo(period.tz)
    first = period.start.astimezone(zone).date()
    last = (period.end - timedelta(microseconds=1)).astimezone(zone).date()
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]
