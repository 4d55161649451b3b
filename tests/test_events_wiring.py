"""Events are published after their transaction commits, subscribers are wired where the app is
assembled, and a failing source raises its alert whether the CLI or the service crawled it.

Before: ``ArticleClassified`` and ``AlertRaised`` were published inside the open transaction (a
subscriber reading the rows from another connection found nothing, and a rollback left a
published event behind); the alert handlers were subscribed only as a side effect of
``alerts.jobs.scheduled_jobs()``, so ``presswatch crawl`` of a failing source raised no alert.
"""

from __future__ import annotations

import subprocess
import sys
from collections import defaultdict
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

import settings as settings_mod
from alerts.engine import source_failing_alert
from crawlers.testserver import LocalServer
from models import Alert, Source
from models.db import make_engine, session_factory, session_scope, upgrade
from models.enums import AlertKind
from presswatch.events import AlertRaised, SourceFailing, bus, publish_after_commit
from tests import factories
from tests.conftest import subprocess_env
from tests.crawl_site import fixture_registry, fixture_site

RULES = """
rules:
  - name: dz
    when: {min_risk: low, query: 儋州法院}
    recipients: [{name: 王五, address: wangwu@dz-court.example.cn, language: zh-CN}]
"""


@pytest.fixture
def private_bus(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setattr(bus, "_handlers", defaultdict(list))
    yield


@pytest.mark.usefixtures("private_bus")
def test_publish_after_commit_waits_for_the_outer_commit_and_drops_on_rollback(engine: Engine) -> None:
    seen: list[object] = []
    bus.subscribe(AlertRaised, seen.append)
    factory = session_factory(engine)
    with factory() as session:
        session.begin()
        publish_after_commit(session, AlertRaised(1, "high"))
        with session.begin_nested():
            publish_after_commit(session, AlertRaised(2, "high"))
        assert seen == []  # a savepoint's release is not the commit
        session.commit()
        assert seen == [AlertRaised(1, "high"), AlertRaised(2, "high")]
        session.begin()
        publish_after_commit(session, AlertRaised(3, "high"))
        session.rollback()
        session.begin()
        session.commit()
    assert seen == [AlertRaised(1, "high"), AlertRaised(2, "high")]


@pytest.mark.usefixtures("private_bus")
def test_alert_raised_is_published_after_the_alert_row_is_committed(fresh_db_url: str, tmp_path: Path) -> None:
    """A subscriber on another connection finds the alert it is told about."""
    (tmp_path / "alert_rules.yaml").write_text(RULES, encoding="utf-8")
    settings_mod.configure(None, {"db.url": fresh_db_url, "alerts.rules_file": str(tmp_path / "alert_rules.yaml")})
    from alerts.rules_file import ensure_rules_loaded

    upgrade(fresh_db_url)
    engine = make_engine(fresh_db_url)
    found: list[bool] = []

    def look(event: AlertRaised) -> None:
        with Session(make_engine(fresh_db_url)) as other:
            found.append(other.get(Alert, event.alert_id) is not None)

    bus.subscribe(AlertRaised, look)
    with session_scope(engine) as session:
        ensure_rules_loaded(session, settings_mod.get_settings())
        factories.source(session, key="dz-net")
        alert = source_failing_alert(session, SourceFailing("dz-net", 3, "HTTP 500", None))
        assert alert is not None
        assert found == []
    assert found == [True]
    engine.dispose()


def test_scheduled_jobs_subscribe_nothing_and_wiring_is_idempotent(private_bus: None) -> None:
    import alerts.jobs
    from presswatch.service import collect_jobs
    from presswatch.wiring import wire

    collect_jobs(settings_mod.load_settings(environ={}).settings)
    assert not bus.is_subscribed(SourceFailing, alerts.jobs.on_source_failing)
    wire()
    wire()
    assert bus._handlers[SourceFailing].count(alerts.jobs.on_source_failing) == 1


def _source_alerts(url: str) -> list[Alert]:
    engine = make_engine(url)
    with Session(engine) as session:
        rows = list(session.scalars(select(Alert).where(Alert.kind == AlertKind.SOURCE_FAILING)))
    engine.dispose()
    return rows


@pytest.mark.slow
def test_a_source_failing_in_a_cli_crawl_raises_its_alert(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'pw.db'}"
    with LocalServer(fixture_site) as server:
        registry = fixture_registry(server.base_url)
        registry["sources"] = [s for s in registry["sources"] if s["key"] == "err-500"]
        (tmp_path / "sources.yaml").write_text(yaml.safe_dump(registry), encoding="utf-8")
        (tmp_path / "alert_rules.yaml").write_text(RULES, encoding="utf-8")
        (tmp_path / "presswatch.toml").write_text(
            f'[db]\nurl = "{url}"\n[crawl]\nsource_failure_threshold = 1\nretry_times = 0\n'
            "download_delay_seconds = 0\n", encoding="utf-8")

        def cli(*args: str) -> subprocess.CompletedProcess[str]:
            return subprocess.run([sys.executable, "-m", "presswatch.cli", *args], cwd=tmp_path,
                                  env=subprocess_env(), capture_output=True, text=True, timeout=300)

        assert cli("db", "upgrade").returncode == 0
        assert cli("alerts", "rules").returncode == 0
        proc = cli("crawl")
    assert proc.returncode == 3, proc.stderr[-2000:]
    (alert,) = _source_alerts(url)
    assert alert.reason["source"] == "err-500"


def test_the_service_sweep_raises_the_alert_of_a_source_failing_in_the_table(
        fresh_db_url: str, tmp_path: Path) -> None:
    """A source another process marked failing (no event reached this one) gets its alert, once."""
    import alerts.jobs

    (tmp_path / "alert_rules.yaml").write_text(RULES, encoding="utf-8")
    settings_mod.configure(None, {"db.url": fresh_db_url, "alerts.rules_file": str(tmp_path / "alert_rules.yaml")})
    from alerts.rules_file import ensure_rules_loaded

    upgrade(fresh_db_url)
    engine = make_engine(fresh_db_url)
    with session_scope(engine) as session:
        ensure_rules_loaded(session, settings_mod.get_settings())
        factories.source(session, key="quiet-ok", consecutive_failures=0, health="ok")
        factories.source(session, key="gone-dark", consecutive_failures=5, health="failing",
                         last_error="HTTP 503", last_success_at=datetime.now(UTC) - timedelta(days=2))
    alerts.jobs.source_sweep_job()
    alerts.jobs.source_sweep_job()
    rows = _source_alerts(fresh_db_url)
    assert [a.reason["source"] for a in rows] == ["gone-dark"]
    with Session(engine) as session:
        assert session.scalar(select(Source.health).where(Source.key == "gone-dark")) == "failing"
    engine.dispose()


@pytest.mark.usefixtures("private_bus")
def test_article_classified_is_published_after_the_classify_commit(fresh_db_url: str) -> None:
    from classify.service import classify_pending
    from presswatch.events import ArticleClassified

    upgrade(fresh_db_url)
    engine = make_engine(fresh_db_url)
    seen: list[ArticleClassified] = []
    bus.subscribe(ArticleClassified, seen.append)
    with session_scope(engine) as session:
        art = factories.article(session, title="执行攻坚成效显著", text="法院执行局集中兑现案款，申请执行人送来锦旗。")
        events = classify_pending(session, settings_mod.load_settings(environ={}).settings)
        assert [e.article_id for e in events] == [art.id]
        assert seen == []
    assert seen == events
    engine.dispose()
