"""Outbound webhooks per organization: events become signed JSON POSTs through the outbox.

An organization (a unit and its subtree) registers endpoints (``webhook_endpoints``: URL, secret,
the events it wants). Events:

- ``alert.raised`` and ``alert.escalated`` (a case opened; its severity rose or its deadline
  passed and it was handed on), from the case history (``alert_events`` ``raised`` /
  ``escalated`` / ``escalated_sla``);
- ``case.changed``: acknowledged, assigned, answered, resolved, dismissed, reopened, a note;
- ``registration.verified``: a correspondent's registered piece was found among crawled articles;
- ``source.failing``: one of the organization's sources failed ``crawl.source_failure_threshold``
  times in a row (one event per outage: until it succeeds again).

**Nothing lost, nothing twice.** Events are read back from the database rows that record them
(:func:`collect_events`), never held in memory only: the bus handlers (``AlertRaised``,
``SourceFailing``, wired in ``presswatch.wiring``) read the last hour at once, and the
``webhooks-sweep`` job the last day, so an event whose process died before its handler ran is
still sent. Each event has a stable id (``case.changed:<history row id>``,
``source.failing:<source>:<last success>``); the outbox row's idempotency key is
``hook:<endpoint>:<event id>`` (UNIQUE), so reading an event again never queues it twice, and the
outbox (:mod:`alerts.delivery`) retries with back-off until the receiver answers 2xx.

**The request** (the ``json`` channel of :mod:`alerts.webhooks`): ``POST`` with a JSON body
``{"idempotency_key", "message_id", "language", "subject", "text", "data": {"kind": "webhook",
"event", "event_id", "occurred_at", "organization", "endpoint_id", "object": {...}},
"resent_in_doubt"}`` and the headers ``X-Presswatch-Event-Id: <event id>``,
``Idempotency-Key: hook:<endpoint>:<event id>`` and ``X-Presswatch-Signed: t=<unix seconds>,
sha256=<hex>`` where ``hex = HMAC-SHA256(secret, "<t>." + <raw body bytes>)`` (the same digest is
also sent as ``X-Presswatch-Timestamp`` and ``X-Presswatch-Signature: sha256=<hex>``). A receiver
recomputes the HMAC over the exact bytes it received, compares in constant time, refuses a
timestamp older than a few minutes (replays), and ignores an ``event_id`` it has seen (a resend
after an interrupted attempt carries the same id).
"""

from __future__ import annotations

import logging
import secrets as secrets_mod
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import select
from sqlalchemy.orm import Session

from accounts.audit import Actor, record
from alerts.outbox import enqueue, priority_for
from models import Alert, AlertEvent, Delivery, Registration, Source, Unit, WebhookEndpoint, utcnow
from models.scope import Scope, subtree_ids, unit_children
from presswatch.events import AlertRaised, EventBus, SourceFailing
from presswatch.i18n import N_, Refusal
from presswatch.scheduling import ScheduledJob
from settings import Settings

log = logging.getLogger(__name__)

EVENTS = ("alert.raised", "alert.escalated", "case.changed", "registration.verified", "source.failing")
TEST_EVENT = "test"
KEY_PREFIX = "hook"
RAISED_ACTIONS = ("raised",)
ESCALATION_ACTIONS = ("escalated", "escalated_sla")
CASE_ACTIONS = ("ack", "assign", "respond", "response_line", "note", "resolve", "dismiss", "reopen")
HANDLER_WINDOW = timedelta(hours=1)
SWEEP_WINDOW = timedelta(days=1)
SECRET_BYTES = 32


class HookError(Refusal):
    """A change that cannot be made; ``message`` is translatable with ``params``."""


class HookNotFound(HookError):
    pass


@dataclass(frozen=True)
class HookEvent:
    id: str
    type: str
    unit_id: int | None
    occurred_at: datetime
    data: dict[str, Any] = field(default_factory=dict)
    severity: str = ""


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _case_url(settings: Settings | None, alert_id: int) -> str | None:
    base = (settings.web.public_url if settings is not None else "") or ""
    return f"{base.rstrip('/')}/cases/{alert_id}" if base else None


def collect_events(session: Session, since: datetime, settings: Settings | None = None) -> list[HookEvent]:
    """Every event recorded since ``since``, read back from the rows that record it."""
    out: list[HookEvent] = []
    actions = (*RAISED_ACTIONS, *ESCALATION_ACTIONS, *CASE_ACTIONS)
    for ev, alert in session.execute(
            select(AlertEvent, Alert).join(Alert, Alert.id == AlertEvent.alert_id)
            .where(AlertEvent.at >= since, AlertEvent.action.in_(actions)).order_by(AlertEvent.id)):
        kind = ("alert.raised" if ev.action in RAISED_ACTIONS else
                "alert.escalated" if ev.action in ESCALATION_ACTIONS else "case.changed")
        data: dict[str, Any] = {"alert_id": alert.id, "title": alert.title, "severity": str(alert.severity),
                                "state": str(alert.state), "kind": str(alert.kind),
                                "rule": (alert.reason or {}).get("rule"), "deadline_at": _iso(alert.deadline_at),
                                "case_url": _case_url(settings, alert.id)}
        if kind != "alert.raised":
            data.update({"action": ev.action, "from_state": ev.from_state, "to_state": ev.to_state,
                         "actor": ev.actor, "escalation_level": alert.escalation_level})
        out.append(HookEvent(f"{kind}:{ev.id}", kind, alert.unit_id, ev.at, data, str(alert.severity)))
    for reg in session.scalars(select(Registration).where(Registration.verified_at >= since)
                               .order_by(Registration.id)):
        assert reg.verified_at is not None
        out.append(HookEvent(f"registration.verified:{reg.id}", "registration.verified", reg.unit_id,
                             reg.verified_at, {"registration_id": reg.id, "title": reg.title, "url": reg.url,
                                               "article_id": reg.article_id, "verified_at": _iso(reg.verified_at)}))
    threshold = settings.crawl.source_failure_threshold if settings is not None else 3
    for src in session.scalars(select(Source).where(Source.enabled.is_(True),
                                                    Source.consecutive_failures >= threshold,
                                                    Source.last_attempt_at >= since).order_by(Source.key)):
        outage = _iso(src.last_success_at) or "never"
        out.append(HookEvent(f"source.failing:{src.key}:{outage}", "source.failing", src.unit_id,
                             src.last_attempt_at or utcnow(),
                             {"source": src.key, "name": src.name, "consecutive_failures": src.consecutive_failures,
                              "reason": src.last_error, "last_success_at": _iso(src.last_success_at)}))
    return out


class _Coverage:
    """Which endpoints hear an event of a unit: those of the unit or of an ancestor."""

    def __init__(self, session: Session) -> None:
        self.endpoints = session.scalars(select(WebhookEndpoint).where(WebhookEndpoint.enabled.is_(True))
                                         .order_by(WebhookEndpoint.id)).all()
        children = unit_children(session)
        self.covers = {e.id: subtree_ids(session, [e.unit_id], children) for e in self.endpoints}
        self.codes = {u: c for u, c in session.execute(select(Unit.id, Unit.code))}

    def endpoints_for(self, event: HookEvent) -> list[WebhookEndpoint]:
        return [e for e in self.endpoints
                if event.unit_id is not None and event.unit_id in self.covers[e.id] and event.type in (e.events or [])
                and event.occurred_at >= e.created_at]


def _enqueue(session: Session, endpoint: WebhookEndpoint, event: HookEvent, organization: str) -> Delivery:
    payload = {"kind": "webhook", "event": event.type, "event_id": event.id, "occurred_at": _iso(event.occurred_at),
               "organization": organization, "endpoint_id": endpoint.id, "object": event.data}
    summary = f"{event.type}: {event.data.get('title') or event.data.get('name') or event.id}"
    return enqueue(session, idempotency_key=f"{KEY_PREFIX}:{endpoint.id}:{event.id}"[:200], channel="json",
                   recipient=endpoint.url, language="en", subject=f"presswatch {event.type}", body_text=summary,
                   payload=payload, priority=priority_for(event.severity))


def enqueue_events(session: Session, events: Iterable[HookEvent]) -> int:
    """Queue each event for every endpoint that wants it; returns how many messages are new."""
    coverage = _Coverage(session)
    if not coverage.endpoints:
        return 0
    new = 0
    for event in events:
        for endpoint in coverage.endpoints_for(event):
            before = session.scalar(select(Delivery.id).where(
                Delivery.idempotency_key == f"{KEY_PREFIX}:{endpoint.id}:{event.id}"[:200]))
            _enqueue(session, endpoint, event, coverage.codes.get(endpoint.unit_id, ""))
            new += before is None
    return new


def publish_recent(session: Session, settings: Settings, *, window: timedelta = SWEEP_WINDOW,
                   now: datetime | None = None) -> int:
    """Queue the events of the last ``window`` not queued yet (idempotent). Never commits."""
    if session.scalar(select(WebhookEndpoint.id).where(WebhookEndpoint.enabled.is_(True)).limit(1)) is None:
        return 0  # no organization has a webhook: nothing to read
    return enqueue_events(session, collect_events(session, (now or utcnow()) - window, settings))


def endpoint_secrets(session: Session) -> dict[str, str]:
    """Endpoint URL -> its signing secret, for the json channel (alerts.delivery)."""
    return {url: secret for url, secret in session.execute(select(WebhookEndpoint.url, WebhookEndpoint.secret))}


# --------------------------------------------------------------------------------------------
# The admin pages' functions (scoped; audited)


def list_endpoints(session: Session, scope: Scope) -> Sequence[WebhookEndpoint]:
    return session.scalars(select(WebhookEndpoint).where(scope.where(WebhookEndpoint.unit_id))
                           .order_by(WebhookEndpoint.id)).all()


def get_endpoint(session: Session, scope: Scope, endpoint_id: int) -> WebhookEndpoint:
    row = session.get(WebhookEndpoint, endpoint_id)
    if row is None or not scope.contains(row.unit_id) or not scope.can("admin", row.unit_id):
        raise HookNotFound(N_("Unknown webhook."))
    return row


def _snapshot(row: WebhookEndpoint) -> dict[str, Any]:
    return {"url": row.url, "unit_id": row.unit_id, "events": list(row.events or []), "enabled": row.enabled}


def add_endpoint(session: Session, actor: Actor, scope: Scope, *, unit_code: str, url: str,
                 events: Sequence[str]) -> tuple[WebhookEndpoint, str]:
    """A new endpoint and its secret (returned once: show it to the admin, it is not shown again)."""
    unit = session.scalar(select(Unit).where(Unit.code == unit_code)) if unit_code else None
    if unit is None or not scope.can("admin", unit.id):
        raise HookError(N_("Choose one of your units."))
    url = url.strip()
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc or len(url) > 500:
        raise HookError(N_("The address must be an http(s) URL."))
    wanted = [e for e in EVENTS if e in events]
    if not wanted:
        raise HookError(N_("Choose at least one event."))
    if session.scalar(select(WebhookEndpoint.id).where(WebhookEndpoint.url == url)) is not None:
        raise HookError(N_("This address receives webhooks already."))
    secret = secrets_mod.token_urlsafe(SECRET_BYTES)
    row = WebhookEndpoint(unit_id=unit.id, url=url, secret=secret, events=wanted, enabled=True,
                          created_by=actor.username)
    session.add(row)
    session.flush()
    record(session, actor, "webhook.add", unit_id=unit.id, object_type="webhook", object_id=row.id, before=None,
           after=_snapshot(row))
    return row, secret


def set_endpoint_enabled(session: Session, actor: Actor, scope: Scope, endpoint_id: int,
                         enabled: bool) -> WebhookEndpoint:
    row = get_endpoint(session, scope, endpoint_id)
    before = _snapshot(row)
    row.enabled = enabled
    session.flush()
    record(session, actor, "webhook.enable" if enabled else "webhook.disable", unit_id=row.unit_id,
           object_type="webhook", object_id=row.id, before=before, after=_snapshot(row))
    return row


def rotate_secret(session: Session, actor: Actor, scope: Scope, endpoint_id: int) -> tuple[WebhookEndpoint, str]:
    row = get_endpoint(session, scope, endpoint_id)
    row.secret = secrets_mod.token_urlsafe(SECRET_BYTES)
    session.flush()
    record(session, actor, "webhook.rotate_secret", unit_id=row.unit_id, object_type="webhook", object_id=row.id,
           note="secret replaced (the old one no longer verifies)")
    return row, row.secret


def send_test(session: Session, actor: Actor, scope: Scope, endpoint_id: int) -> Delivery:
    """Queue a ``test`` event for one endpoint (sent by the outbox like any other)."""
    row = get_endpoint(session, scope, endpoint_id)
    now = utcnow()
    event = HookEvent(f"test:{secrets_mod.token_hex(8)}", TEST_EVENT, row.unit_id, now,
                      {"message": "test from presswatch", "requested_by": actor.username}, "critical")
    code = session.scalar(select(Unit.code).where(Unit.id == row.unit_id)) or ""
    delivery = _enqueue(session, row, event, code)
    record(session, actor, "webhook.test", unit_id=row.unit_id, object_type="webhook", object_id=row.id,
           after={"event_id": event.id, "delivery_id": delivery.id})
    return delivery


def retry_delivery(session: Session, actor: Actor, scope: Scope, endpoint_id: int, delivery_id: int) -> Delivery:
    """Requeue a dead-lettered message of this endpoint (after the receiver was fixed)."""
    from alerts.outbox import OutboxError, requeue

    endpoint = get_endpoint(session, scope, endpoint_id)
    row = session.get(Delivery, delivery_id)
    if row is None or not row.idempotency_key.startswith(f"{KEY_PREFIX}:{endpoint.id}:"):
        raise HookNotFound(N_("Unknown webhook."))
    try:
        requeue(session, delivery_id)
    except OutboxError:
        raise HookError(N_("Only a message that failed for good can be sent again.")) from None
    record(session, actor, "webhook.retry", unit_id=endpoint.unit_id, object_type="webhook", object_id=endpoint.id,
           after={"delivery_id": delivery_id, "event_id": (row.payload or {}).get("event_id")})
    return row


def delivery_log(session: Session, endpoint: WebhookEndpoint, limit: int = 50) -> Sequence[Delivery]:
    """The endpoint's messages, newest first (status, attempts, last error)."""
    return session.scalars(select(Delivery).where(Delivery.idempotency_key.like(f"{KEY_PREFIX}:{endpoint.id}:%"))
                           .order_by(Delivery.id.desc()).limit(limit)).all()


# --------------------------------------------------------------------------------------------
# Wiring: handlers on the bus and the sweep job


def _publish(window: timedelta) -> int:
    from models.db import get_engine, session_scope
    from settings import get_settings

    with session_scope(get_engine()) as session:
        return publish_recent(session, get_settings(), window=window)


def on_event(_event: object) -> None:
    """An alert was raised or escalated, a source is failing: queue what the last hour recorded."""
    _publish(HANDLER_WINDOW)


def subscribe(target: EventBus) -> None:
    target.subscribe_once(AlertRaised, on_event)
    target.subscribe_once(SourceFailing, on_event)


def sweep_job() -> None:
    queued = _publish(SWEEP_WINDOW)
    if queued:
        log.info("webhooks: %s events queued", queued)


def scheduled_jobs(settings: Settings) -> list[ScheduledJob]:
    return [ScheduledJob("webhooks-sweep", "alerts.hooks:sweep_job", "interval",
                         {"seconds": settings.scheduler.delivery_interval_seconds})]
