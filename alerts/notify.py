"""Turning an alert into outbox messages, one per recipient and channel, with the delivery policy.

- Critical alerts go out at once, always (no quiet hours, no rate limit, no merging).
- Quiet hours (in the rule's time zone) delay a message to the end of the quiet period.
- Merging: the first alert to a person goes out at once; further alerts to that person within
  ``merge_window_minutes`` are collected into ONE pending message sent when the window closes.
- Rate limit: past ``rate_limit_per_hour`` messages in the last hour, alerts wait in that merged
  message until the hour has room again.

The subject and body are rendered per recipient language here, so the outbox holds final text.
"""

from __future__ import annotations

import hashlib
from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from alerts.outbox import enqueue, priority_for
from alerts.render import render_alerts
from alerts.rules import Recipient, RuleSpec
from models import Alert, Delivery
from models.enums import DeliveryStatus, RiskLevel

ALERT_KINDS = ("alert", "alert-batch")


def parse_quiet_hours(spec: str) -> tuple[time, time] | None:
    """``"22:00-07:00"`` -> (22:00, 07:00); empty -> None. Raises ValueError on a bad spec."""
    spec = (spec or "").strip()
    if not spec:
        return None
    start_s, sep, end_s = spec.partition("-")
    if not sep:
        raise ValueError(f"quiet_hours {spec!r} must look like 22:00-07:00")
    start, end = time.fromisoformat(start_s.strip()), time.fromisoformat(end_s.strip())
    return start, end


def quiet_until(now: datetime, spec: str, tz: str) -> datetime | None:
    """The end of the quiet period if ``now`` falls in it, else None."""
    window = parse_quiet_hours(spec)
    if window is None:
        return None
    start, end = window
    local = now.astimezone(ZoneInfo(tz))
    t = local.timetz().replace(tzinfo=None)
    inside = (start <= t < end) if start < end else (t >= start or t < end)
    if not inside:
        return None
    end_local = local.replace(hour=end.hour, minute=end.minute, second=0, microsecond=0)
    if end_local <= local:
        end_local += timedelta(days=1)
    return end_local.astimezone(now.tzinfo)


def _recipient_hash(recipient: Recipient) -> str:
    return hashlib.sha256(recipient.key.encode("utf-8")).hexdigest()[:16]


def _recent_alert_deliveries(session: Session, recipient: Recipient, since: datetime) -> list[Delivery]:
    rows = session.scalars(
        select(Delivery).where(
            Delivery.recipient == recipient.address,
            Delivery.channel == recipient.channel,
            Delivery.created_at >= since,
        ).order_by(Delivery.created_at)
    ).all()
    return [r for r in rows if (r.payload or {}).get("kind") in ALERT_KINDS]


def notify(
    session: Session,
    alert: Alert,
    rule: RuleSpec,
    now: datetime,
    *,
    recipients: tuple[Recipient, ...] | None = None,
    escalated: bool = False,
    note: str = "",
) -> int:
    """Enqueue this alert for every recipient; returns the number of outbox rows touched."""
    session.flush()
    touched = 0
    round_no = alert.notified_count
    critical = str(alert.severity) == RiskLevel.CRITICAL.value
    opts = rule.options
    tz = str(opts.get("timezone") or "Asia/Shanghai")
    window = timedelta(minutes=float(opts.get("merge_window_minutes") or 0))
    limit = int(opts.get("rate_limit_per_hour") or 0)
    rule_tz = tz
    for recipient in recipients if recipients is not None else rule.recipients:
        tz = recipient.timezone or rule_tz
        quiet_spec = str(opts.get("quiet_hours") or "")
        quiet_end = None if critical else quiet_until(now, quiet_spec, tz)
        not_before = quiet_end or now
        hold = _quiet_reason(quiet_spec, tz, quiet_end) if quiet_end else None
        hold_until: datetime | None = None
        batch_hold = ""
        if not critical:
            last_hour = _recent_alert_deliveries(session, recipient, now - timedelta(hours=1))
            in_window = [d for d in last_hour if d.created_at >= now - window] if window else []
            if in_window:
                hold_until = in_window[0].created_at + window
                minutes = window.total_seconds() / 60
                batch_hold = f"merged with further alerts to this person (merge window {minutes:.0f} min)"
            if limit and len(last_hour) >= limit:
                hold_until = max(hold_until or now, last_hour[0].created_at + timedelta(hours=1))
                batch_hold = f"rate limit: {limit} alert messages an hour to this person"
        if hold_until is not None:
            send_at = max(hold_until, not_before)
            reason = hold if quiet_end is not None and quiet_end >= hold_until else \
                f"{batch_hold} until {send_at.astimezone(ZoneInfo(tz)):%Y-%m-%d %H:%M} {tz}"
            touched += _add_to_batch(session, alert, recipient, send_at, tz, now, reason)
            continue
        rendered = render_alerts([alert], recipient.language, escalated_ids=[alert.id] if escalated else [],
                                 tz=tz, note=note)
        enqueue(
            session,
            idempotency_key=f"alert:{alert.id}:{round_no}:{_recipient_hash(recipient)}",
            channel=recipient.channel, recipient=recipient.address, language=recipient.language,
            subject=rendered.subject, body_text=rendered.text,
            body_html=rendered.html if recipient.channel == "email" else None,
            payload={"kind": "alert", "alert_ids": [alert.id], "severity": str(alert.severity),
                     "recipient_name": recipient.name, "tz": tz},
            alert_id=alert.id, not_before=not_before, hold_reason=hold,
        )
        touched += 1
    alert.notified_count = round_no + 1
    return touched


def _quiet_reason(spec: str, tz: str, until: datetime) -> str:
    return f"quiet hours ({spec} {tz}) until {until.astimezone(ZoneInfo(tz)):%Y-%m-%d %H:%M}"


def _add_to_batch(
    session: Session, alert: Alert, recipient: Recipient, send_at: datetime, tz: str, now: datetime,
    hold_reason: str | None = None,
) -> int:
    """Put the alert into the recipient's pending merged message (or start one)."""
    pending = session.scalars(
        select(Delivery).where(
            Delivery.recipient == recipient.address,
            Delivery.channel == recipient.channel,
            Delivery.status == DeliveryStatus.PENDING,
            Delivery.attempts == 0,
            # Only a batch not yet due: one that delivery may be claiming right now is left alone.
            Delivery.next_attempt_at > now + timedelta(seconds=5),
        )
    ).all()
    batch = next((d for d in pending if (d.payload or {}).get("kind") == "alert-batch"), None)
    ids: list[int] = list((batch.payload or {}).get("alert_ids", [])) if batch else []
    if alert.id not in ids:
        ids.append(alert.id)
    alerts = list(session.scalars(select(Alert).where(Alert.id.in_(ids)).order_by(Alert.id)))
    rendered = render_alerts(alerts, recipient.language, tz=tz)
    payload: dict[str, Any] = {"kind": "alert-batch", "alert_ids": ids, "recipient_name": recipient.name, "tz": tz,
                               "severity": max((str(a.severity) for a in alerts),
                                               key=lambda s: RiskLevel(s).rank)}
    if batch is None:
        enqueue(
            session,
            idempotency_key=f"batch:{_recipient_hash(recipient)}:{int(send_at.timestamp())}:{alert.id}",
            channel=recipient.channel, recipient=recipient.address, language=recipient.language,
            subject=rendered.subject, body_text=rendered.text,
            body_html=rendered.html if recipient.channel == "email" else None,
            payload=payload, alert_id=alert.id, not_before=send_at, hold_reason=hold_reason,
        )
    else:
        batch.subject = rendered.subject
        batch.body_text = rendered.text
        batch.body_html = rendered.html if recipient.channel == "email" else None
        batch.payload = payload
        batch.priority = max(batch.priority or 0, priority_for(str(payload["severity"])))
    return 1


def refresh_pending(session: Session, alert: Alert, rule: RuleSpec, now: datetime) -> int:
    """Re-render messages about ``alert`` that are still waiting (quiet hours, a merge window), so the
    officer reads the latest spread when they go out. Messages that may be in flight are left alone."""
    tz = str(rule.options.get("timezone") or "Asia/Shanghai")
    waiting = session.scalars(
        select(Delivery).where(
            Delivery.status == DeliveryStatus.PENDING,
            Delivery.attempts == 0,
            Delivery.next_attempt_at > now + timedelta(seconds=5),
        )
    ).all()
    refreshed = 0
    for delivery in waiting:
        ids = list((delivery.payload or {}).get("alert_ids") or [])
        if alert.id not in ids:
            continue
        alerts = list(session.scalars(select(Alert).where(Alert.id.in_(ids)).order_by(Alert.id)))
        rendered = render_alerts(alerts, delivery.language, tz=tz)
        delivery.subject = rendered.subject
        delivery.body_text = rendered.text
        if delivery.body_html is not None:
            delivery.body_html = rendered.html
        refreshed += 1
    return refreshed
