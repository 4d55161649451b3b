"""Period maths for quotas: the one calendar-period module, :mod:`presswatch.periods` (digests use it
too). Kept as this stage's name for it, so quota code reads ``from quota.periods import ...``."""

from __future__ import annotations

from presswatch.periods import (
    Period,
    PeriodError,
    Window,
    add_months,
    local_date,
    parse_span,
    period_containing,
    windows_overlapping,
    zone,
)

__all__ = [
    "Period", "PeriodError", "Window", "add_months", "local_date", "parse_span", "period_containing",
    "windows_overlapping", "zone",
]
