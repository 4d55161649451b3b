"""The one calendar-period module: weeks (Monday first), half-months (1-15 / 16-end), months,
quarters and years, in local dates of an organization's or recipient's time zone.

Quotas count pieces per period and digests report per period; both did this arithmetic on their
own (two ``_add_months``, two quarter formulas, two label formats). Here it is once: pure
functions, no database. A period is a half-open range of LOCAL calendar dates ``[start, end)``;
:meth:`Window.utc_bounds` turns it into the UTC instants the database compares against. A piece
published exactly on a boundary (local midnight of the 16th, of a Monday, of a quarter's first
day) belongs to the period that STARTS there: it can never land in two periods or in none.

Period labels (what ``--period`` accepts): ``2024`` (year), ``2024-Q2`` (quarter), ``2024-05``
(month), ``2024-05-H1`` / ``2024-05-H2`` (half-month), ``2024-W07`` (ISO week), ``2024-05-17`` (a
day). Shared core: imports no stage (``models.enums.Period`` is this module's :class:`Period`).
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from presswatch.i18n import TimeZoneError, validate_timezone

__all__ = [
    "Period", "PeriodError", "Window", "add_months", "local_date", "parse_span", "period_containing",
    "windows_overlapping", "zone",
]


class Period(enum.StrEnum):
    """A calendar period kind (stored as its value in quota rules)."""

    WEEK = "week"
    HALF_MONTH = "half_month"
    MONTH = "month"
    QUARTER = "quarter"
    YEAR = "year"


class PeriodError(ValueError):
    """A period label or time zone that cannot be understood; the message says what is accepted."""


def zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(validate_timezone(name))
    except TimeZoneError as exc:
        raise PeriodError(str(exc)) from None


@dataclass(frozen=True, order=True)
class Window:
    """One period: local dates ``[start, end)``."""

    start: date
    end: date
    kind: Period

    @property
    def label(self) -> str:
        s = self.start
        if self.kind is Period.YEAR:
            return f"{s.year}"
        if self.kind is Period.QUARTER:
            return f"{s.year}-Q{(s.month - 1) // 3 + 1}"
        if self.kind is Period.MONTH:
            return f"{s.year}-{s.month:02d}"
        if self.kind is Period.HALF_MONTH:
            return f"{s.year}-{s.month:02d}-H{1 if s.day == 1 else 2}"
        iso = s.isocalendar()
        return f"{iso.year}-W{iso.week:02d}"

    @property
    def last_day(self) -> date:
        return self.end - timedelta(days=1)

    def utc_bounds(self, tz: str) -> tuple[datetime, datetime]:
        """The UTC instants ``[start, end)`` of this period's local midnights in ``tz``."""
        z = zone(tz)
        return (
            datetime.combine(self.start, time(0), z).astimezone(UTC),
            datetime.combine(self.end, time(0), z).astimezone(UTC),
        )

    def contains(self, day: date) -> bool:
        return self.start <= day < self.end

    def next(self) -> Window:
        return period_containing(self.kind, self.end)

    def previous(self) -> Window:
        return period_containing(self.kind, self.start - timedelta(days=1))

    def days_left(self, today: date) -> int:
        """Whole days from ``today`` to the last day of the period (0 on the last day)."""
        return (self.last_day - today).days


def add_months(day: date, n: int) -> date:
    """The first day of the month ``n`` months after (or before) ``day``'s month."""
    index = day.year * 12 + (day.month - 1) + n
    return date(index // 12, index % 12 + 1, 1)


def period_containing(kind: Period | str, day: date) -> Window:
    """The period of ``kind`` that contains the local date ``day``."""
    kind = Period(kind)
    if kind is Period.WEEK:
        start = day - timedelta(days=day.weekday())  # Monday
        return Window(start, start + timedelta(days=7), kind)
    if kind is Period.HALF_MONTH:
        if day.day <= 15:
            return Window(day.replace(day=1), day.replace(day=16), kind)
        return Window(day.replace(day=16), add_months(day, 1), kind)
    if kind is Period.MONTH:
        start = day.replace(day=1)
        return Window(start, add_months(day, 1), kind)
    if kind is Period.QUARTER:
        start = date(day.year, (day.month - 1) // 3 * 3 + 1, 1)
        return Window(start, add_months(start, 3), kind)
    return Window(date(day.year, 1, 1), date(day.year + 1, 1, 1), kind)


def local_date(instant: datetime, tz: str) -> date:
    """The calendar date of a UTC instant in ``tz`` (what decides which period a piece is in)."""
    if instant.tzinfo is None:
        raise PeriodError(f"naive datetime {instant!r}: give a timezone-aware instant")
    return instant.astimezone(zone(tz)).date()


_LABELS = [
    (re.compile(r"^(\d{4})$"), Period.YEAR),
    (re.compile(r"^(\d{4})-[Qq]([1-4])$"), Period.QUARTER),
    (re.compile(r"^(\d{4})-(\d{2})$"), Period.MONTH),
    (re.compile(r"^(\d{4})-(\d{2})-[Hh]([12])$"), Period.HALF_MONTH),
    (re.compile(r"^(\d{4})-[Ww](\d{2})$"), Period.WEEK),
]
LABEL_HELP = "2024, 2024-Q2, 2024-05, 2024-05-H1, 2024-W07 or a day 2024-05-17"


def parse_span(label: str) -> Window | date:
    """A period label as a :class:`Window`, or a single day as a :class:`date`."""
    text = label.strip()
    try:
        for pattern, kind in _LABELS:
            m = pattern.match(text)
            if not m:
                continue
            year = int(m.group(1))
            if kind is Period.YEAR:
                return period_containing(kind, date(year, 1, 1))
            if kind is Period.QUARTER:
                return period_containing(kind, date(year, (int(m.group(2)) - 1) * 3 + 1, 1))
            if kind is Period.MONTH:
                return period_containing(kind, date(year, int(m.group(2)), 1))
            if kind is Period.HALF_MONTH:
                return period_containing(kind, date(year, int(m.group(2)), 1 if m.group(3) == "1" else 16))
            return period_containing(kind, date.fromisocalendar(year, int(m.group(2)), 1))
        return date.fromisoformat(text)
    except ValueError:
        pass
    raise PeriodError(f"not a period: '{label}' (expected {LABEL_HELP})")


def windows_overlapping(kind: Period | str, span: Window | date) -> list[Window]:
    """Every period of ``kind`` overlapping ``span`` (a day gives the one period containing it)."""
    if isinstance(span, date):
        return [period_containing(kind, span)]
    out = [period_containing(kind, span.start)]
    while out[-1].end < span.end:
        out.append(out[-1].next())
    return out
