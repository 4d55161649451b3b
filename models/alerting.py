"""Alert rules, alerts as cases with an audit history, the delivery outbox, correction requests,
risk plans (三同步) and digest records."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from models.base import Base, JSONType, TimestampMixin, utcnow
from models.enums import (
    AlertKind,
    CaseState,
    CorrectionState,
    DeliveryStatus,
    RiskLevel,
    db_enum,
)


class AlertRule(TimestampMixin, Base):
    __tablename__ = "alert_rules"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    group_name: Mapped[str | None] = mapped_column(String(100))
    enabled: Mapped[bool] = mapped_column(default=True)
    severity: Mapped[RiskLevel] = mapped_column(db_enum(RiskLevel, "alert_rule_severity"))
    # Conditions: min risk level, sentiment, topics, watch query, tiers, sources, languages.
    conditions: Mapped[dict[str, Any]] = mapped_column(default=dict)
    recipients: Mapped[list[dict[str, Any]]] = mapped_column(JSONType, default=list)
    channels: Mapped[list[str]] = mapped_column(JSONType, default=list)
    options: Mapped[dict[str, Any]] = mapped_column(default=dict)  # quiet hours, rate limit, merge window
    # The organization (unit) this belongs to: who may see and change it (models.scope).
    unit_id: Mapped[int | None] = mapped_column(ForeignKey("units.id", ondelete="SET NULL"), index=True)
    # "file" (alert_rules.yaml, mirrored by alerts.rules_file.sync_rules) or "web" (the admin pages /
    # `presswatch config import`; the file sync neither updates nor disables it).
    managed_by: Mapped[str] = mapped_column(String(16), default="file", server_default="file")


class Alert(TimestampMixin, Base):
    """An alert is also a case: new -> acknowledged -> responding -> resolved (or dismissed)."""

    __tablename__ = "alerts"
    __table_args__ = (
        # One alert per (rule, story): reposts update it instead of sending another.
        UniqueConstraint("dedupe_key"),
        Index("ix_alerts_state_deadline_at", "state", "deadline_at"),
        Index("ix_alerts_created_at", "created_at"),
        Index("ix_alerts_unit_id_state", "unit_id", "state"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    dedupe_key: Mapped[str] = mapped_column(String(200))
    kind: Mapped[AlertKind] = mapped_column(db_enum(AlertKind, "alert_kind"))
    rule_id: Mapped[int | None] = mapped_column(ForeignKey("alert_rules.id", ondelete="SET NULL"))
    story_id: Mapped[int | None] = mapped_column(ForeignKey("stories.id", ondelete="SET NULL"), index=True)
    article_id: Mapped[int | None] = mapped_column(ForeignKey("articles.id", ondelete="SET NULL"))
    source_id: Mapped[int | None] = mapped_column(ForeignKey("sources.id", ondelete="SET NULL"))
    severity: Mapped[RiskLevel] = mapped_column(db_enum(RiskLevel, "alert_severity"))
    title: Mapped[str] = mapped_column(Text)
    reason: Mapped[dict[str, Any]] = mapped_column(default=dict)
    state: Mapped[CaseState] = mapped_column(db_enum(CaseState, "case_state"), default=CaseState.NEW)
    assignee: Mapped[str | None] = mapped_column(String(100))
    response_line: Mapped[str | None] = mapped_column(Text)  # 应对口径
    deadline_at: Mapped[datetime | None]
    escalation_level: Mapped[int] = mapped_column(default=0)
    notified_count: Mapped[int] = mapped_column(default=0)
    resolved_at: Mapped[datetime | None]
    # The organization whose case this is (its rule's unit): who may see and act on it (models.scope).
    unit_id: Mapped[int | None] = mapped_column(ForeignKey("units.id", ondelete="SET NULL"))

    events: Mapped[list[AlertEvent]] = relationship(back_populates="alert", order_by="AlertEvent.id")


class AlertEvent(Base):
    """Case history: who did what when."""

    __tablename__ = "alert_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    alert_id: Mapped[int] = mapped_column(ForeignKey("alerts.id", ondelete="CASCADE"), index=True)
    at: Mapped[datetime] = mapped_column(default=utcnow)
    actor: Mapped[str] = mapped_column(String(100), default="system")
    action: Mapped[str] = mapped_column(String(50))
    from_state: Mapped[str | None] = mapped_column(String(32))
    to_state: Mapped[str | None] = mapped_column(String(32))
    note: Mapped[str | None] = mapped_column(Text)
    data: Mapped[dict[str, Any]] = mapped_column(default=dict)

    alert: Mapped[Alert] = relationship(back_populates="events")


class Delivery(Base):
    """The outbox: a message is sent only from here and marked sent only after the server accepted it."""

    __tablename__ = "deliveries"
    __table_args__ = (
        UniqueConstraint("idempotency_key"),
        Index("ix_deliveries_status_next_attempt_at", "status", "next_attempt_at"),
        Index("ix_deliveries_claimed_by", "claimed_by"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    idempotency_key: Mapped[str] = mapped_column(String(200))
    channel: Mapped[str] = mapped_column(String(32))  # email / webhook kinds
    recipient: Mapped[str] = mapped_column(String(500))
    language: Mapped[str] = mapped_column(String(16), default="zh-CN")
    subject: Mapped[str] = mapped_column(Text, default="")
    body_text: Mapped[str] = mapped_column(Text, default="")
    body_html: Mapped[str | None] = mapped_column(Text)
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)
    message_id: Mapped[str | None] = mapped_column(String(300))
    status: Mapped[DeliveryStatus] = mapped_column(
        db_enum(DeliveryStatus, "delivery_status"), default=DeliveryStatus.PENDING
    )
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_error: Mapped[str | None] = mapped_column(Text)
    sent_at: Mapped[datetime | None]
    alert_id: Mapped[int | None] = mapped_column(ForeignKey("alerts.id", ondelete="SET NULL"), index=True)
    digest_id: Mapped[int | None] = mapped_column(ForeignKey("digests.id", ondelete="SET NULL"), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # The sender (host:pid) holding the row while it is 'sending', and since when.
    claimed_by: Mapped[str | None] = mapped_column(String(200))
    claimed_at: Mapped[datetime | None]
    # Set just before the message's data goes to the server: an interrupted attempt is in doubt
    # (may have arrived) only when this is set.
    handed_over_at: Mapped[datetime | None]
    first_attempt_at: Mapped[datetime | None]  # transient failures give up give_up_after_hours after it
    priority: Mapped[int] = mapped_column(default=0, server_default="0")  # higher is claimed first
    hold_reason: Mapped[str | None] = mapped_column(String(300))  # quiet hours / merge window / rate limit


class WebhookEndpoint(TimestampMixin, Base):
    """An organization's outbound webhook: signed JSON POSTs of the events it subscribes to (alerts.hooks)."""

    __tablename__ = "webhook_endpoints"

    id: Mapped[int] = mapped_column(primary_key=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id", ondelete="CASCADE"), index=True)
    # Unique: the json channel finds a URL's signing secret by the URL (alerts.webhooks).
    url: Mapped[str] = mapped_column(String(500), unique=True)
    # The HMAC key; it must be readable to sign with, so it is stored as given (shown once).
    secret: Mapped[str] = mapped_column(String(200))
    events: Mapped[list[str]] = mapped_column(JSONType, default=list)
    enabled: Mapped[bool] = mapped_column(default=True)
    created_by: Mapped[str] = mapped_column(String(100), default="")


class DigestDefinitionRow(TimestampMixin, Base):
    """A digest definition made or changed in the admin pages; it wins over the digests file's entry
    of the same name (alerts.digest.definitions.all_definitions)."""

    __tablename__ = "digest_definitions"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    unit_id: Mapped[int | None] = mapped_column(ForeignKey("units.id", ondelete="SET NULL"), index=True)
    definition: Mapped[dict[str, Any]] = mapped_column(default=dict)  # as in digests.yaml, validated


class JobLease(Base):
    """A scheduler job that must run on one ``presswatch run`` instance at a time: who holds it, until when."""

    __tablename__ = "job_leases"

    name: Mapped[str] = mapped_column(String(100), primary_key=True)
    holder: Mapped[str] = mapped_column(String(200))
    acquired_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]


class CorrectionRequest(TimestampMixin, Base):
    """A request to an outlet to correct false information (cải chính), tracked like a case."""

    __tablename__ = "correction_requests"

    id: Mapped[int] = mapped_column(primary_key=True)
    outlet_id: Mapped[int | None] = mapped_column(ForeignKey("outlets.id", ondelete="SET NULL"), index=True)
    article_id: Mapped[int | None] = mapped_column(ForeignKey("articles.id", ondelete="SET NULL"))
    alert_id: Mapped[int | None] = mapped_column(ForeignKey("alerts.id", ondelete="SET NULL"))
    piece_url: Mapped[str | None] = mapped_column(Text)
    false_claim: Mapped[str] = mapped_column(Text, default="")
    state: Mapped[CorrectionState] = mapped_column(
        db_enum(CorrectionState, "correction_state"), default=CorrectionState.DRAFT
    )
    requested_at: Mapped[datetime | None]
    deadline_at: Mapped[datetime | None]
    outcome: Mapped[str | None] = mapped_column(Text)
    corrected_url: Mapped[str | None] = mapped_column(Text)
    history: Mapped[list[dict[str, Any]]] = mapped_column(JSONType, default=list)
    # The organization (unit) this belongs to: who may see and change it (models.scope).
    unit_id: Mapped[int | None] = mapped_column(ForeignKey("units.id", ondelete="SET NULL"), index=True)


class RiskPlan(TimestampMixin, Base):
    """三同步: a planned high-risk action opens a tighter monitoring window around its date."""

    __tablename__ = "risk_plans"
    __table_args__ = (Index("ix_risk_plans_window_start_window_end", "window_start", "window_end"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    place: Mapped[str] = mapped_column(String(200), default="")
    parties: Mapped[list[str]] = mapped_column(JSONType, default=list)
    keywords: Mapped[list[str]] = mapped_column(JSONType, default=list)
    action_at: Mapped[datetime]
    window_start: Mapped[datetime]
    window_end: Mapped[datetime]
    # Tighter rules while open: lower thresholds, extra watch queries, faster polling of named sources.
    overrides: Mapped[dict[str, Any]] = mapped_column(default=dict)
    state: Mapped[str] = mapped_column(String(32), default="planned")  # planned / open / closed
    # The organization (unit) this belongs to: who may see and change it (models.scope).
    unit_id: Mapped[int | None] = mapped_column(ForeignKey("units.id", ondelete="SET NULL"), index=True)


class Digest(Base):
    """One digest per definition per period, so a restart never sends it twice."""

    __tablename__ = "digests"
    __table_args__ = (UniqueConstraint("name", "period_start"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    language: Mapped[str] = mapped_column(String(16))
    period_start: Mapped[datetime]
    period_end: Mapped[datetime]
    status: Mapped[str] = mapped_column(String(32), default="built")  # built / queued / sent
    stats: Mapped[dict[str, Any]] = mapped_column(default=dict)
    html_path: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    sent_at: Mapped[datetime | None]
    # The organization (unit) this belongs to: who may see and change it (models.scope).
    unit_id: Mapped[int | None] = mapped_column(ForeignKey("units.id", ondelete="SET NULL"), index=True)


class AlertCursor(Base):
    """How far the alerts stage has read a growing table (e.g. classifications), per reader."""

    __tablename__ = "alert_cursors"

    name: Mapped[str] = mapped_column(String(100), primary_key=True)
    position: Mapped[int] = mapped_column(default=0)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
