"""The outbox: every message presswatch sends (alerts, digests, quota reminders) is first a row here.

Callers enqueue inside their own unit of work, so "the alert exists" and "the alert will be sent"
commit together; :mod:`alerts.delivery` sends from this table only. ``enqueue`` is idempotent on
``idempotency_key`` (a second call returns the existing row, even under a concurrent insert: the
UNIQUE constraint decides). The Message-ID is derived from the key alone, so a message resent
after a crash between "the server accepted it" and "we recorded that" carries the same Message-ID
and is recognisable as the same message by the receiving side.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from models import Alert, Delivery, utcnow
from models.db import savepoint
from models.enums import CaseState, DeliveryStatus

if TYPE_CHECKING:
    from accounts.audit import Actor

MESSAGE_ID_DOMAIN = "presswatch.local"
MAX_KEY_CHARS = 200  # the column's width
MAX_SUBJECT_CHARS = 250
MAX_RECIPIENT_CHARS = 500
EMAIL_CHANNEL = "email"
WEBHOOK_CHANNELS = ("wecom", "dingtalk", "feishu", "slack", "json")
KNOWN_CHANNELS = (EMAIL_CHANNEL, *WEBHOOK_CHANNELS)


class OutboxError(ValueError):
    """A message that cannot be enqueued as given (bad key, recipient or channel)."""


PRIORITY = {"critical": 3, "high": 2, "medium": 1}


def priority_for(severity: str) -> int:
    """Claim order in the outbox: critical alerts first, then high, medium, the rest."""
    return PRIORITY.get(severity, 0)


def message_id_for(idempotency_key: str) -> str:
    """A stable RFC 5322 Message-ID for one idempotency key."""
    digest = hashlib.sha256(idempotency_key.encode("utf-8")).hexdigest()[:40]
    return f"<pw.{digest}@{MESSAGE_ID_DOMAIN}>"


def one_line(text: str, limit: int) -> str:
    """Collapse control characters (CR/LF included: no header injection) and bound the length."""
    cleaned = "".join(" " if (ord(ch) < 32 or ord(ch) == 127 or ch in "\u2028\u2029\x85") else ch for ch in text)
    cleaned = " ".join(cleaned.split())
    if len(cleaned) > limit:
        cleaned = cleaned[: limit - 1].rstrip() + "…"
    return cleaned


def enqueue(
    session: Session,
    *,
    idempotency_key: str,
    channel: str,
    recipient: str,
    language: str,
    subject: str,
    body_text: str,
    body_html: str | None = None,
    payload: dict[str, Any] | None = None,
    alert_id: int | None = None,
    digest_id: int | None = None,
    not_before: datetime | None = None,
    hold_reason: str | None = None,
    priority: int | None = None,
) -> Delivery:
    """Add a message to the outbox, or return the one already there under ``idempotency_key``.

    Subject/body are final (already localized by the caller); the subject is made single-line and
    bounded here because it becomes a mail header. ``not_before`` delays the first attempt (quiet
    hours), and ``hold_reason`` says why (shown by ``presswatch alerts outbox``). ``priority``
    (higher is sent first) defaults from ``payload["severity"]``: critical alerts jump the queue.
    Never commits.
    """
    if not idempotency_key or len(idempotency_key) > MAX_KEY_CHARS:
        raise OutboxError(f"idempotency_key must be 1..{MAX_KEY_CHARS} characters")
    if channel not in KNOWN_CHANNELS:
        raise OutboxError(f"unknown channel {channel!r}; known: {', '.join(KNOWN_CHANNELS)}")
    recipient = recipient.strip()
    if not recipient or len(recipient) > MAX_RECIPIENT_CHARS or any(c in recipient for c in "\r\n\0"):
        raise OutboxError(f"bad recipient for {channel}: {recipient[:80]!r}")

    existing = session.scalar(select(Delivery).where(Delivery.idempotency_key == idempotency_key))
    if existing is not None:
        return existing
    row = Delivery(
        idempotency_key=idempotency_key,
        channel=channel,
        recipient=recipient,
        language=language,
        subject=one_line(subject, MAX_SUBJECT_CHARS),
        body_text=body_text,
        body_html=body_html,
        payload=dict(payload or {}),
        message_id=message_id_for(idempotency_key),
        status=DeliveryStatus.PENDING,
        attempts=0,
        next_attempt_at=not_before or utcnow(),
        alert_id=alert_id,
        digest_id=digest_id,
        hold_reason=one_line(hold_reason, 300) if hold_reason else None,
        priority=priority if priority is not None else priority_for(str((payload or {}).get("severity") or "")),
    )
    try:
        with savepoint(session):  # a duplicate key rolls back this insert only
            session.add(row)
            session.flush()
    except IntegrityError:
        # Another worker enqueued the same key between our SELECT and INSERT: theirs wins.
        existing = session.scalar(select(Delivery).where(Delivery.idempotency_key == idempotency_key))
        if existing is None:
            raise
        return existing
    return row


@dataclass(frozen=True)
class OutboxSummary:
    counts: dict[str, int]
    rows: list[Delivery]


def summarize(session: Session, *, include_sent: bool = False, limit: int = 100) -> OutboxSummary:
    """Counts per status and the rows that need attention (pending, sending, dead), oldest first."""
    counts = {
        str(status): int(n)
        for status, n in session.execute(select(Delivery.status, func.count()).group_by(Delivery.status))
    }
    statuses = list(DeliveryStatus) if include_sent else [
        DeliveryStatus.PENDING, DeliveryStatus.SENDING, DeliveryStatus.DEAD
    ]
    rows = list(
        session.scalars(
            select(Delivery)
            .where(Delivery.status.in_(statuses))
            .order_by(Delivery.next_attempt_at, Delivery.id)
            .limit(limit)
        )
    )
    return OutboxSummary(counts=counts, rows=rows)


def requeue(session: Session, delivery_id: int, *, actor: Actor | str | None = None,
            alert_id: int | None = None, unit_id: int | None = None) -> Delivery:
    """Give a dead-lettered message a fresh set of attempts (after the operator fixed the cause).
    ``alert_id``: the message must be one about that case (the case page's retry button); ``actor``:
    who asked, recorded in the audit log under ``unit_id``."""
    row = session.get(Delivery, delivery_id)
    if row is None or (alert_id is not None and row.alert_id != alert_id):
        raise OutboxError(f"no delivery with id {delivery_id}")
    if row.status != DeliveryStatus.DEAD:
        raise OutboxError(f"delivery {delivery_id} is {row.status}, not dead")
    error = row.last_error
    _revive(row, utcnow())
    if actor is not None:
        from accounts.audit import as_actor, record

        record(session, as_actor(actor), "delivery.requeue", unit_id=unit_id, object_type="delivery",
               object_id=row.id, before={"status": "dead", "error": (error or "")[:300]},
               after={"status": str(row.status), "alert_id": row.alert_id})
    return row


@dataclass(frozen=True)
class CaseMessage:
    """One message about a case as the case page shows it: where it stands, and why."""

    id: int
    channel: str
    to: str  # the person's name, or an e-mail address; never a webhook URL (it holds a secret)
    status: str  # queued / held / sending / sent / dead / cancelled
    at: datetime | None  # sent at / next attempt / created
    why: str  # the hold reason, the last error, the cancellation reason
    attempts: int


def case_messages(session: Session, alert_id: int, now: datetime | None = None) -> list[CaseMessage]:
    """The messages about a case (the outbox rows of its alert), oldest first."""
    now = now or utcnow()
    rows = session.scalars(select(Delivery).where(Delivery.alert_id == alert_id).order_by(Delivery.id)).all()
    out = []
    for row in rows:
        name = str((row.payload or {}).get("recipient_name") or "")
        to = name or (row.recipient if row.channel == EMAIL_CHANNEL else row.channel)
        status, why = str(row.status), ""
        at: datetime | None = row.created_at
        if row.status == DeliveryStatus.PENDING:
            held = row.next_attempt_at > now and bool(row.hold_reason)
            status, at = ("held" if held else "queued"), row.next_attempt_at
            why = (row.hold_reason or "") if held else (row.last_error or "")
        elif row.status == DeliveryStatus.SENT:
            at = row.sent_at
        elif row.status in (DeliveryStatus.DEAD, DeliveryStatus.CANCELLED):
            at, why = row.claimed_at or row.created_at, row.last_error or ""
        out.append(CaseMessage(id=row.id, channel=row.channel, to=to, status=status, at=at, why=why,
                               attempts=row.attempts))
    return out


def _revive(row: Delivery, now: datetime) -> None:
    row.status = DeliveryStatus.PENDING
    row.attempts = 0
    row.first_attempt_at = None
    row.claimed_by = None
    row.handed_over_at = None
    row.next_attempt_at = now
    row.last_error = f"requeued by operator (was: {row.last_error or 'dead'})"[:1000]


def requeue_dead(session: Session, *, since: datetime | None = None) -> list[Delivery]:
    """Requeue every dead-lettered message (whose last attempt was at or after ``since``), most
    urgent first: after an outage longer than ``alerts.give_up_after_hours`` one command brings
    them all back."""
    stmt = select(Delivery).where(Delivery.status == DeliveryStatus.DEAD)
    if since is not None:
        stmt = stmt.where(func.coalesce(Delivery.claimed_at, Delivery.created_at) >= since)
    rows = list(session.scalars(stmt.order_by(Delivery.priority.desc(), Delivery.id)))
    now = utcnow()
    for row in rows:
        _revive(row, now)
    return rows


CLOSED_CASE_STATES = (CaseState.RESOLVED, CaseState.DISMISSED)
ALERT_MESSAGE_KINDS = ("alert", "alert-batch")


def withdraw_closed_cases(session: Session, row: Delivery) -> str | None:
    """For a queued alert message about to be sent: None if it should go as it is. A merged
    message whose cases are partly closed is re-rendered with the open ones only (None). If every
    case it is about was resolved or dismissed meanwhile, the reason it must not be sent: an
    officer must not be paged for a matter already handled."""
    payload = row.payload or {}
    if payload.get("kind") not in ALERT_MESSAGE_KINDS:
        return None
    ids = [int(i) for i in payload.get("alert_ids") or ([row.alert_id] if row.alert_id else [])]
    if not ids:
        return None
    alerts = list(session.scalars(select(Alert).where(Alert.id.in_(ids)).order_by(Alert.id)))
    closed = [a for a in alerts if a.state in CLOSED_CASE_STATES]
    if not closed:
        return None
    still_open = [a for a in alerts if a.state not in CLOSED_CASE_STATES]
    if not still_open:
        states = ", ".join(f"#{a.id} {a.state}" for a in closed)
        return f"not sent: the case was closed before the message went out ({states})"
    from alerts.render import render_alerts

    rendered = render_alerts(still_open, row.language, tz=str(payload.get("tz") or "Asia/Shanghai"))
    row.subject = one_line(rendered.subject, MAX_SUBJECT_CHARS)
    row.body_text = rendered.text
    if row.body_html is not None:
        row.body_html = rendered.html
    row.payload = {**payload, "alert_ids": [a.id for a in still_open],
                   "withdrawn_alert_ids": [a.id for a in closed]}
    return None


def cancel_for_closed_case(session: Session, alert_id: int, why: str) -> int:
    """At resolve / dismiss: queued messages about this case alone are cancelled with ``why`` at once
    (merged ones are trimmed when they are claimed). Messages being sent are left alone."""
    rows = session.scalars(select(Delivery).where(Delivery.status == DeliveryStatus.PENDING,
                                                  Delivery.alert_id == alert_id)).all()
    n = 0
    for row in rows:
        payload = row.payload or {}
        if payload.get("kind") not in ALERT_MESSAGE_KINDS:
            continue
        if [int(i) for i in payload.get("alert_ids") or [alert_id]] != [alert_id]:
            continue
        row.status = DeliveryStatus.CANCELLED
        row.hold_reason = None
        row.last_error = why[:1000]
        n += 1
    return n


def describe_state(row: Delivery, now: datetime, disabled: dict[str, str] | None = None) -> str:
    """Why a message is where it is, in one line (``presswatch alerts outbox``)."""
    if row.status == DeliveryStatus.PENDING and disabled and row.channel in disabled:
        return disabled[row.channel]
    if row.status == DeliveryStatus.SENDING:
        return f"being sent by {row.claimed_by or '?'} (resent if that sender died)"
    if row.status == DeliveryStatus.PENDING and row.next_attempt_at > now and row.hold_reason:
        return f"held: {row.hold_reason}"
    if row.status == DeliveryStatus.PENDING and not row.last_error:
        return "due: waiting for its first attempt" if row.next_attempt_at <= now else \
            "waiting for its first attempt"
    return row.last_error or ""
