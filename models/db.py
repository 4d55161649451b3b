"""Engines, sessions and migrations.

The default store is a SQLite file under ``./var`` (created on first use, WAL mode so readers do
not block the writer); one URL setting switches to PostgreSQL. Sessions live outside the data
code: a job opens ``with session_scope(engine) as session`` and repository functions never commit.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


class DatabaseError(Exception):
    """The database cannot be reached, or its schema is not the one this code expects."""


def _sqlite_pragmas(dbapi_conn: Any, _record: Any, busy_timeout_ms: int) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute(f"PRAGMA busy_timeout={busy_timeout_ms}")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.close()


def make_engine(url: str, echo: bool = False, sqlite_busy_timeout_seconds: float = 30.0,
                connect_timeout_seconds: int = 10) -> Engine:
    """An engine for ``url``; for a SQLite file, its folder is created and WAL is switched on."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, echo=echo)
        busy_ms = int(sqlite_busy_timeout_seconds * 1000)
        event.listen(
            engine, "connect", lambda c, r: _sqlite_pragmas(c, r, busy_ms)
        )
        return engine
    if parsed.get_backend_name() == "postgresql" and parsed.drivername == "postgresql":
        parsed = parsed.set(drivername="postgresql+psycopg")  # psycopg 3 is what we install, not psycopg2
    return create_engine(parsed, echo=echo, pool_pre_ping=True, future=True,
                         connect_args={"connect_timeout": connect_timeout_seconds})


@functools.cache
def engine_for(url: str, echo: bool = False, connect_timeout_seconds: int = 10) -> Engine:
    """One engine per URL per process."""
    return make_engine(url, echo=echo, connect_timeout_seconds=connect_timeout_seconds)


def get_engine(*, create: bool = True) -> Engine:
    """The engine for the configured database, migrated to the latest schema on first use.

    Only commands that write (``init``, ``run``, ``crawl``, ``import``...) pass ``create=True``: a
    read command never creates a database. Otherwise ``presswatch cases list`` run in the wrong
    folder made an empty ``var/presswatch.db`` and answered "no open cases", telling a duty
    officer all was quiet. Connection failures name the ``db.url`` setting in one line.
    """
    from settings import get_loaded_settings

    loaded = get_loaded_settings()
    db = loaded.settings.db
    url = absolute_sqlite_url(db.url)
    origin = loaded.origins.get("db.url", "default")
    if not create:
        _require_sqlite_file(url, origin, loaded.config_file)
    engine = engine_for(url, db.echo, db.connect_timeout_seconds)
    if url not in _ready:
        try:
            if not create and current_revision(engine) is None:
                raise DatabaseError(
                    f"db.url (from {origin}): {_shown(url)} holds no presswatch schema; "
                    "run 'presswatch db upgrade' (or 'presswatch init') to create it")
            ensure_schema(engine)
        except DBAPIError as exc:
            raise DatabaseError(connect_error(url, origin, exc)) from None
        _ready.add(url)
    return engine


_ready: set[str] = set()


def _shown(url: str) -> str:
    return make_url(url).render_as_string(hide_password=True)


def _require_sqlite_file(url: str, origin: str, config_file: Path | None) -> None:
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or not parsed.database or parsed.database == ":memory:":
        return
    if Path(parsed.database).is_file():
        return
    if config_file is None and origin == "default":
        from settings import CONFIG_FILE_ENV, DEFAULT_CONFIG_FILE

        raise DatabaseError(
            f"no {DEFAULT_CONFIG_FILE} in {Path.cwd()} ({CONFIG_FILE_ENV} and PRESSWATCH_DB__URL are not set) "
            f"and no database at {parsed.database}: run this in the folder holding your {DEFAULT_CONFIG_FILE}, "
            f"pass --config FILE, or run 'presswatch init' to set up a new one here")
    raise DatabaseError(
        f"db.url (from {origin}): no database file at {parsed.database}; "
        "run 'presswatch db upgrade' (or 'presswatch init') to create it")


def connect_error(url: str, origin: str, exc: BaseException) -> str:
    """One line naming the setting, for a database that cannot be reached or refuses us."""
    raw = str(getattr(exc, "orig", None) or exc)
    lines = [line.strip() for line in raw.splitlines() if line.strip()]
    detail = lines[0] if lines else type(exc).__name__
    low = raw.lower()
    if "password authentication failed" in low or "authentication failed" in low:
        detail = "the server refused the user name or password"
    elif "connection refused" in low:
        detail = "connection refused (is the server running, and is the host and port right?)"
    elif "could not translate host name" in low or "name or service not known" in low \
            or "nodename nor servname" in low:
        detail = "unknown host name"
    elif "timeout" in low or "timed out" in low:
        detail = "no answer from the server (timed out)"
    elif "does not exist" in low and "database" in low:
        detail = lines[0] if lines else detail
    if len(detail) > 200:
        detail = detail[:200] + "…"
    return f"db.url (from {origin}): cannot use {_shown(url)}: {detail}"


def absolute_sqlite_url(url: str) -> str:
    """Resolve a relative SQLite path against the current directory, so one cached engine never
    serves two different files (``sqlite:///var/presswatch.db`` means ./var of where you run it)."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or not parsed.database or parsed.database == ":memory:":
        return url
    path = Path(parsed.database)
    if path.is_absolute():
        return url
    return parsed.set(database=str(path.resolve())).render_as_string(hide_password=False)


def savepoint(session: Session) -> Any:
    """``session.begin_nested()`` that really nests on SQLite too.

    pysqlite opens a transaction only right before an INSERT/UPDATE/DELETE, so a SAVEPOINT issued
    before the transaction's first write opens one of its own, and its RELEASE commits: the
    caller's later rollback would not undo what was written under it. Here the transaction is
    begun first, so the savepoint nests and the caller's commit or rollback decides."""
    conn = session.connection()
    if conn.dialect.name == "sqlite":
        dbapi = conn.connection.dbapi_connection
        if dbapi is not None and not dbapi.in_transaction:
            conn.exec_driver_sql("BEGIN")
    return session.begin_nested()


def advisory_xact_lock(session: Session, name: str) -> None:
    """Hold a PostgreSQL advisory lock named ``name`` until the session's transaction ends, so
    processes doing the same upkeep (syncing a rules file into its table) take turns instead of
    colliding on a UNIQUE key. SQLite serializes writers anyway: nothing to do there."""
    if session.get_bind().dialect.name != "postgresql":
        return
    from sqlalchemy import text

    session.execute(text("SELECT pg_advisory_xact_lock(hashtext(:name))"), {"name": name})


def session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(bind=engine, expire_on_commit=False)


@contextmanager
def session_scope(engine: Engine | None = None) -> Iterator[Session]:
    """A unit of work: commits on success, rolls back on error."""
    factory = session_factory(engine or get_engine())
    with factory.begin() as session:
        yield session


def alembic_config(url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def upgrade(url: str, revision: str = "head", engine: Engine | None = None) -> None:
    """Bring the schema at ``url`` to ``revision`` (head by default)."""
    cfg = alembic_config(url)
    engine = engine or make_engine(url)
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def head_revision() -> str | None:
    return ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()


# pg_advisory_xact_lock key: processes starting at once on a new PostgreSQL database (two
# `presswatch run` instances) migrate it one after the other, not both at the same time.
MIGRATION_LOCK_KEY = 7_234_001


def ensure_schema(engine: Engine) -> None:
    """Create or upgrade the schema on first use (the embedded default needs zero set-up)."""
    head = head_revision()
    if current_revision(engine) == head:
        return
    url = str(engine.url.render_as_string(hide_password=False))
    if engine.dialect.name != "postgresql":
        upgrade(url, engine=engine)
        return
    from sqlalchemy import text

    with engine.begin() as conn:
        conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK_KEY})
        if MigrationContext.configure(conn).get_current_revision() == head:
            return  # another process migrated it while we waited
        cfg = alembic_config(url)
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")
