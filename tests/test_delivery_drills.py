"""Fault drills of the delivery path, against a real SMTP server on loopback (aiosmtpd), on SQLite and
PostgreSQL:

- the SMTP server refuses for three hours (a moved clock): every alert is delivered after, once;
  transient failures give up only after ``alerts.give_up_after_hours``, and ``--retry-dead`` brings
  dead ones back in bulk;
- a sender killed mid-send: the messages it had not started go out at the next start (no lease
  to wait for), critical first, and only the one whose data had left is marked "in doubt";
- a message still queued when its case is resolved or dismissed is not sent (cancelled with the
  reason; a merged message keeps its open cases only);
- the outbox says when a message is held by quiet hours.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine, func, select, update
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from alerts import cases
from alerts.delivery import deliver_pending
from alerts.engine import evaluate_pending
from alerts.mailbox import Behaviour, LocalMailbox
from alerts.outbox import enqueue, message_id_for
from models import Alert, AlertEvent, Delivery, utcnow
from models.db import make_engine, session_scope
from models.enums import AlertKind, CaseState, DeliveryStatus, RiskLevel
from tests import factories
from tests.conftest import subprocess_env
from tests.delivery_support import settings_for
from tests.test_alerts_engine import NOON, SETTINGS, load, piece


@pytest.fixture
def own_engine(own_db: str) -> Iterator[Engine]:
    engine = make_engine(own_db)
    yield engine
    engine.dispose()


@pytest.fixture
def mailbox() -> Iterator[LocalMailbox]:
    box = LocalMailbox().start()
    yield box
    box.stop()


def _queue(engine: Engine, key: str, severity: str = "high", alert_id: int | None = None) -> int:
    with session_scope(engine) as session:
        return enqueue(session, idempotency_key=key, channel="email", recipient=f"{key}@court.example.cn",
                       language="zh-CN", subject=f"【舆情预警】{key}", body_text="正文",
                       payload={"kind": "alert", "severity": severity,
                                "alert_ids": [alert_id] if alert_id else []},
                       alert_id=alert_id).id


def _rows(engine: Engine) -> list[Delivery]:
    with session_scope(engine) as session:
        rows = list(session.scalars(select(Delivery).order_by(Delivery.id)))
        session.expunge_all()
        return rows


def _next_due(engine: Engine) -> datetime | None:
    with session_scope(engine) as session:
        return session.scalar(select(func.min(Delivery.next_attempt_at))
                              .where(Delivery.status == DeliveryStatus.PENDING))


def test_smtp_refusing_for_three_hours_then_every_alert_goes_out_once(
    own_engine: Engine, mailbox: LocalMailbox
) -> None:
    settings = settings_for(mailbox.port, max_attempts=0)  # as shipped: no attempt limit, 72 h
    mailbox.behaviour = Behaviour(refuse_rcpt="451 4.3.0 mail system overloaded, try again later")
    keys = [f"k{n}" for n in range(6)]
    for n, key in enumerate(keys):
        _queue(own_engine, key, severity="critical" if n in (2, 5) else "high")
    t0 = utcnow()
    outage_end = t0 + timedelta(hours=3)
    now = t0
    runs = 0
    while now < outage_end:
        stats = deliver_pending(own_engine, settings, now=now)
        assert stats.dead == 0 and stats.sent == 0
        runs += 1
        due = _next_due(own_engine)
        assert due is not None
        now = max(now + timedelta(seconds=1), due)
    rows = _rows(own_engine)
    assert all(r.status == DeliveryStatus.PENDING for r in rows)
    assert min(r.attempts for r in rows) >= 30  # kept trying all along (5-minute cap on the delay)
    assert all((r.next_attempt_at - outage_end) <= timedelta(seconds=settings.alerts.retry_max_seconds)
               for r in rows)
    assert mailbox.messages == []

    mailbox.behaviour = Behaviour()  # the server is back
    due = _next_due(own_engine)
    assert due is not None
    stats = deliver_pending(own_engine, settings, now=due)
    # The first message accepted brings the others' retries forward: all go in that one run.
    assert stats.sent == 6 and stats.dead == 0
    received = mailbox.wait_for(6)
    assert sorted(m.message_id for m in received) == sorted(message_id_for(k) for k in keys)
    assert deliver_pending(own_engine, settings, now=due + timedelta(days=1)).claimed == 0
    assert len(mailbox.wait_for(7, timeout_seconds=0.3)) == 6
    assert all(r.status == DeliveryStatus.SENT for r in _rows(own_engine))


def test_transient_failures_give_up_after_72_hours_and_retry_dead_brings_them_back(
    own_db: str, own_engine: Engine, mailbox: LocalMailbox
) -> None:
    from presswatch.cli import app, console

    settings = settings_for(mailbox.port, max_attempts=0)
    assert settings.alerts.give_up_after_hours == 72
    mailbox.behaviour = Behaviour(refuse_rcpt="451 4.3.0 try later")
    with session_scope(own_engine) as session:
        alert = Alert(dedupe_key="story:1:1", kind=AlertKind.STORY, severity=RiskLevel.HIGH, title="儋州法院",
                      reason={})
        session.add(alert)
        session.flush()
        alert_id = alert.id
    old = _queue(own_engine, "old", alert_id=alert_id)
    recent = _queue(own_engine, "recent", alert_id=alert_id)
    t0 = utcnow()
    deliver_pending(own_engine, settings, now=t0)
    deliver_pending(own_engine, settings, now=t0 + timedelta(hours=71))
    assert all(r.status == DeliveryStatus.PENDING for r in _rows(own_engine))
    stats = deliver_pending(own_engine, settings, now=t0 + timedelta(hours=72, minutes=1))
    assert stats.dead == 2
    rows = _rows(own_engine)
    assert all(r.status == DeliveryStatus.DEAD and (r.last_error or "").startswith("gave up after 72 h")
               for r in rows)
    with session_scope(own_engine) as session:
        events = session.scalars(select(AlertEvent).where(AlertEvent.action == "delivery_dead")).all()
        assert len(events) == 2  # the case's history says its message was not delivered
        # One of them was last tried ten days ago.
        session.execute(update(Delivery).where(Delivery.id == old).values(claimed_at=utcnow() - timedelta(days=10)))

    console.width = 250
    runner = CliRunner()
    base = ["--set", f"db.url={own_db}", "--set", "alerts.smtp_host=127.0.0.1",
            "--set", f"alerts.smtp_port={mailbox.port}"]
    shown = runner.invoke(app, [*base, "alerts", "outbox"], catch_exceptions=False)
    assert "2 message(s) could not be delivered" in shown.output and "--retry-dead" in shown.output
    result = runner.invoke(app, [*base, "alerts", "outbox", "--retry-dead", "--since", "2d"], catch_exceptions=False)
    assert result.exit_code == 0 and "1 dead-lettered message(s) requeued" in result.output
    assert {r.id: r.status for r in _rows(own_engine)} == {old: DeliveryStatus.DEAD, recent: DeliveryStatus.PENDING}
    result = runner.invoke(app, [*base, "alerts", "outbox", "--retry-dead"], catch_exceptions=False)
    assert "1 dead-lettered message(s) requeued" in result.output
    mailbox.behaviour = Behaviour()
    assert deliver_pending(own_engine, settings).sent == 2
    assert sorted(m.message_id for m in mailbox.wait_for(2)) == sorted(message_id_for(k) for k in ("old", "recent"))


def test_permanent_refusal_is_dead_at_once(own_engine: Engine, mailbox: LocalMailbox) -> None:
    settings = settings_for(mailbox.port, max_attempts=0)
    mailbox.behaviour = Behaviour(refuse_rcpt="550 5.1.1 no such user")
    _queue(own_engine, "nouser")
    assert deliver_pending(own_engine, settings).dead == 1
    [row] = _rows(own_engine)
    assert row.attempts == 1 and "550" in (row.last_error or "")


def test_critical_messages_are_sent_first(own_engine: Engine, mailbox: LocalMailbox) -> None:
    for n in range(3):
        _queue(own_engine, f"routine{n}", severity="medium")
    _queue(own_engine, "urgent", severity="critical")
    assert deliver_pending(own_engine, settings_for(mailbox.port)).sent == 4
    assert mailbox.wait_for(4)[0].message_id == message_id_for("urgent")


def _wait_for(check: object, what: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():  # type: ignore[operator]
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def _deliver_cli(db_url: str, port: int) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "presswatch", "--set", f"db.url={db_url}", "--set", "alerts.smtp_host=127.0.0.1",
         "--set", f"alerts.smtp_port={port}", "--set", "alerts.from_address=presswatch@court.example.cn",
         "alerts", "deliver"],
        env=subprocess_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )


def test_sender_killed_mid_send_the_rest_go_out_at_the_next_start(
    own_db: str, own_engine: Engine, mailbox: LocalMailbox
) -> None:
    """A `presswatch alerts deliver` is killed while the server takes the first message's data:
    the next run (the service's first delivery tick after a restart) sends the other messages at
    once, not after the 300 s lease, and none of them is marked in doubt; the one whose data had
    left is resent with the same Message-ID, marked in doubt."""
    keys = ["urgent", "a", "b", "c", "d"]
    for key in keys:
        _queue(own_engine, key, severity="critical" if key == "urgent" else "high")
    mailbox.behaviour = Behaviour(data_delay_seconds=3.0)
    proc = _deliver_cli(own_db, mailbox.port)
    try:
        _wait_for(lambda: mailbox.data_received >= 1, "the server to receive the first message's data")
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    rows = {r.idempotency_key: r for r in _rows(own_engine)}
    assert rows["urgent"].status == DeliveryStatus.SENDING  # critical first: it was the one in flight
    assert all(rows[k].status == DeliveryStatus.PENDING and rows[k].attempts == 0 for k in "abcd")
    mailbox.behaviour = Behaviour()

    stats = deliver_pending(own_engine, settings_for(mailbox.port))  # no clock moved: right after the kill
    assert stats.taken_back == 1 and stats.sent == 5 and stats.in_doubt == 1
    # (aiosmtpd drops a message whose client vanished before the answer; a real server may keep it.)
    received = mailbox.wait_for(5, timeout_seconds=10)
    by_id: dict[str, list[str | None]] = {}
    for m in received:
        by_id.setdefault(m.message_id, []).append(m.message["X-Presswatch-Resent"])
    assert sorted(by_id) == sorted(message_id_for(k) for k in keys)
    for key in "abcd":
        assert by_id[message_id_for(key)] == [None]  # sent once, not as an in-doubt resend
    resent = by_id[message_id_for("urgent")]
    assert sum(1 for h in resent if h and h.startswith("in-doubt")) == 1 and len(resent) <= 2


def test_sender_killed_before_the_data_left_resends_without_in_doubt(
    own_db: str, own_engine: Engine, mailbox: LocalMailbox
) -> None:
    _queue(own_engine, "only")
    mailbox.behaviour = Behaviour(ehlo_delay_seconds=30.0)
    proc = _deliver_cli(own_db, mailbox.port)
    try:
        _wait_for(lambda: _rows(own_engine)[0].status == DeliveryStatus.SENDING, "the claim")
        time.sleep(0.5)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert _rows(own_engine)[0].handed_over_at is None
    mailbox.behaviour = Behaviour()
    stats = deliver_pending(own_engine, settings_for(mailbox.port))
    assert stats.taken_back == 1 and stats.sent == 1 and stats.in_doubt == 0
    [mail] = mailbox.wait_for(1)
    assert mail.message["X-Presswatch-Resent"] is None


def test_a_live_sender_elsewhere_keeps_its_claim_until_the_lease_runs_out(
    own_engine: Engine, mailbox: LocalMailbox
) -> None:
    row_id = _queue(own_engine, "elsewhere")
    now = utcnow()
    with session_scope(own_engine) as session:
        session.execute(update(Delivery).where(Delivery.id == row_id).values(
            status=DeliveryStatus.SENDING, attempts=1, claimed_by="other-host:4242", claimed_at=now,
            next_attempt_at=now + timedelta(seconds=300)))
    settings = settings_for(mailbox.port)
    assert deliver_pending(own_engine, settings, now=now).claimed == 0
    stats = deliver_pending(own_engine, settings, now=now + timedelta(seconds=301))
    assert stats.sent == 1 and stats.in_doubt == 0  # its data had not left: a plain send


QUIET_NIGHT = datetime(2026, 11, 20, 15, 0, tzinfo=UTC)  # 23:00 in Shanghai


def test_resolving_a_case_cancels_its_queued_message(session: Session) -> None:
    """Decision: a message still queued when its case is closed is dropped with the reason (the
    officer who closed it knows; a late "urgent" page about a handled matter does harm)."""
    load(session, quiet_hours="22:00-07:00")
    piece(session, story=factories.story(session), at=QUIET_NIGHT - timedelta(minutes=5))
    evaluate_pending(session, SETTINGS, now=QUIET_NIGHT)
    alert = session.scalars(select(Alert)).one()
    rows = session.scalars(select(Delivery).where(Delivery.alert_id == alert.id)).all()
    assert rows and all(r.status == DeliveryStatus.PENDING for r in rows)
    assert all(r.hold_reason == "quiet hours (22:00-07:00 Asia/Shanghai) until 2026-11-21 07:00" for r in rows)
    cases.resolve(session, alert.id, actor="王五", note="已回应")
    assert all(r.status == DeliveryStatus.CANCELLED for r in rows)
    assert all(f"case #{alert.id} was resolved by 王五" in (r.last_error or "") for r in rows)
    event = session.scalars(select(AlertEvent).where(AlertEvent.action == "resolve")).one()
    assert event.data["messages_cancelled"] == len(rows)


def test_a_merged_message_keeps_only_its_open_cases_and_a_closed_one_is_not_sent(
    own_engine: Engine, mailbox: LocalMailbox
) -> None:
    with session_scope(own_engine) as session:
        load(session, merge_window_minutes=10)
        for n in range(3):
            piece(session, story=factories.story(session), title=f"儋州法院执行干警被指暴力执法 第{n}起",
                  at=NOON - timedelta(minutes=5 - n))
        evaluate_pending(session, SETTINGS, now=NOON)
        alerts = list(session.scalars(select(Alert).order_by(Alert.id)))
        assert len(alerts) == 3
        ids = [a.id for a in alerts]
        # The first alert went at once; the two others wait merged in one message per recipient.
        merged = [d for d in session.scalars(select(Delivery)) if (d.payload or {}).get("kind") == "alert-batch"]
        assert merged and all(d.payload["alert_ids"] == ids[1:] for d in merged)
        assert all((d.hold_reason or "").startswith("merged with further alerts") for d in merged)
        # Closed behind the outbox's back (as by another process): the claim checks again.
        session.execute(update(Alert).where(Alert.id == ids[1]).values(state=CaseState.DISMISSED))
        session.execute(update(Alert).where(Alert.id == ids[0]).values(state=CaseState.RESOLVED))
    settings = settings_for(mailbox.port)
    stats = deliver_pending(own_engine, settings, now=utcnow() + timedelta(minutes=20))  # the window has closed
    with session_scope(own_engine) as session:
        rows = list(session.scalars(select(Delivery).where(Delivery.channel == "email")))
        first = [r for r in rows if r.payload["kind"] == "alert"]
        batch = [r for r in rows if r.payload["kind"] == "alert-batch"]
        assert all(r.status == DeliveryStatus.CANCELLED for r in first)
        assert all(r.status == DeliveryStatus.SENT and r.payload["alert_ids"] == ids[2:]
                   and r.payload["withdrawn_alert_ids"] == [ids[1]] for r in batch)
        assert "第1起" not in batch[0].body_text and "第2起" in batch[0].body_text
    assert stats.cancelled == len(first) + 1  # and the webhook robot's first message
    subjects = [m.message["Subject"] for m in mailbox.wait_for(len(batch))]
    assert len(subjects) == len(batch) and all("第0起" not in s for s in subjects)


def test_the_outbox_says_a_message_is_held_by_quiet_hours(own_db: str, own_engine: Engine) -> None:
    from presswatch.cli import app, console

    with session_scope(own_engine) as session:
        load(session, quiet_hours="22:00-07:00")
        piece(session, story=factories.story(session), at=QUIET_NIGHT - timedelta(minutes=5))
        evaluate_pending(session, SETTINGS, now=QUIET_NIGHT)
        # The outbox is looked at that night.
        session.execute(update(Delivery).values(next_attempt_at=utcnow() + timedelta(hours=8)))
    console.width = 300
    result = CliRunner().invoke(app, ["--set", f"db.url={own_db}", "alerts", "outbox"], catch_exceptions=False)
    assert result.exit_code == 0
    assert "held: quiet hours (22:00-07:00 Asia/Shanghai) until 2026-11-21 07:00" in result.output
    assert "waiting for its first attempt" not in result.output
