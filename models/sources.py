"""Outlets (who publishes), sources (where we crawl them), crawl runs and raw snapshots."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, Integer, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from models.base import Base, JSONType, TimestampMixin, utcnow
from models.enums import OutletChannel, OutletTier, SourceKind, db_enum


class Outlet(TimestampMixin, Base):
    """A publisher: a newspaper, a TV station's site, a portal, an official WeChat/Weibo account."""

    __tablename__ = "outlets"

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(100), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    tier: Mapped[OutletTier] = mapped_column(db_enum(OutletTier, "outlet_tier"), default=OutletTier.OTHER)
    channel: Mapped[OutletChannel] = mapped_column(
        db_enum(OutletChannel, "outlet_channel"), default=OutletChannel.WEBSITE
    )
    language: Mapped[str] = mapped_column(String(16), default="zh")
    domains: Mapped[list[str]] = mapped_column(JSONType, default=list)
    # An own channel (the bureau's website, the court's WeChat account) belongs to a unit.
    unit_id: Mapped[int | None] = mapped_column(ForeignKey("units.id", ondelete="SET NULL"), index=True)
    # Audience weight used by the risk score (1.0 = a county paper).
    reach: Mapped[float] = mapped_column(default=1.0)

    sources: Mapped[list[Source]] = relationship(back_populates="outlet")


class Source(TimestampMixin, Base):
    """One thing we crawl, declared as data (sources.yaml mirrors into this table)."""

    __tablename__ = "sources"

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(100), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[SourceKind] = mapped_column(db_enum(SourceKind, "source_kind"))
    outlet_id: Mapped[int | None] = mapped_column(ForeignKey("outlets.id", ondelete="SET NULL"), index=True)
    language: Mapped[str] = mapped_column(String(16), default="zh")
    timezone: Mapped[str] = mapped_column(String(64), default="Asia/Shanghai")
    enabled: Mapped[bool] = mapped_column(default=True)
    interval_minutes: Mapped[int | None] = mapped_column(Integer)
    # Kind-specific declaration: start_urls, selectors, link pattern, field mapping ...
    config: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # The organization (unit) whose source this is: who may see and change it (models.scope).
    unit_id: Mapped[int | None] = mapped_column(ForeignKey("units.id", ondelete="SET NULL"), index=True)
    # Who owns the row: "file" (sources.yaml, mirrored by crawlers.registry.sync_registry) or "web"
    # (the admin pages / `presswatch config import`; the file sync leaves it alone).
    managed_by: Mapped[str] = mapped_column(String(16), default="file", server_default="file")

    # Conditional GET state for feeds.
    http_etag: Mapped[str | None] = mapped_column(String(300))
    http_last_modified: Mapped[str | None] = mapped_column(String(100))

    # Health: silence must never look like a quiet news day.
    last_attempt_at: Mapped[datetime | None]
    last_success_at: Mapped[datetime | None]
    last_item_count: Mapped[int | None] = mapped_column(Integer)
    consecutive_failures: Mapped[int] = mapped_column(default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    health: Mapped[str] = mapped_column(String(32), default="unknown")  # ok / warning / failing / unknown

    # Crawl worker schedule (crawlers/schedule.py decides, crawlers/frontier.py claims): when the
    # source is next due, the interval learned from its history, and which worker holds it until
    # when (a claim whose worker died lapses at claimed_until and the poll returns to the frontier).
    next_poll_at: Mapped[datetime | None] = mapped_column(index=True)
    poll_interval_seconds: Mapped[int | None] = mapped_column(Integer)
    claimed_by: Mapped[str | None] = mapped_column(String(200))
    claimed_until: Mapped[datetime | None]

    outlet: Mapped[Outlet | None] = relationship(back_populates="sources")


class CrawlRun(Base):
    """One crawl of one source: what came back and what went wrong."""

    __tablename__ = "crawl_runs"
    __table_args__ = (
        Index("ix_crawl_runs_source_id_started_at", "source_id", "started_at"),
        Index("ix_crawl_runs_started_at", "started_at"),  # the retention purge (crawlers.health.purge_runs)
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    source_id: Mapped[int] = mapped_column(ForeignKey("sources.id", ondelete="CASCADE"))
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None]
    status: Mapped[str] = mapped_column(String(32), default="running")  # running / ok / empty / failed
    pages_fetched: Mapped[int] = mapped_column(default=0)
    items_found: Mapped[int] = mapped_column(default=0)
    items_new: Mapped[int] = mapped_column(default=0)
    errors: Mapped[list[Any]] = mapped_column(JSONType, default=list)
    # listed but not handed on, by reason ({"no link, guid or text": 2, "already stored": 14})
    skipped: Mapped[dict[str, int] | None] = mapped_column(JSONType, default=dict)


class Snapshot(Base):
    """A raw page as fetched, compressed and content-addressed (the evidence behind an article)."""

    __tablename__ = "snapshots"

    id: Mapped[int] = mapped_column(primary_key=True)
    sha256: Mapped[str] = mapped_column(String(64), unique=True)
    content_type: Mapped[str | None] = mapped_column(String(100))
    encoding: Mapped[str | None] = mapped_column(String(40))
    size_bytes: Mapped[int]
    compression: Mapped[str] = mapped_column(String(16), default="gzip")
    # Inline for small pages; a path under pipeline.snapshot_dir otherwise.
    data: Mapped[bytes | None] = mapped_column(LargeBinary)
    path: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
