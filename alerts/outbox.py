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
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from models import Delivery, utcnow
from models.db import savepoint
from models.enums import DeliveryStatus

MESSAGE_ID_DOMAIN = "presswatch.local"
MAX_KEY_CHARS = 200  # the column's width
MAX_SUBJECT_CHARS = 250
MAX_RECIPIENT_CHARS = 500
EMAIL_CHANNEL = "email"
WEBHOOK_CHANNELS = ("wecom", "dingtalk", "feishu", "slack", "json")
KNOWN_CHANNELS = (EMAIL_CHANNEL, *WEBHOOK_CHANNELS)


class OutboxError(ValueError):
    """A message that cannot be enqueued as given (bad key, recipient or channel)."""


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
) -> Delivery:
    """Add a message to the outbox, or return the one already there under ``idempotency_key``.

    Subject/body are final (already localized by the caller); the subject is made single-line and
    bounded here because it becomes a mail header. ``not_before`` delays the first attempt (quiet
    hours). Never commits.
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


def requeue(session: Session, delivery_id: int) -> Delivery:
    """Give a dead-lettered message a fresh set of attempts (after the operator fixed the cause)."""
    row = session.get(Delivery, delivery_id)
    if row is None:
        raise OutboxError(f"no delivery with id {delivery_id}")
    if row.status != DeliveryStatus.DEAD:
        raise OutboxError(f"delivery {delivery_id} is {row.status}, not dead")
    row.status = DeliveryStatus.PENDING
    row.attempts = 0
    row.next_attempt_at = utcnow()
    row.last_error = f"requeued by operator (was: {row.last_error or 'dead'})"
    return row
