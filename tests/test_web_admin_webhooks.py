"""/admin/webhooks: add (secret shown once), validation, scoping (404), send test queues a signed
event in the outbox, the delivery log, audit. On SQLite and PostgreSQL (the ``web`` fixture)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from accounts.audit import Actor
from alerts import hooks
from models import AuditEntry, Delivery, WebhookEndpoint
from models.enums import DeliveryStatus
from models.scope import system_scope


def _db(web: Any) -> Session:
    session: Session = web.app.state.session_factory()
    return session


def test_add_test_and_log_are_scoped_and_audited(web: Any) -> None:
    db = _db(web)
    hy, _ = hooks.add_endpoint(db, Actor(None, "admin", ""), system_scope(), unit_code="hy-thads",
                               url="https://hooks.hy.example.vn/in", events=["alert.raised"])
    db.commit()
    hy_id = hy.id
    db.close()
    client = web.login("dz-admin")
    assert "hooks.hy.example.vn" not in client.get("/admin/webhooks").text
    assert client.post(f"/admin/webhooks/{hy_id}/test").status_code == 404
    assert client.post(f"/admin/webhooks/{hy_id}/enabled", data={"enabled": "0"}).status_code == 404
    assert client.post(f"/admin/webhooks/{hy_id}/secret").status_code == 404
    assert web.login("dz-duty").get("/admin/webhooks").status_code == 403

    bad = client.post("/admin/webhooks", data={"unit": "dz-court", "url": "ftp://x", "events": ["alert.raised"]})
    assert bad.status_code == 400
    none = client.post("/admin/webhooks", data={"unit": "dz-court", "url": "https://h.dz.example.cn/in"})
    assert none.status_code == 400
    other = client.post("/admin/webhooks", data={"unit": "hy-thads", "url": "https://h.dz.example.cn/in",
                                                 "events": ["alert.raised"]})
    assert other.status_code == 400
    added = client.post("/admin/webhooks", data={"unit": "dz-court", "url": "https://h.dz.example.cn/in",
                                                 "events": ["alert.raised", "case.changed"]})
    assert added.status_code == 200
    db = _db(web)
    row = db.scalar(select(WebhookEndpoint).where(WebhookEndpoint.url == "https://h.dz.example.cn/in"))
    assert row is not None and row.events == ["alert.raised", "case.changed"]
    assert row.unit_id == web.world.units["dz-court"].id and len(row.secret) >= 40
    assert row.secret in added.text  # shown once, on this answer
    endpoint_id, secret = row.id, row.secret
    db.close()
    page = client.get("/admin/webhooks").text
    assert "https://h.dz.example.cn/in" in page and secret not in page  # never shown again
    assert client.post(f"/admin/webhooks/{endpoint_id}/test").status_code == 303
    db = _db(web)
    queued = db.scalars(select(Delivery).where(Delivery.idempotency_key.like(f"hook:{endpoint_id}:test:%"))).all()
    assert len(queued) == 1 and queued[0].channel == "json" and queued[0].recipient == "https://h.dz.example.cn/in"
    assert queued[0].payload["event"] == "test" and queued[0].payload["organization"] == "dz-court"
    actions = [a for a, in db.execute(select(AuditEntry.action).where(AuditEntry.object_type == "webhook",
                                                                     AuditEntry.actor == "dz-admin")
                                      .order_by(AuditEntry.id))]
    assert actions == ["webhook.add", "webhook.test"]
    db.close()
    log = client.get("/admin/webhooks").text
    assert queued[0].payload["event_id"] in log
    # a dead message of the endpoint can be sent again; another endpoint's message is not found
    assert client.post(f"/admin/webhooks/{endpoint_id}/deliveries/{queued[0].id}/retry").status_code == 400
    db = _db(web)
    dead = db.get(Delivery, queued[0].id)
    assert dead is not None
    dead.status, dead.last_error = DeliveryStatus.DEAD, "json webhook answered HTTP 401"
    db.commit()
    db.close()
    assert client.post(f"/admin/webhooks/{hy_id}/deliveries/{queued[0].id}/retry").status_code == 404
    assert client.post(f"/admin/webhooks/{endpoint_id}/deliveries/{queued[0].id}/retry").status_code == 303
    db = _db(web)
    again = db.get(Delivery, queued[0].id)
    assert again is not None and again.status == DeliveryStatus.PENDING and again.attempts == 0
    db.close()
    rotated = client.post(f"/admin/webhooks/{endpoint_id}/secret")
    db = _db(web)
    new = db.get(WebhookEndpoint, endpoint_id)
    assert new is not None and new.secret != secret and new.secret in rotated.text
    db.close()
