"""Send what the outbox holds; never lose a message, never mark one sent that the server did not take.

One run of :func:`deliver_pending` first takes back the rows that senders on this host which
died left in ``sending`` (their pid is gone), then repeats until nothing is due:

1. **Claim one message** (own transaction, committed): the most urgent due row (``priority``
   first: critical alerts before the rest, then the oldest due) becomes ``sending`` with
   ``attempts + 1``, ``claimed_by`` = this process (``host:pid``) and a lease
   (``next_attempt_at = now + lease``). The row is read ``FOR UPDATE SKIP LOCKED`` and the UPDATE
   is conditional on the status and attempt count read, so parallel senders never claim the same
   row and share the backlog one message at a time. A queued alert whose case was resolved or
   dismissed meanwhile is not sent: it becomes ``cancelled`` with the reason (a merged message
   keeps only its cases still open).
2. **Send** outside any transaction, through the row's channel. Just before the message's data
   goes to the server, ``handed_over_at`` is committed.
3. **Settle** (own transaction): accepted -> ``sent``; transient failure -> back to ``pending``
   with exponential back-off (capped), dead only ``alerts.give_up_after_hours`` after the first
   attempt (or after ``alerts.max_attempts`` when set); permanent failure -> ``dead`` with the
   reason, logged and written to the case's history. An accepted message brings the pending
   retries of its channel forward: the server is back, the alerts held by its outage go now.

A row still ``sending`` after its lease ran out (or whose sender on this host died) was
interrupted. If its data had been handed over, the server may have accepted it: it is sent again
(losing an alert is worse than a duplicate) with the same Message-ID and an
``X-Presswatch-Resent: in-doubt`` header, so the copy is recognisable (mail clients collapse equal
Message-IDs; webhook receivers get the same ``Idempotency-Key``). If not, it is simply sent.
Rows of a disabled channel are left untouched.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import Engine, or_, select, update

from alerts.channels import (
    Channel,
    ChannelSet,
    OutgoingMessage,
    PermanentError,
    TransientError,
    build_channels,
)
from alerts.outbox import withdraw_closed_cases
from models import AlertEvent, Delivery, utcnow
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
    in_doubt: int = 0  # re-sent after an interrupted attempt whose data had been handed over
    taken_back: int = 0  # rows a dead sender on this host had claimed, made due again at once
    cancelled: int = 0  # queued alerts whose case was closed before they went out
    waiting_disabled: int = 0  # due, but their channel is switched off
    errors: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        return (
            f"claimed {self.claimed}, sent {self.sent}, retry scheduled {self.retried}, dead {self.dead}, "
            f"in-doubt resends {self.in_doubt}, taken back from a dead sender {self.taken_back}, "
            f"cancelled (case closed) {self.cancelled}, waiting on a disabled channel {self.waiting_disabled}"
        )


def sender_id() -> str:
    """Who holds a claimed row: this host and process."""
    return f"{socket.gethostname()}:{os.getpid()}"


def backoff_seconds(attempts: int, settings: Settings) -> float:
    """Delay before the next attempt after ``attempts`` failed ones: base * 2^(n-1), capped."""
    a = settings.alerts
    return float(min(a.retry_max_seconds, a.retry_base_seconds * (2 ** max(0, min(attempts, 40) - 1))))


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's live process
        return True
    except OSError:
        return True
    return True


def take_back_orphans(engine: Engine, now: datetime) -> int:
    """Rows left ``sending`` by a sender on this host whose process is gone become due at once
    (instead of waiting for their lease): a restarted service resends what it was sending."""
    host = socket.gethostname()
    with session_scope(engine) as session:
        rows = session.execute(
            select(Delivery.id, Delivery.claimed_by, Delivery.attempts).where(
                Delivery.status == DeliveryStatus.SENDING, Delivery.claimed_by.like(f"{host}:%"),
                Delivery.next_attempt_at > now,
            )
        ).all()
        taken = 0
        for row_id, holder, attempts in rows:
            pid = (holder or "").rpartition(":")[2]
            if not pid.isdigit() or _pid_alive(int(pid)):
                continue
            result = session.execute(
                update(Delivery)
                .where(Delivery.id == row_id, Delivery.status == DeliveryStatus.SENDING,
                       Delivery.claimed_by == holder, Delivery.attempts == attempts)
                .values(next_attempt_at=now)
                .execution_options(synchronize_session=False)
            )
            taken += result.rowcount  # type: ignore[attr-defined]
    if taken:
        log.warning("took back %d message(s) a sender on this host was sending when it died", taken)
    return taken


def _claim_one(engine: Engine, settings: Settings, enabled: list[str], now: datetime, me: str,
               stats: DeliveryStats, tried: set[int]) -> OutgoingMessage | None:
    """Claim the most urgent due message (not one this run has tried already), or None."""
    lease_until = now + timedelta(seconds=settings.alerts.delivery_lease_seconds)
    skipped: list[int] = sorted(tried)
    while True:
        with session_scope(engine) as session:
            query = (
                select(Delivery)
                .where(
                    Delivery.channel.in_(enabled),
                    Delivery.next_attempt_at <= now,
                    or_(Delivery.status == DeliveryStatus.PENDING, Delivery.status == DeliveryStatus.SENDING),
                )
                .order_by(Delivery.priority.desc(), Delivery.next_attempt_at, Delivery.id)
                .limit(1)
                .with_for_update(skip_locked=True)
            )
            if skipped:
                query = query.where(Delivery.id.not_in(skipped))
            row = session.scalar(query)
            if row is None:
                return None
            status, attempts = row.status, row.attempts
            interrupted = status == DeliveryStatus.SENDING
            in_doubt = interrupted and row.handed_over_at is not None
            why = None if interrupted else withdraw_closed_cases(session, row)
            if why is not None:
                row.status = DeliveryStatus.CANCELLED
                row.last_error = why[:MAX_ERROR_CHARS]
                row.hold_reason = None
                stats.cancelled += 1
                log.info("delivery %s cancelled, %s", row.id, why)
                continue
            # Conditional on what was read: on SQLite (no row locks) two senders may read the same row.
            result = session.execute(
                update(Delivery)
                .where(Delivery.id == row.id, Delivery.status == status, Delivery.attempts == attempts,
                       Delivery.next_attempt_at <= now)
                .values(status=DeliveryStatus.SENDING, attempts=attempts + 1, next_attempt_at=lease_until,
                        claimed_by=me, claimed_at=now, handed_over_at=None, hold_reason=None,
                        first_attempt_at=row.first_attempt_at or now)
                .execution_options(synchronize_session=False)
            )
            if result.rowcount != 1:  # type: ignore[attr-defined]
                skipped.append(row.id)  # another sender claimed it first
                continue
            return OutgoingMessage(
                id=row.id, idempotency_key=row.idempotency_key, channel=row.channel,
                recipient=row.recipient, language=row.language, subject=row.subject,
                body_text=row.body_text, body_html=row.body_html, payload=dict(row.payload or {}),
                message_id=row.message_id or "", created_at=row.created_at,
                in_doubt=in_doubt, attempt=attempts + 1,
            )


def _mark_handed_over(engine: Engine, message: OutgoingMessage, me: str) -> None:
    with session_scope(engine) as session:
        session.execute(
            update(Delivery)
            .where(Delivery.id == message.id, Delivery.status == DeliveryStatus.SENDING,
                   Delivery.attempts == message.attempt, Delivery.claimed_by == me)
            .values(handed_over_at=utcnow())
            .execution_options(synchronize_session=False)
        )


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
        if error is None:  # claimed_by stays: who sent it
            row.status = DeliveryStatus.SENT
            row.sent_at = now
            row.last_error = None
            # The server took this one: retries of its channel held by an outage need not wait.
            session.execute(
                update(Delivery)
                .where(Delivery.channel == row.channel, Delivery.status == DeliveryStatus.PENDING,
                       Delivery.attempts > 0, Delivery.hold_reason.is_(None), Delivery.next_attempt_at > now)
                .values(next_attempt_at=now)
                .execution_options(synchronize_session=False)
            )
            return row.status
        a = settings.alerts
        first = row.first_attempt_at or now
        elapsed_hours = (now - first).total_seconds() / 3600
        if isinstance(error, PermanentError):
            row.status = DeliveryStatus.DEAD
            row.last_error = f"refused: {error}"[:MAX_ERROR_CHARS]
        elif elapsed_hours >= a.give_up_after_hours:
            row.status = DeliveryStatus.DEAD
            row.last_error = (f"gave up after {elapsed_hours:.0f} h and {row.attempts} attempts "
                              f"(alerts.give_up_after_hours): {error}")[:MAX_ERROR_CHARS]
        elif a.max_attempts and row.attempts >= a.max_attempts:
            row.status = DeliveryStatus.DEAD
            row.last_error = f"gave up after {row.attempts} attempts: {error}"[:MAX_ERROR_CHARS]
        else:
            row.status = DeliveryStatus.PENDING
            delay = backoff_seconds(row.attempts, settings)
            row.next_attempt_at = now + timedelta(seconds=delay)
            row.last_error = f"attempt {row.attempts} failed, next in {delay:.0f}s: {error}"[:MAX_ERROR_CHARS]
        if row.status == DeliveryStatus.DEAD and row.alert_id is not None:
            # A dead alert is a problem of the case: its history says so.
            session.add(AlertEvent(alert_id=row.alert_id, action="delivery_dead",
                                   note=f"message #{row.id} to {row.recipient} ({row.channel}) not delivered: "
                                        f"{row.last_error}"[:1000],
                                   data={"delivery_id": row.id}))
        return row.status


def _send(channel: Channel, message: OutgoingMessage, on_handover: Callable[[], None]) -> Exception | None:
    try:
        channel.send(message, on_handover=on_handover)
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
    if channels is None:
        from alerts.hooks import endpoint_secrets

        with session_scope(engine) as session:  # the organizations' webhook secrets (alerts.hooks)
            channels = build_channels(settings, endpoint_secrets(session))
    channel_set = channels
    me = sender_id()
    try:
        start = now or utcnow()
        stats.taken_back = take_back_orphans(engine, start)
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
        tried: set[int] = set()
        while stats.claimed < settings.alerts.delivery_batch_size:
            message = _claim_one(engine, settings, enabled, start, me, stats, tried)
            if message is None:
                break
            tried.add(message.id)
            stats.claimed += 1
            if message.in_doubt:
                stats.in_doubt += 1
                log.warning("delivery %s was interrupted after its data was handed over; sending again with the "
                            "same Message-ID", message.id)
            channel = channel_set.channels[message.channel]

            def handed_over(message: OutgoingMessage = message) -> None:
                _mark_handed_over(engine, message, me)

            error = _send(channel, message, handed_over)
            outcome = _settle(engine, settings, message, error, now or utcnow())
            if outcome == DeliveryStatus.SENT:
                stats.sent += 1
            elif outcome == DeliveryStatus.DEAD:
                stats.dead += 1
                stats.errors.append(f"#{message.id}: {error}")
                log.error("delivery %s to %s dead-lettered (see `presswatch alerts outbox`): %s",
                          message.id, message.channel, error)
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
