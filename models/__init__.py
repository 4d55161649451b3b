"""The SQLAlchemy 2.0 typed ORM for the whole domain, the engine/session helpers and migrations.

Repository functions elsewhere take a ``Session`` and never commit; jobs open ``with
session_scope(...)`` (see :mod:`models.db`). Schema changes go through alembic migrations in
``models/migrations``.
"""

from models.accounts import ApiKey, AuditEntry, Grant, LoginAttempt, Role, SharedLink, User, WebSession
from models.alerting import (
    Alert,
    AlertCursor,
    AlertEvent,
    AlertRule,
    CorrectionRequest,
    Delivery,
    Digest,
    DigestDefinitionRow,
    JobLease,
    RiskPlan,
    WebhookEndpoint,
)
from models.articles import Article, Classification, FingerprintBand, Label, Story, StoryDecision, StoryKey, WatchQuery
from models.base import Base, UTCDateTime, utcnow
from models.quota import Person, QuotaRule, Registration, Score, Unit, UnitHistory
from models.sources import CrawlRun, Outlet, Snapshot, Source
from models.stream import ArticleMatch, ArticleTag, SavedSearch, StreamRead, StreamReadMarker

__all__ = [
    "Alert",
    "AlertCursor",
    "AlertEvent",
    "AlertRule",
    "ApiKey",
    "Article",
    "ArticleMatch",
    "ArticleTag",
    "AuditEntry",
    "Base",
    "Classification",
    "CorrectionRequest",
    "CrawlRun",
    "Delivery",
    "Digest",
    "DigestDefinitionRow",
    "FingerprintBand",
    "Grant",
    "JobLease",
    "Label",
    "LoginAttempt",
    "Outlet",
    "Person",
    "QuotaRule",
    "Registration",
    "RiskPlan",
    "Role",
    "SavedSearch",
    "Score",
    "SharedLink",
    "Snapshot",
    "Source",
    "Story",
    "StoryDecision",
    "StoryKey",
    "StreamRead",
    "StreamReadMarker",
    "UTCDateTime",
    "Unit",
    "UnitHistory",
    "User",
    "WatchQuery",
    "WebSession",
    "WebhookEndpoint",
    "utcnow",
]
