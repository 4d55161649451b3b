"""Send what the outbox holds; never lose a message, never mark one sent that the server did not take.

One run of :func:`deliver_pending`:

1. **Claim** (own transaction, committed): due rows (``pending`` and ``next_attempt_at <= now``)
   become ``sending`` with ``attempts + 1`` and a lease (``next_attempt_at = now + lease``). The
   claim is a conditional UPDATE, so two workers never claim the same row.
2. **Send** outside any transaction, through the row's channel.
3. **Settle** (own transaction): accepted -> ``sent``; transient failure -> back to ``pending``
   with exponential back-off; permanent failure or ``max_attempts`` reached -> ``dead`` with the
   reason.

All state is in the ``deliveries`` table, so a restart picks up where the last process stopped.
A row still ``sending`` after its lease ran out belongs to a process that died between steps 2
and 3: the server may or may not have accepted it. It is sent again (losing an alert is worse
than a duplicate) with the same Message-ID and an ``X-Presswatch-Resent: in-doubt`` header, so the
copy is recognisable as the same message (mail clients collapse equal Message-IDs; webhook
receivers get the same ``Idempotency-Key``). Rows of a disabled channel are left untouched.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import Engine, and_, or_, select, update

from alerts.channels import (
    Channel,
    ChannelSet,
    OutgoingMessage,
    PermanentError,
    TransientError,
    build_channels,
)
from models import Delivery, utcnow
from models.db import session_scope
from models.enums import DeliveryStatus
from settings import Settings

log = logging.getLogger(__name__)

MAX_ERROR_CHARS = 1000


@dataclass
class DeliveryStats:
    claimed: int = 0
    sent: int = 0
    retried: int = 0  # failed transiently, scheduled again
    dead: int = 0
    in_doubt: int = 0  # re-sent after an interrupted attempt
    waiting_disabled: int = 0  # due, but their channel is switched off
    errors: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        return (
            f"claimed {self.claimed}, sent {self.sent}, retry scheduled {self.retried}, dead {self.dead}, "
            f"in-doubt resends {self.in_doubt}, waiting on a disabled channel {self.waiting_disabled}"
        )


def backoff_seconds(attempts: int, settings: Settings) -> float:
    """Delay before the next attempt after ``attempts`` failed ones: base * 2^(n-1), capped."""
    a = settings.alerts
    return float(min(a.retry_max_seconds, a.retry_base_seconds * (2 ** max(0, attempts - 1))))


def _claim(engine: Engine, settings: Settings, enabled: list[str], now: datetime) -> list[OutgoingMessage]:
    lease_until = now + timedelta(seconds=settings.alerts.delivery_lease_seconds)
    claimed: list[OutgoingMessage] = []
    with session_scope(engine) as session:
        due = session.execute(
            select(Delivery.id, Delivery.status, Delivery.attempts)
            .where(
                Delivery.channel.in_(enabled),
                Delivery.next_attempt_at <= now,
                or_(Delivery.status == DeliveryStatus.PENDING, Delivery.status == DeliveryStatus.SENDING),
            )
            .order_by(Delivery.next_attempt_at, Delivery.id)
            .limit(settings.alerts.delivery_batch_size)
        ).all()
        for row_id, status, attempts in due:
            result = session.execute(
                update(Delivery)
                .where(
                    and_(
                        Delivery.id == row_id,
                        Delivery.status == status,
                        Delivery.attempts == attempts,
                        Delivery.next_attempt_at <= now,
                    )
                )
                .values(status=DeliveryStatus.SENDING, attempts=attempts + 1, next_attempt_at=lease_until)
                .execution_options(synchronize_session=False)
            )
            if result.rowcount != 1:  # type: ignore[attr-defined]
                continue  # another worker claimed it first
            row = session.get(Delivery, row_id, populate_existing=True)
            assert row is not None
            claimed.append(
                OutgoingMessage(
                    id=row.id, idempotency_key=row.idempotency_key, channel=row.channel,
                    recipient=row.recipient, language=row.language, subject=row.subject,
                    body_text=row.body_text, body_html=row.body_html, payload=dict(row.payload or {}),
                    message_id=row.message_id or "", created_at=row.created_at,
                    in_doubt=status == DeliveryStatus.SENDING, attempt=attempts + 1,
                )
            )
    return claimed


def _settle(
    engine: Engine, settings: Settings, message: OutgoingMessage, error: Exception | None, now: datetime
) -> DeliveryStatus | None:
    """Record the outcome, only if the row is still ours (same attempt, still ``sending``)."""
    with session_scope(engine) as session:
        row = session.scalar(
            select(Delivery).where(
                Delivery.id == message.id,
                Delivery.status == DeliveryStatus.SENDING,
                Delivery.attempts == message.attempt,
            )
        )
        if row is None:
            log.warning("delivery %s changed under us (lease expired?); leaving it", message.id)
            return None
        if error is None:
            row.status = DeliveryStatus.SENT
            row.sent_at = now
            row.last_error = None
        elif isinstance(error, PermanentError) or row.attempts >= settings.alerts.max_attempts:
            row.status = DeliveryStatus.DEAD
            why = "refused" if isinstance(error, PermanentError) else f"gave up after {row.attempts} attempts"
            row.last_error = f"{why}: {error}"[:MAX_ERROR_CHARS]
        else:
            row.status = DeliveryStatus.PENDING
            delay = backoff_seconds(row.attempts, settings)
            row.next_attempt_at = now + timedelta(seconds=delay)
            row.last_error = f"attempt {row.attempts} failed, next in {delay:.0f}s: {error}"[:MAX_ERROR_CHARS]
        return row.status


def _send(channel: Channel, message: OutgoingMessage) -> Exception | None:
    try:
        channel.send(message)
    except (TransientError, PermanentError) as exc:
        return exc
    except Exception as exc:  # a bug in a channel must not strand the row in 'sending'
        log.exception("channel %s failed unexpectedly on delivery %s", message.channel, message.id)
        return TransientError(f"unexpected {type(exc).__name__}: {exc}")
    return None


def deliver_pending(
    engine: Engine,
    settings: Settings,
    *,
    now: datetime | None = None,
    channels: ChannelSet | None = None,
) -> DeliveryStats:
    """Send every due message once; return what happened. Safe to run from several processes."""
    stats = DeliveryStats()
    own_channels = channels is None
    channel_set = channels or build_channels(settings)
    try:
        start = now or utcnow()
        enabled = sorted(channel_set.channels)
        if channel_set.disabled:
            with session_scope(engine) as session:
                stats.waiting_disabled = len(
                    session.scalars(
                        select(Delivery.id).where(
                            Delivery.channel.in_(sorted(channel_set.disabled)),
                            Delivery.status == DeliveryStatus.PENDING,
                            Delivery.next_attempt_at <= start,
                        )
                    ).all()
                )
        claimed = _claim(engine, settings, enabled, start)
        stats.claimed = len(claimed)
        for message in claimed:
            if message.in_doubt:
                stats.in_doubt += 1
                log.warning("delivery %s was interrupted after sending; sending again with the same Message-ID",
                            message.id)
            channel = channel_set.channels[message.channel]
            error = _send(channel, message)
            outcome = _settle(engine, settings, message, error, now or utcnow())
            if outcome == DeliveryStatus.SENT:
                stats.sent += 1
            elif outcome == DeliveryStatus.DEAD:
                stats.dead += 1
                stats.errors.append(f"#{message.id}: {error}")
                log.error("delivery %s to %s dead-lettered: %s", message.id, message.channel, error)
            elif outcome == DeliveryStatus.PENDING:
                stats.retried += 1
                stats.errors.append(f"#{message.id}: {error}")
                log.warning("delivery %s to %s failed, will retry: %s", message.id, message.channel, error)
    finally:
        if own_channels:
            channel_set.close()
    return stats


def disabled_reasons(settings: Settings) -> dict[str, str]:
    """Channel name -> why it is off, for ``presswatch alerts outbox``."""
    channel_set = build_channels(settings)
    channel_set.close()
    return dict(channel_set.disabled)
