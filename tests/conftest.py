"""Shared fixtures.

Databases: every test that asks for ``session`` runs on SQLite, and again on PostgreSQL when
``PRESSWATCH_TEST_POSTGRES_URL`` is set. Each backend is migrated once per test session (through
the real migrations, into a throwaway database), and each test runs inside a transaction that is
rolled back afterwards, so tests never see each other's rows.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

os.environ.setdefault("TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS", "")

REPO_ROOT = Path(__file__).resolve().parents[1]
# The labelled public data sets (see shared/data/README.md): beside the checkout (CI's clone), or
# the team's shared folder. Tests that read them say so; the product has no default for it.
SHARED_DATA = next((p for p in (REPO_ROOT.parent / "shared" / "data", Path("/work/shared/data")) if p.is_dir()),
                   REPO_ROOT.parent / "shared" / "data")
POSTGRES_URL = os.environ.get("PRESSWATCH_TEST_POSTGRES_URL", "")
BACKENDS = ["sqlite"] + (["postgresql"] if POSTGRES_URL else [])


def subprocess_env(**extra: str) -> dict[str, str]:
    """Environment for running ``python -m presswatch.cli`` from a test: this checkout's code first,
    no PRESSWATCH_* settings leaking in from the developer's shell."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PRESSWATCH_")}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH", "")]))
    env.update(extra)
    return env


@pytest.fixture(autouse=True)
def _isolated_settings(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    """No test reads the developer's presswatch.toml or PRESSWATCH_* environment."""
    import settings

    for var in list(os.environ):
        if var.startswith("PRESSWATCH_") and not var.startswith("PRESSWATCH_TEST_"):
            monkeypatch.delenv(var)
    monkeypatch.chdir(tmp_path)
    settings.reset_settings_cache()
    yield
    settings.reset_settings_cache()


def _create_pg_database(base_url: str) -> tuple[str, str]:
    name = f"pw_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(base_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return make_url(base_url).set(database=name).render_as_string(hide_password=False), name


def _drop_pg_database(base_url: str, name: str) -> None:
    admin = create_engine(base_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@contextmanager
def migrated_database(backend: str, folder: Path) -> Iterator[str]:
    """A throwaway database on ``backend``, migrated through the real migrations; dropped afterwards."""
    from models.db import upgrade

    if backend == "sqlite":
        url = f"sqlite:///{folder / 'test.db'}"
        upgrade(url)
        yield url
        return
    url, name = _create_pg_database(POSTGRES_URL)
    try:
        upgrade(url)
        yield url
    finally:
        from models.db import engine_for

        engine_for.cache_clear()
        _drop_pg_database(POSTGRES_URL, name)


@pytest.fixture(scope="session", params=BACKENDS)
def db_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A freshly migrated throwaway database URL, per backend (shared by the session's tests)."""
    with migrated_database(request.param, tmp_path_factory.mktemp("db")) as url:
        yield url


@pytest.fixture(params=BACKENDS)
def own_db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A migrated database of this test's own, per backend: for tests that commit for real and run
    other processes on it (drills, the crawl worker)."""
    with migrated_database(request.param, tmp_path) as url:
        yield url


@pytest.fixture(scope="session")
def engine(db_url: str) -> Iterator[Engine]:
    from models.db import make_engine

    eng = make_engine(db_url)
    yield eng
    eng.dispose()


@pytest.fixture
def session(engine: Engine) -> Iterator[Session]:
    """A session whose work is rolled back after the test (commits become savepoints)."""
    with engine.connect() as conn:
        trans = conn.begin()
        sess = Session(bind=conn, join_transaction_mode="create_savepoint", expire_on_commit=False)
        try:
            yield sess
        finally:
            sess.close()
            trans.rollback()


@pytest.fixture
def fresh_db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty (unmigrated) SQLite database URL for tests that commit for real."""
    yield f"sqlite:///{tmp_path / 'fresh.db'}"


@pytest.fixture
def world_db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The digest demo world in a SQLite file of the test's own, with the example digests.yaml beside it,
    configured through PRESSWATCH_DB__URL (for CLI commands run in-process)."""
    import shutil

    import settings as settings_mod
    from models.db import make_engine, session_scope, upgrade
    from tests.test_digest_definitions import EXAMPLE
    from tests.test_digest_world import make_world

    db = tmp_path / "pw.db"
    url = f"sqlite:///{db}"
    upgrade(url)
    engine = make_engine(url)
    with session_scope(engine) as session:
        make_world(session)
    engine.dispose()
    shutil.copyfile(EXAMPLE, tmp_path / "digests.yaml")
    monkeypatch.setenv("PRESSWATCH_DB__URL", url)
    settings_mod.reset_settings_cache()
    return db


@pytest.fixture
def web(engine: Engine) -> Iterator[object]:
    """Logged-in test clients on the web app, over a two-organization world (tests/web_support.py),
    on each backend; everything is rolled back afterwards."""
    from tests.web_support import WebClients, app_on_connection, build_world

    with app_on_connection(engine) as (app, setup):
        world = build_world(setup)
        setup.commit()
        clients = WebClients(app, world)
        try:
            yield clients
        finally:
            clients.close()


# The fast lane (`make test-fast`, `-m "not slow"`) leaves these out: modules whose tests start
# processes (crawl children, the CLI in a subprocess, services, a browser, a PostgreSQL server),
# train models or run whole demo worlds, chosen from `pytest --durations` of the whole suite;
# single slow tests elsewhere carry @pytest.mark.slow. Tests on PostgreSQL are in the slow lane too.
SLOW_MODULES = frozenset({
    "test_alerts_demo", "test_classify_cli", "test_classify_quality", "test_classify_service", "test_cli",
    "test_cli_database", "test_concurrent_workers", "test_crawl_cli_output", "test_crawl_distributed",
    "test_crawl_feeds", "test_crawl_incremental", "test_crawl_isolation", "test_crawl_run", "test_delivery",
    "test_delivery_drills", "test_demo", "test_digest_demo", "test_digest_reports_send", "test_event_chain",
    "test_exit_codes", "test_models", "test_pipeline_ingest", "test_privacy", "test_quota_demo", "test_web_auth",
    "test_web_browser", "test_web_cli", "test_web_quota_browser", "test_api_browser",
})


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        module = item.nodeid.split("::", 1)[0].rsplit("/", 1)[-1].removesuffix(".py")
        if module in SLOW_MODULES or "[postgresql" in item.nodeid:
            item.add_marker(pytest.mark.slow)


from tests.browser_support import browser, live_web, page_at  # noqa: E402,F401  (browser-test fixtures)
