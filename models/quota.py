"""Units and people, quota rules, registrations of published pieces and computed scores."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import Date, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from models.base import Base, JSONType, TimestampMixin, utcnow
from models.enums import (
    Adoption,
    Measure,
    OutletTier,
    Period,
    PieceKind,
    RegistrationState,
    UnitKind,
    db_enum,
)


class Unit(TimestampMixin, Base):
    """A section, office, station, court, team, township or member unit; a hierarchy."""

    __tablename__ = "units"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(100), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[UnitKind] = mapped_column(db_enum(UnitKind, "unit_kind"))
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("units.id", ondelete="SET NULL"), index=True)
    aliases: Mapped[list[str]] = mapped_column(JSONType, default=list)  # names used in bylines
    active: Mapped[bool] = mapped_column(default=True)
    # Who hears about this unit's quotas: [{"email": ..., "language": "zh-CN"|"vi"|"en"}].
    contacts: Mapped[list[dict[str, Any]]] = mapped_column(JSONType, default=list)

    parent: Mapped[Unit | None] = relationship(remote_side="Unit.id", foreign_keys=[parent_id])
    history: Mapped[list[UnitHistory]] = relationship(
        back_populates="unit", order_by="UnitHistory.valid_from", foreign_keys="UnitHistory.unit_id"
    )


class UnitHistory(Base):
    """Name and parent of a unit over time, so a mid-year rename or move keeps past counts right."""

    __tablename__ = "unit_history"
    __table_args__ = (Index("ix_unit_history_unit_id_valid_from", "unit_id", "valid_from"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(200))
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("units.id", ondelete="SET NULL"))
    valid_from: Mapped[datetime]
    valid_to: Mapped[datetime | None]

    unit: Mapped[Unit] = relationship(back_populates="history", foreign_keys=[unit_id])


class Person(TimestampMixin, Base):
    """An author or correspondent (通讯员) belonging to a unit."""

    __tablename__ = "people"
    __table_args__ = (UniqueConstraint("unit_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id", ondelete="CASCADE"))
    role: Mapped[str] = mapped_column(String(32), default="correspondent")
    active: Mapped[bool] = mapped_column(default=True)


class QuotaRule(TimestampMixin, Base):
    """Who must publish what, how much, per which period, and whether unregistered pieces count."""

    __tablename__ = "quota_rules"

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(100), unique=True)
    name: Mapped[str] = mapped_column(String(300))
    # Who: one unit, or every unit of a kind (optionally under a parent).
    unit_id: Mapped[int | None] = mapped_column(ForeignKey("units.id", ondelete="CASCADE"))
    unit_kind: Mapped[UnitKind | None] = mapped_column(db_enum(UnitKind, "quota_unit_kind"))
    parent_unit_id: Mapped[int | None] = mapped_column(ForeignKey("units.id", ondelete="CASCADE"))
    # What: an outlet or an outlet tier, a piece kind, topics from the classifier (any one counts).
    outlet_id: Mapped[int | None] = mapped_column(ForeignKey("outlets.id", ondelete="CASCADE"))
    outlet_tier: Mapped[OutletTier | None] = mapped_column(db_enum(OutletTier, "quota_outlet_tier"))
    piece_kind: Mapped[PieceKind | None] = mapped_column(db_enum(PieceKind, "quota_piece_kind"))
    topics: Mapped[list[str]] = mapped_column(JSONType, default=list)
    max_chars: Mapped[int | None] = mapped_column(Integer)
    # How much.
    measure: Mapped[Measure] = mapped_column(db_enum(Measure, "quota_measure"), default=Measure.COUNT)
    target: Mapped[float]
    weights: Mapped[dict[str, Any]] = mapped_column(default=dict)  # e.g. {"standalone": 10, "combined": 3}
    period: Mapped[Period] = mapped_column(db_enum(Period, "quota_period"))
    timezone: Mapped[str] = mapped_column(String(64), default="Asia/Shanghai")
    registered_only: Mapped[bool] = mapped_column(default=True)
    review_required: Mapped[bool] = mapped_column(default=False)
    # Only pieces the crawler found on the outlet count (a registration alone is not enough).
    verified_only: Mapped[bool] = mapped_column(default=False)
    # A rule on one unit also counts the pieces of the units under it (a court and its teams).
    include_subunits: Mapped[bool] = mapped_column(default=False)
    active_from: Mapped[date | None] = mapped_column(Date)
    active_to: Mapped[date | None] = mapped_column(Date)
    # The coordinating office that gets every unit's table and ranking each month / quarter.
    announce_unit_id: Mapped[int | None] = mapped_column(ForeignKey("units.id", ondelete="SET NULL"))
    # The organization that owns the rule (may edit it, sees it): its unit, else its parent unit, else
    # the installation's organization (models.scope); distinct from `unit_id`, whom the rule counts.
    owner_unit_id: Mapped[int | None] = mapped_column(ForeignKey("units.id", ondelete="SET NULL"), index=True)


class Registration(TimestampMixin, Base):
    """A published piece registered by staff (or proposed from a crawled byline)."""

    __tablename__ = "registrations"
    __table_args__ = (
        Index("ix_registrations_unit_id_published_at", "unit_id", "published_at"),
        Index("ix_registrations_url_hash", "url_hash"),
        Index("ix_registrations_published_at", "published_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id", ondelete="RESTRICT"))
    outlet_id: Mapped[int | None] = mapped_column(ForeignKey("outlets.id", ondelete="SET NULL"), index=True)
    url: Mapped[str | None] = mapped_column(Text)
    url_hash: Mapped[str | None] = mapped_column(String(64))
    title: Mapped[str] = mapped_column(Text, default="")
    authors: Mapped[list[str]] = mapped_column(JSONType, default=list)
    kind: Mapped[PieceKind] = mapped_column(db_enum(PieceKind, "piece_kind"), default=PieceKind.NEWS)
    adoption: Mapped[Adoption] = mapped_column(db_enum(Adoption, "adoption"), default=Adoption.NONE)
    published_at: Mapped[datetime]
    char_count: Mapped[int | None] = mapped_column(Integer)
    state: Mapped[RegistrationState] = mapped_column(
        db_enum(RegistrationState, "registration_state"), default=RegistrationState.SUBMITTED
    )
    registered_by: Mapped[str] = mapped_column(String(100), default="")
    registered_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Verification: the crawler found the piece on that outlet.
    article_id: Mapped[int | None] = mapped_column(ForeignKey("articles.id", ondelete="SET NULL"), index=True)
    # The story of that article (its reposts), copied when the article is matched: an article's
    # story is fixed when it is stored, and counting one piece per story then reads no article rows.
    story_id: Mapped[int | None] = mapped_column(ForeignKey("stories.id", ondelete="SET NULL"))
    verified_at: Mapped[datetime | None]
    verification: Mapped[dict[str, Any]] = mapped_column(default=dict)  # method, score, matched fields
    review_history: Mapped[list[dict[str, Any]]] = mapped_column(JSONType, default=list)
    note: Mapped[str | None] = mapped_column(Text)


class Score(Base):
    """A unit's progress against a rule for one period (a cache of an auditable computation)."""

    __tablename__ = "scores"
    __table_args__ = (UniqueConstraint("rule_id", "unit_id", "period_start"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    rule_id: Mapped[int] = mapped_column(ForeignKey("quota_rules.id", ondelete="CASCADE"))
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id", ondelete="CASCADE"), index=True)
    period_start: Mapped[datetime]
    period_end: Mapped[datetime]
    count: Mapped[int] = mapped_column(default=0)
    points: Mapped[float] = mapped_column(default=0.0)
    target: Mapped[float] = mapped_column(default=0.0)
    # The registrations / articles behind the number, so every count is auditable.
    evidence: Mapped[list[int]] = mapped_column(JSONType, default=list)
    # Digest of period end, count, points, target and evidence (quota.scoring.score_digest): a
    # status run compares it and writes only the rows whose figures changed.
    evidence_hash: Mapped[str] = mapped_column(String(32), default="", server_default="")
    computed_at: Mapped[datetime] = mapped_column(default=utcnow)
