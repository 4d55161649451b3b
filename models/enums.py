"""Closed vocabularies stored as strings with a CHECK constraint (portable across backends)."""

from __future__ import annotations

import enum
from typing import Any

from sqlalchemy import Enum

from models.base import StrEnum
from presswatch.periods import Period as _CalendarPeriod


def db_enum(enum_cls: type[enum.StrEnum], name: str) -> Enum:
    return Enum(
        enum_cls,
        name=name,
        native_enum=False,
        create_constraint=True,
        length=32,
        values_callable=lambda members: [m.value for m in members],
        validate_strings=True,
    )


class OutletTier(StrEnum):
    CENTRAL = "central"
    PROVINCIAL = "provincial"
    PREFECTURE = "prefecture"
    COUNTY = "county"
    OWN_CHANNEL = "own_channel"
    OTHER = "other"


class OutletChannel(StrEnum):
    NEWSPAPER = "newspaper"
    WEBSITE = "website"
    TV = "tv"
    NEWS_APP = "news_app"
    WECHAT = "wechat"
    WEIBO = "weibo"
    SOCIAL = "social"
    PORTAL = "portal"
    OTHER = "other"


class SourceKind(StrEnum):
    FEED = "feed"
    HTML = "html"
    SITEMAP = "sitemap"
    JSON_API = "json_api"
    IMPORT = "import"


class SentimentLabel(StrEnum):
    NEGATIVE = "negative"
    NEUTRAL = "neutral"
    POSITIVE = "positive"


class RiskLevel(StrEnum):
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"

    @property
    def rank(self) -> int:
        return RISK_LEVELS.index(self.value)


#: The one order of risk levels, lowest first (sorting, "at least", badges and tables all use it).
RISK_LEVELS: tuple[str, ...] = tuple(level.value for level in RiskLevel)
#: Highest first, for tables and badges.
RISK_LEVELS_DESC: tuple[str, ...] = RISK_LEVELS[::-1]


def risk_rank(value: str | None) -> int:
    """0 (low) .. 3 (critical); -1 for an unknown or missing level (sorts below every known one)."""
    return RISK_LEVELS.index(value) if value in RISK_LEVELS else -1


class AlertKind(StrEnum):
    STORY = "story"
    SURGE = "surge"
    SOURCE_FAILING = "source_failing"
    QUOTA_SHORTFALL = "quota_shortfall"


class CaseState(StrEnum):
    NEW = "new"
    ACKNOWLEDGED = "acknowledged"
    RESPONDING = "responding"
    RESOLVED = "resolved"
    DISMISSED = "dismissed"


class DeliveryStatus(StrEnum):
    PENDING = "pending"
    SENDING = "sending"
    SENT = "sent"
    DEAD = "dead"
    CANCELLED = "cancelled"  # a queued alert whose case was closed before it went out


class CorrectionState(StrEnum):
    DRAFT = "draft"
    REQUESTED = "requested"
    CORRECTED = "corrected"
    REFUSED = "refused"
    NO_RESPONSE = "no_response"


class UnitKind(StrEnum):
    BUREAU = "bureau"
    SECTION = "section"
    OFFICE = "office"
    STATION = "station"
    COURT = "court"
    TEAM = "team"
    TOWNSHIP = "township"
    MEMBER_UNIT = "member_unit"
    DEPARTMENT = "department"
    SUB_DEPARTMENT = "sub_department"
    OTHER = "other"


class PieceKind(StrEnum):
    NEWS = "news"
    BULLETIN = "bulletin"
    PUBLICITY_LEAD = "publicity_lead"
    CASE_REPORT = "case_report"
    PRESS_CONFERENCE = "press_conference"
    LIVE_STREAM = "live_stream"
    OTHER = "other"


class Adoption(StrEnum):
    STANDALONE = "standalone"
    COMBINED = "combined"
    NONE = "none"


class RegistrationState(StrEnum):
    PROPOSED = "proposed"
    SUBMITTED = "submitted"
    SECTION_APPROVED = "section_approved"
    LEADER_APPROVED = "leader_approved"
    REJECTED = "rejected"


# The calendar period kinds live with the calendar arithmetic (presswatch/periods.py).
Period = _CalendarPeriod


class Measure(StrEnum):
    COUNT = "count"
    POINTS = "points"


def enum_values(enum_cls: type[StrEnum]) -> list[Any]:
    return [m.value for m in enum_cls]
