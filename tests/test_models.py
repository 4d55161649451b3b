"""The schema: migrations agree with the ORM, timestamps are UTC-aware, unique keys hold."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

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


def _downgrade(url: str, engine: Engine, revision: str) -> None:
    """Take the schema at ``url`` down to ``revision`` (a migration test then upgrades it again)."""
    from alembic import command

    from models.db import alembic_config

    cfg = alembic_config(url)
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, revision)


@pytest.fixture(params=["sqlite", "postgresql"])
def scratch_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A database of its own (migrations are run up and down on it), per backend."""
    from tests.conftest import POSTGRES_URL, _create_pg_database, _drop_pg_database

    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'scratch.db'}"
        return
    if not POSTGRES_URL:
        pytest.skip("PRESSWATCH_TEST_POSTGRES_URL is not set")
    url, name = _create_pg_database(POSTGRES_URL)
    try:
        yield url
    finally:
        from models.db import engine_for

        engine_for.cache_clear()
        _drop_pg_database(POSTGRES_URL, name)


def test_migration_gives_existing_registrations_their_article_story(scratch_url: str) -> None:
    """Registrations stored before 0008 get the story of their article, so counting stays one per story."""

    from models import Registration
    from models.db import make_engine, upgrade
    from tests import factories

    upgrade(scratch_url)
    engine = make_engine(scratch_url)
    with Session(engine) as s:
        story = factories.story(s, title="执行不能案件通报")
        in_story = factories.article(s, story_id=story.id)
        alone = factories.article(s)
        unit = factories.unit(s)
        now = datetime.now(UTC)
        for art in (in_story, alone, None):
            s.add(Registration(unit_id=unit.id, title="t", published_at=now, article_id=art.id if art else None))
        s.commit()
        story_id = story.id
    _downgrade(scratch_url, engine, "0007b")
    upgrade(scratch_url, engine=engine)
    with Session(engine) as s:
        got = s.scalars(select(Registration.story_id).order_by(Registration.id)).all()
    engine.dispose()
    assert got == [story_id, None, None]


def test_migration_rehashes_registration_urls_in_the_pipeline_form(scratch_url: str) -> None:
    """Registrations stored before 0009 get their URL hash in the form articles are keyed by."""
    from models import Registration
    from models.db import make_engine, upgrade
    from pipeline.urls import canonical_url, url_hash

    upgrade(scratch_url, "0008")
    engine = make_engine(scratch_url)
    pasted = "https://News.example.cn/a/1.html?utm_source=wechat&id=3#top"
    with engine.begin() as conn:
        unit_id = conn.execute(text(
            "INSERT INTO units (code, name, kind, aliases, contacts, active, created_at, updated_at)"
            " VALUES ('u1', 'U', 'section', '[]', '[]', true, :now, :now) RETURNING id"
        ), {"now": datetime.now(UTC)}).scalar_one()
        conn.execute(text(
            "INSERT INTO registrations (unit_id, url, url_hash, title, authors, kind, adoption, published_at, state,"
            " registered_by, registered_at, verification, review_history, created_at, updated_at)"
            " VALUES (:u, :url, 'old-form', '', '[]', 'news', 'none', :now, 'submitted', '', :now, '{}', '[]',"
            " :now, :now)"
        ), {"u": unit_id, "url": pasted, "now": datetime.now(UTC)})
    upgrade(scratch_url, engine=engine)
    with Session(engine) as s:
        got = s.scalar(select(Registration.url_hash))
    engine.dispose()
    assert got == url_hash(canonical_url("https://news.example.cn/a/1.html?id=3"))


def test_migration_turns_a_rule_topic_into_a_topics_list_and_back(scratch_url: str) -> None:

    from models import QuotaRule
    from models.db import make_engine, upgrade

    upgrade(scratch_url, "0010")
    engine = make_engine(scratch_url)
    with engine.begin() as conn:
        for key, topic in (("weekly", "unenforceable"), ("any", None)):
            conn.execute(text(
                "INSERT INTO quota_rules (key, name, measure, target, weights, period, timezone, registered_only,"
                " review_required, verified_only, include_subunits, topic, created_at, updated_at)"
                " VALUES (:k, :k, 'count', 1, '{}', 'week', 'Asia/Shanghai', true, false, false, false, :t, :now, :now)"
            ), {"k": key, "t": topic, "now": datetime.now(UTC)})
    upgrade(scratch_url, engine=engine)
    with Session(engine) as s:
        assert dict(s.execute(select(QuotaRule.key, QuotaRule.topics)).all()) == {
            "weekly": ["unenforceable"], "any": []}
    _downgrade(scratch_url, engine, "0010")
    with engine.connect() as conn:
        got = dict(conn.execute(text("SELECT key, topic FROM quota_rules")).all())
    engine.dispose()
    assert got == {"weekly": "unenforceable", "any": None}


def test_migration_marks_existing_classifications_as_reading_the_present_text(scratch_url: str) -> None:
    """0015: classifications stored before it record their article's present content hash, so the
    upgrade does not send the whole archive back to the classifier; an edit afterwards does."""

    from classify.service import pending_articles
    from models import Article, Classification
    from models.db import make_engine, upgrade
    from tests import factories

    upgrade(scratch_url)
    engine = make_engine(scratch_url)
    with Session(engine) as s:
        classified = factories.article(s, content_hash="a" * 64)
        factories.classification(s, classified)
        factories.article(s, content_hash="b" * 64)  # never classified
        s.commit()
        classified_id = classified.id
    _downgrade(scratch_url, engine, "0014")
    upgrade(scratch_url, engine=engine)
    with Session(engine) as s:
        assert s.scalar(select(Classification.content_hash)) == "a" * 64
        assert [a.content_hash for a in pending_articles(s)] == ["b" * 64]
        art = s.get(Article, classified_id)
        assert art is not None
        art.content_hash = "c" * 64  # the pipeline stored an edit
        s.flush()
        assert sorted(a.content_hash or "" for a in pending_articles(s)) == ["b" * 64, "c" * 64]
    engine.dispose()


def test_migration_puts_a_single_organization_install_into_one_organization(scratch_url: str) -> None:
    """0020: an install from before accounts had units at the top level and unowned rules and
    cases; after the upgrade the units hang under one organization and every row belongs to it."""
    from sqlalchemy import create_engine, text

    from models.db import upgrade

    upgrade(scratch_url, "0070")
    eng = create_engine(scratch_url)
    now = "2026-01-01 00:00:00"
    with eng.begin() as conn:
        for code in ("press", "exec"):
            conn.execute(text("INSERT INTO units (code, name, kind, aliases, active, contacts, created_at, updated_at) "
                              "VALUES (:c, :c, 'section', '[]', :t, '[]', :now, :now)"), {"c": code, "now": now, "t": True})
        conn.execute(text("INSERT INTO alert_rules (name, enabled, severity, conditions, recipients, channels, options, "
                          "created_at, updated_at) VALUES ('r', :t, 'high', '{}', '[]', '[]', '{}', :now, :now)"),
                     {"now": now, "t": True})
        conn.execute(text("INSERT INTO alerts (dedupe_key, kind, severity, title, reason, state, escalation_level, "
                          "notified_count, created_at, updated_at) VALUES ('k', 'story', 'high', 't', '{}', 'new', 0, 0, "
                          ":now, :now)"), {"now": now})
    upgrade(scratch_url, "head")
    with eng.connect() as conn:
        org = conn.execute(text("SELECT id, name FROM units WHERE code = 'organization'")).one()
        parents = set(conn.execute(text("SELECT parent_id FROM units WHERE code IN ('press', 'exec')")).scalars())
        assert parents == {org.id}
        assert conn.execute(text("SELECT count(*) FROM units WHERE parent_id IS NULL")).scalar_one() == 1
        assert conn.execute(text("SELECT unit_id FROM alert_rules")).scalar_one() == org.id
        assert conn.execute(text("SELECT unit_id FROM alerts")).scalar_one() == org.id
    eng.dispose()


def test_migration_gives_rows_to_the_single_existing_root(scratch_url: str) -> None:
    from sqlalchemy import create_engine, text

    from models.db import upgrade

    upgrade(scratch_url, "0070")
    eng = create_engine(scratch_url)
    now = "2026-01-01 00:00:00"
    with eng.begin() as conn:
        conn.execute(text("INSERT INTO units (code, name, kind, aliases, active, contacts, created_at, updated_at) "
                          "VALUES ('court', '儋州市人民法院', 'court', '[]', :t, '[]', :now, :now)"), {"now": now, "t": True})
        conn.execute(text("INSERT INTO watch_queries (name, query, purpose, enabled, priority, created_at, updated_at) "
                          "VALUES ('org', '儋州法院', 'org', :t, 0, :now, :now)"), {"now": now, "t": True})
    upgrade(scratch_url, "head")
    with eng.connect() as conn:
        court = conn.execute(text("SELECT id FROM units WHERE code = 'court'")).scalar_one()
        assert conn.execute(text("SELECT count(*) FROM units")).scalar_one() == 1  # nothing invented
        assert conn.execute(text("SELECT unit_id FROM watch_queries")).scalar_one() == court
    eng.dispose()
