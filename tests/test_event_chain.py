"""The service's event chain (a stored piece is classified, evaluated and sent at once, without
waiting for any timer), job leases (a ``once`` job runs on one instance), and risk-plan polling
in seconds."""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, delete
from sqlalchemy.orm import Session

from alerts.mailbox import LocalMailbox
from models import JobLease
from models.enums import OutletTier
from presswatch.events import ArticleStored, bus
from tests import factories

RULES = """
rules:
  - name: dz
    when: {min_risk: low, query: 儋州法院}
    recipients: [{name: 王五, address: wangwu@dz-court.example.cn, language: zh-CN}]
"""


@pytest.fixture
def private_bus(monkeypatch: pytest.MonkeyPatch) -> None:
    """Subscriptions made in a test must not outlive it (other tests publish events too)."""

    monkeypatch.setattr(bus, "_handlers", defaultdict(list, {k: list(v) for k, v in bus._handlers.items()}))


@pytest.mark.usefixtures("private_bus")
def test_a_stored_piece_is_classified_evaluated_and_sent_at_once(fresh_db_url: str, tmp_path: Path) -> None:
    import settings as settings_mod
    from models.db import get_engine, session_scope
    from presswatch.service import EventChain

    (tmp_path / "alert_rules.yaml").write_text(RULES, encoding="utf-8")
    with LocalMailbox() as box:
        settings_mod.configure(None, {
            "db.url": fresh_db_url, "alerts.rules_file": str(tmp_path / "alert_rules.yaml"),
            "alerts.smtp_host": box.host, "alerts.smtp_port": box.port,
            "alerts.from_address": "presswatch@dz-court.example.cn",
        })
        with session_scope(get_engine()) as session:
            outlet = factories.outlet(session, name="今日儋州", tier=OutletTier.PREFECTURE)
            text = "那大镇居民称儋州法院执行干警强制腾退时推搡群众，一位老人摔倒受伤。"
            art = factories.article(session, title="居民称儋州法院执行干警暴力执法", text=text, match_text=text,
                                    outlet_id=outlet.id)
            article_id = art.id
        chain = EventChain().start()
        try:
            # No scheduler runs here: only the event can make this mail arrive.
            bus.publish(ArticleStored(article_id=article_id, story_id=None, is_new_story=True))
            [mail] = box.wait_for(1, timeout_seconds=120)
        finally:
            chain.stop()
        assert "儋州法院" in str(mail.message["Subject"])
        assert chain.runs >= 1
    assert chain.on_stored not in bus._handlers[ArticleStored]  # stopped: unsubscribed


@pytest.fixture
def lease_name(engine: Engine) -> Iterator[str]:
    name = f"test-{uuid.uuid4().hex[:8]}"
    yield name
    with engine.begin() as conn:
        conn.execute(delete(JobLease.__table__).where(JobLease.__table__.c.name == name))  # type: ignore[arg-type]


def test_a_lease_is_held_renewed_and_taken_over_when_it_runs_out(engine: Engine, lease_name: str) -> None:
    from models.leases import acquire_lease, release_lease

    t0 = datetime.now(UTC)
    assert acquire_lease(engine, lease_name, "a", 120, now=t0)
    assert not acquire_lease(engine, lease_name, "b", 120, now=t0 + timedelta(seconds=1))
    assert acquire_lease(engine, lease_name, "a", 120, now=t0 + timedelta(seconds=100))  # renewed
    assert not acquire_lease(engine, lease_name, "b", 120, now=t0 + timedelta(seconds=200))  # 100 + 120 > 200
    assert acquire_lease(engine, lease_name, "b", 120, now=t0 + timedelta(seconds=221))  # a stopped renewing
    assert not acquire_lease(engine, lease_name, "a", 120, now=t0 + timedelta(seconds=222))
    release_lease(engine, lease_name, "b")  # a clean stop hands it over at once
    assert acquire_lease(engine, lease_name, "a", 120)


RUNS: list[str] = []


def counted_job() -> None:
    RUNS.append("ran")


def test_a_once_job_runs_on_one_instance_only(
    fresh_db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import presswatch.service as service
    import settings as settings_mod

    settings_mod.configure(None, {"db.url": fresh_db_url})
    RUNS.clear()
    for instance in ("host-a:1:x", "host-b:2:y", "host-a:1:x"):
        monkeypatch.setattr(service, "INSTANCE_ID", instance)
        service.run_leased_job("tests.test_event_chain:counted_job", "counted", 120)
    assert RUNS == ["ran", "ran"]  # instance a, twice; b never while a holds it
    monkeypatch.setattr(service, "INSTANCE_ID", "host-a:1:x")
    service.release_leases()
    monkeypatch.setattr(service, "INSTANCE_ID", "host-b:2:y")
    service.run_leased_job("tests.test_event_chain:counted_job", "counted", 120)
    assert RUNS == ["ran", "ran", "ran"]


def test_once_jobs_are_marked() -> None:
    from presswatch.service import collect_jobs
    from settings import load_settings

    # The one-off crawl job (crawl.worker off); every instance keeps its own crawl worker otherwise.
    jobs = {j.id: j.once for j in collect_jobs(load_settings(environ={}, overrides={"crawl.worker": False}).settings)}
    assert jobs["crawl-due-sources"] and jobs["digest-send-due"] and jobs["alerts-sla"] and jobs["quota-daily"]
    assert not jobs["classify-pending"] and not jobs["alerts-deliver"] and not jobs["alerts-evaluate"]


def test_a_risk_plan_polls_a_source_every_few_seconds(session: Session) -> None:
    from alerts.plans import PlanError, create_plan
    from crawlers.run import plan_poll_minutes, plan_poll_seconds

    action = datetime(2030, 1, 5, 1, 0, tzinfo=UTC)
    create_plan(session, name="那大镇强制腾退", action_at=action, keywords=["那大镇"],
                overrides={"poll_seconds": {"jinri-danzhou": 15}, "poll_minutes": {"danzhou-tv": 2}})
    during = action - timedelta(hours=1)
    assert plan_poll_seconds(session, during) == {"jinri-danzhou": 15, "danzhou-tv": 120}
    assert plan_poll_minutes(session, during) == {"jinri-danzhou": 1, "danzhou-tv": 2}
    assert plan_poll_seconds(session, action + timedelta(days=10)) == {}
    with pytest.raises(PlanError, match="poll_seconds"):
        create_plan(session, name="too fast", action_at=action, keywords=["x"], overrides={"poll_seconds": {"a": 1}})
