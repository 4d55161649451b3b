"""Organizations' outbound webhooks: events from the database rows that record them, queued in the
outbox once per endpoint and event, sent signed to a real receiver on 127.0.0.1 which checks the
signature by the documented scheme (alerts.hooks), retried after a failure, never twice by id,
and only to the organization the event belongs to. On SQLite and PostgreSQL (committed for real:
delivery runs its own transactions)."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from sqlalchemy import func, select

from accounts.audit import Actor
from alerts import hooks
from alerts.cases import acknowledge
from alerts.delivery import deliver_pending
from alerts.engine import add_event
from alerts.outbox import requeue
from models import Delivery, Registration, Source, utcnow
from models.db import make_engine, session_scope
from models.enums import DeliveryStatus, SourceKind
from models.scope import system_scope
from tests.delivery_support import settings_for
from tests.web_support import build_world

MAX_AGE_SECONDS = 300


class Receiver:
    """A webhook receiver written from the documented scheme: it verifies ``X-Presswatch-Signed``
    (HMAC-SHA256 over "<t>." + body with the endpoint's secret), refuses stale timestamps, answers
    500 to the first attempt of each event it is told to fail, and counts each event id once."""

    def __init__(self) -> None:
        self.secrets: dict[str, str] = {}  # path -> secret
        self.fail_first: set[str] = set()  # event types to fail once
        self.accepted: dict[str, list[dict[str, Any]]] = {}  # path -> bodies accepted (by event id, once)
        self.seen_ids: set[str] = set()
        self.refused: list[str] = []
        self.failed_once: set[str] = set()
        self.attempts: list[str] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                return None

            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                status = outer.handle(self.path, {k.lower(): v for k, v in self.headers.items()}, raw)
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def handle(self, path: str, headers: dict[str, str], raw: bytes) -> int:
        secret = self.secrets.get(path)
        signed = dict(part.split("=", 1) for part in headers.get("x-presswatch-signed", "").split(",") if "=" in part)
        if secret is None or "t" not in signed or "sha256" not in signed:
            self.refused.append(f"{path}: unsigned")
            return 401
        expected = hmac.new(secret.encode(), signed["t"].encode() + b"." + raw, hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected, signed["sha256"]):
            self.refused.append(f"{path}: bad signature")
            return 401
        if abs(time.time() - int(signed["t"])) > MAX_AGE_SECONDS:
            self.refused.append(f"{path}: stale")
            return 401
        body = json.loads(raw)
        event_id = body["data"]["event_id"]
        assert headers["x-presswatch-event-id"] == event_id
        self.attempts.append(event_id)
        if body["data"]["event"] in self.fail_first and event_id not in self.failed_once:
            self.failed_once.add(event_id)
            return 500
        if event_id not in self.seen_ids:  # a resend of the same event is acknowledged, not counted
            self.seen_ids.add(event_id)
            self.accepted.setdefault(path, []).append(body)
        return 200

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()


def test_events_reach_their_organization_signed_retried_and_once(own_db: str, receiver: Receiver) -> None:
    settings = settings_for(None, **{"crawl.source_failure_threshold": 3})
    engine = make_engine(own_db)
    admin = Actor(None, "admin", "127.0.0.1")
    with session_scope(engine) as db:
        world = build_world(db)
        dz_unit = world.units["dz-court"].id
        dz_ep, dz_secret = hooks.add_endpoint(db, admin, system_scope(), unit_code="dz-court",
                                              url=receiver.url + "/dz", events=list(hooks.EVENTS))
        hy_ep, hy_secret = hooks.add_endpoint(db, admin, system_scope(), unit_code="hy-thads",
                                              url=receiver.url + "/hy", events=["alert.raised"])
        dz_case, hy_case = world.cases["dz"].id, world.cases["hy"].id
    receiver.secrets = {"/dz": dz_secret, "/hy": hy_secret}
    receiver.fail_first = {"alert.raised"}
    time.sleep(0.01)
    with session_scope(engine) as db:
        for case in (world.cases["dz"], world.cases["hy"]):
            add_event(db, db.merge(case), "raised", to_state="new")
        acknowledge(db, dz_case, actor="dz-duty")
        acknowledge(db, hy_case, actor="hy-duty")  # case.changed of Hưng Yên: its endpoint did not ask
        db.add(Source(key="dz-forum", name="儋州论坛", kind=SourceKind.FEED, unit_id=dz_unit, health="failing",
                      consecutive_failures=3, last_error="HTTP 503", last_attempt_at=utcnow()))
        db.add(Registration(unit_id=world.units["dz-exec-1"].id, title="执行一队稿件", url="https://x.cn/1",
                            published_at=utcnow(), verified_at=utcnow()))
    with session_scope(engine) as db:
        assert hooks.publish_recent(db, settings) == 5
    with session_scope(engine) as db:
        keys = sorted(db.scalars(select(Delivery.idempotency_key).where(Delivery.idempotency_key.like("hook:%"))))
        by_endpoint = {k.split(":")[1] for k in keys}
        assert by_endpoint == {str(dz_ep.id), str(hy_ep.id)}
        dz_types = sorted(k.split(":")[2] for k in keys if k.startswith(f"hook:{dz_ep.id}:"))
        assert dz_types == ["alert.raised", "case.changed", "registration.verified", "source.failing"]
        assert [k.split(":")[2] for k in keys if k.startswith(f"hook:{hy_ep.id}:")] == ["alert.raised"]
    # read again (the sweep, a second handler): nothing new is queued
    with session_scope(engine) as db:
        assert hooks.publish_recent(db, settings) == 0
    # the source fails once more in the same outage: the same event, not a second one
    with session_scope(engine) as db:
        row = db.scalar(select(Source).where(Source.key == "dz-forum"))
        assert row is not None
        row.consecutive_failures, row.last_attempt_at = 4, utcnow()
    with session_scope(engine) as db:
        assert hooks.publish_recent(db, settings) == 0

    first = deliver_pending(engine, settings)
    assert first.sent == 3 and first.retried == 2  # both alert.raised failed once with HTTP 500
    second = deliver_pending(engine, settings, now=utcnow() + timedelta(minutes=5))
    assert second.sent == 2
    assert receiver.refused == []
    assert len(receiver.accepted["/dz"]) == 4 and len(receiver.accepted["/hy"]) == 1
    events = {b["data"]["event"]: b["data"] for b in receiver.accepted["/dz"]}
    assert events["source.failing"]["object"]["consecutive_failures"] == 3
    assert events["case.changed"]["object"]["action"] == "ack" and events["case.changed"]["object"]["actor"] == "dz-duty"
    assert events["alert.raised"]["organization"] == "dz-court"
    assert "Khiếu nại" in receiver.accepted["/hy"][0]["data"]["object"]["title"]
    assert all("Khiếu nại" not in json.dumps(b, ensure_ascii=False) for b in receiver.accepted["/dz"])
    # the retried event carried the same id both times
    raised_ids = [i for i in receiver.attempts if i.startswith("alert.raised:")]
    assert len(raised_ids) == 4 and len(set(raised_ids)) == 2
    with session_scope(engine) as db:
        statuses = set(db.scalars(select(Delivery.status).where(Delivery.idempotency_key.like("hook:%"))))
        assert statuses == {DeliveryStatus.SENT}
        log = hooks.delivery_log(db, db.merge(dz_ep))
        assert len(log) == 4 and all(d.sent_at is not None for d in log)

    # "send test"; a receiver that refuses the signature (401) dead-letters the message, which the
    # operator requeues once the receiver holds the right secret
    with session_scope(engine) as db:
        test_delivery = hooks.send_test(db, admin, system_scope(), dz_ep.id).id
    receiver.secrets["/dz"] = "not the secret"
    refused = deliver_pending(engine, settings)
    assert refused.sent == 0 and refused.dead == 1
    assert receiver.refused == ["/dz: bad signature"]
    receiver.secrets["/dz"] = dz_secret
    with session_scope(engine) as db:
        requeue(db, test_delivery)
    assert deliver_pending(engine, settings).sent == 1
    assert any(b["data"]["event"] == "test" for b in receiver.accepted["/dz"])
    with session_scope(engine) as db:
        assert db.scalar(select(func.count()).select_from(Delivery).where(
            Delivery.idempotency_key.like(f"hook:{dz_ep.id}:%"))) == 5
    engine.dispose()


def test_a_new_endpoint_does_not_receive_the_past(own_db: str) -> None:
    settings = settings_for(None)
    engine = make_engine(own_db)
    with session_scope(engine) as db:
        world = build_world(db)
        add_event(db, world.cases["dz"], "raised", to_state="new")
    time.sleep(0.01)
    with session_scope(engine) as db:
        hooks.add_endpoint(db, Actor(None, "admin", ""), system_scope(), unit_code="dz-court",
                           url="http://127.0.0.1:9/dz", events=["alert.raised"])
    with session_scope(engine) as db:
        assert hooks.publish_recent(db, settings) == 0
    engine.dispose()
