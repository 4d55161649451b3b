"""Shortfall reminders and monthly / quarterly results, sent to units through the alerts outbox.

Nothing here talks to a mail server: messages are enqueued with :func:`alerts.outbox.enqueue`
inside the caller's unit of work and the delivery job sends them. Idempotency keys name the rule,
unit, period and recipient, so the daily job can run any number of times a day and each unit
hears once per period ("还差 2 篇，剩 3 天"), and once per finished month or quarter.

Recipients are a unit's ``contacts``; a unit without contacts is reported to its nearest ancestor
that has some (the press office hears about its teams).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from models import Delivery, Unit, utcnow
from models.enums import Measure, Period
from quota.labels import fmt_number, t
from quota.periods import local_date, period_containing
from quota.scoring import StatusRow, rankings, status
from settings import Settings


def _contacts(session: Session, unit_id: int) -> list[dict[str, Any]]:
    seen: set[int] = set()
    current: int | None = unit_id
    while current is not None and current not in seen:
        seen.add(current)
        unit = session.get(Unit, current)
        if unit is None:
            break
        if unit.contacts:
            return [c for c in unit.contacts if c.get("email")]
        current = unit.parent_id
    return []


def send_reminders(session: Session, settings: Settings, now: datetime | None = None) -> list[Delivery]:
    """Enqueue a reminder for each current period about to end short of its target."""
    from alerts.outbox import enqueue

    now = now or utcnow()
    days = settings.quota.reminder_days_before_period_end
    out: list[Delivery] = []
    for r in status(session, None, now=now):
        if r.met or r.days_left is None or r.days_left > days:
            continue
        for contact in _contacts(session, r.unit_id):
            lang = contact.get("language", settings.alerts.default_language)
            n = fmt_number(r.shortfall) + " " + t(lang, "points" if r.measure is Measure.POINTS else "pieces")
            fields = {
                "unit": r.unit_name, "rule": r.rule_name, "period": r.period, "n": n, "days": r.days_left,
                "end": r.window.last_day.isoformat(), "target": fmt_number(r.target), "value": fmt_number(r.value),
                "ids": ", ".join(f"#{i}" for i in r.registration_ids) or t(lang, "none"),
            }
            out.append(enqueue(
                session,
                idempotency_key=f"quota-reminder:{r.rule_key}:{r.unit_code}:{r.period}:{contact['email']}",
                channel="email", recipient=contact["email"], language=lang,
                subject=t(lang, "reminder_subject", **fields), body_text=t(lang, "reminder_body", **fields),
                payload={"kind": "quota_reminder", "rule": r.rule_key, "unit": r.unit_code, "period": r.period,
                         "registration_ids": r.registration_ids},
            ))
    return out


@dataclass(frozen=True)
class PeriodReport:
    label: str
    kind: Period
    rows: list[StatusRow]


def due_reports(settings: Settings, now: datetime) -> list[str]:
    """Labels of the finished month (and quarter, at a quarter's start) to report on today."""
    today = local_date(now, settings.quota.timezone)
    month = period_containing(Period.MONTH, today).previous()
    labels = [month.label]
    quarter = period_containing(Period.QUARTER, today)
    if quarter.start.month == today.month:  # first month of a quarter: the last quarter is done
        labels.append(quarter.previous().label)
    return labels


def _body(rows: Sequence[StatusRow], lang: str, unit_name: str, label: str) -> str:
    lines = [t(lang, "report_intro", unit=unit_name, period=label)]
    for r in rows:
        state = t(lang, "met") if r.met else t(lang, "short", n=fmt_number(r.shortfall))
        lines.append(f"- {r.rule_name} · {r.period}: {fmt_number(r.value)}/{fmt_number(r.target)} ({state})"
                     f" [{', '.join(f'#{i}' for i in r.registration_ids) or t(lang, 'none')}]")
    return "\n".join(lines) + "\n\n— presswatch"


def send_period_reports(session: Session, settings: Settings, now: datetime | None = None) -> list[Delivery]:
    """Enqueue each unit's results for the month (and quarter) that just ended, with rankings."""
    from alerts.outbox import enqueue

    now = now or utcnow()
    out: list[Delivery] = []
    for label in due_reports(settings, now):
        rows = status(session, label, now=now)
        ranked = rankings([r for r in rows if r.measure is Measure.POINTS])
        by_unit: dict[int, list[StatusRow]] = {}
        for r in rows:
            by_unit.setdefault(r.unit_id, []).append(r)
        for unit_id, unit_rows in by_unit.items():
            for contact in _contacts(session, unit_id):
                lang = contact.get("language", settings.alerts.default_language)
                body = _body(unit_rows, lang, unit_rows[-1].unit_name, label)
                ranks = [
                    f"{t(lang, 'ranking_title')} · {r.rule_name}: {t(lang, 'rank')} {x.rank}/{len(ranked[r.rule_key])}"
                    for r in unit_rows if r.rule_key in ranked
                    for x in ranked[r.rule_key] if x.unit_code == r.unit_code
                ]
                if ranks:
                    body += "\n" + "\n".join(dict.fromkeys(ranks))
                out.append(enqueue(
                    session,
                    idempotency_key=f"quota-report:{label}:{unit_rows[0].unit_code}:{contact['email']}",
                    channel="email", recipient=contact["email"], language=lang,
                    subject=t(lang, "report_subject", unit=unit_rows[-1].unit_name, period=label),
                    body_text=body,
                    payload={"kind": "quota_report", "period": label, "unit": unit_rows[0].unit_code,
                             "rows": [{"rule": r.rule_key, "period": r.period, "value": r.value, "target": r.target,
                                       "registration_ids": r.registration_ids} for r in unit_rows]},
                ))
    return out


__all__ = ["due_reports", "send_period_reports", "send_reminders"]
