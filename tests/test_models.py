"""The schema: migrations agree with the ORM, timestamps are UTC-aware, unique keys hold."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, select, text
from sqlalchemy.exc import IntegrityError, StatementError
from sqlalchemy.orm import Session

from models import Article, Base, Outlet, Source
from models.enums import OutletTier, SourceKind


def test_migrations_match_models(engine: Engine) -> None:
    with engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"compare_type": True})
        diff = compare_metadata(ctx, Base.metadata)
    assert diff == [], f"models and migrations disagree: {diff}"


def test_timestamps_round_trip_as_aware_utc(session: Session) -> None:
    shanghai = timezone(timedelta(hours=8))
    outlet = Outlet(key="fzsb", name="法制时报", tier=OutletTier.PROVINCIAL)
    session.add(outlet)
    session.flush()
    art = Article(
        outlet_id=outlet.id, url="https://x.cn/a", canonical_url="https://x.cn/a", url_hash="h1",
        title="t", published_at=datetime(2024, 5, 14, 8, 30, tzinfo=shanghai),
    )
    session.add(art)
    session.flush()
    session.expire_all()
    loaded = session.scalars(select(Article).where(Article.url_hash == "h1")).one()
    assert loaded.published_at == datetime(2024, 5, 14, 0, 30, tzinfo=UTC)
    assert loaded.published_at is not None and loaded.published_at.tzinfo is not None


def test_naive_datetime_is_refused(session: Session) -> None:
    session.add(Article(url="u", canonical_url="u", url_hash="h2", published_at=datetime(2024, 1, 1)))
    with pytest.raises(Exception, match="naive datetime"):
        session.flush()


def test_duplicate_canonical_url_is_refused(session: Session) -> None:
    session.add(Article(url="u", canonical_url="u", url_hash="same"))
    session.flush()
    session.add(Article(url="u2", canonical_url="u", url_hash="same"))
    with pytest.raises(IntegrityError):
        session.flush()


def test_enum_values_are_checked(session: Session) -> None:
    session.add(Source(key="s", name="s", kind=SourceKind.FEED))
    session.flush()
    with pytest.raises(StatementError, match="carrier-pigeon"):  # refused by the ORM
        session.add(Source(key="t", name="t", kind="carrier-pigeon"))
        session.flush()
    session.rollback()
    with pytest.raises(IntegrityError):  # and by the database's CHECK constraint
        session.execute(text(
            "INSERT INTO sources (key, name, kind, language, timezone, enabled, config, "
            "consecutive_failures, health, created_at, updated_at) VALUES "
            "('u', 'u', 'carrier-pigeon', 'zh', 'UTC', true, '{}', 0, 'ok', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
        ))
