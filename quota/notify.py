"""Shortfall reminders and monthly / quarterly results, sent to units through the alerts outbox.

Nothing here talks to a mail server: messages are enqueued with :func:`alerts.outbox.enqueue`
inside the caller's unit of work and the delivery job sends them. Idempotency keys name the rule,
unit, period and recipient, so the daily job can run any number of times a day and each unit
hears once per period ("还差 2 篇，剩 3 天"), and once per finished month or quarter.

Recipients are a unit's ``contacts``; a unit without contacts is reported to its nearest ancestor
that has some (the press office hears about its teams).
"""

from __future__ import annotations

import base64
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from models import Delivery, QuotaRule, Registration, Unit, utcnow
from models.enums import Adoption, Measure, Period
from quota.labels import fmt_number, t
from quota.periods import local_date, parse_span, period_containing
from quota.report import XLSX_MIME, table_xlsx
from quota.scoring import RankRow, StatusRow, rankings, status
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
    return "\n".join(lines)


def _enqueue_to(
    session: Session, settings: Settings, unit_id: int, key: str,
    message: Callable[[str], tuple[str, str]], payload: dict[str, Any],
    attachments: Callable[[str], list[dict[str, Any]]] | None = None,
) -> list[Delivery]:
    """One message per contact of ``unit_id`` (or its nearest ancestor with contacts), each in the
    contact's language; ``message(lang)`` gives (subject, body), ``attachments(lang)`` the files
    (outbox form: filename, mime, data_b64); the key ends with the recipient."""
    from alerts.outbox import enqueue

    out = []
    for contact in _contacts(session, unit_id):
        lang = contact.get("language", settings.alerts.default_language)
        subject, body = message(lang)
        files = {"attachments": attachments(lang)} if attachments is not None else {}
        out.append(enqueue(
            session, idempotency_key=f"{key}:{contact['email']}", channel="email", recipient=contact["email"],
            language=lang, subject=subject, body_text=body + "\n\n— presswatch", payload=payload | files,
        ))
    return out


def _unit_reports(session: Session, settings: Settings, label: str, rows: list[StatusRow]) -> list[Delivery]:
    """Each unit its own rows for ``label``, with its rank under each points rule."""
    ranked = rankings([r for r in rows if r.measure is Measure.POINTS])
    by_unit: dict[int, list[StatusRow]] = {}
    for r in rows:
        by_unit.setdefault(r.unit_id, []).append(r)
    out: list[Delivery] = []
    for unit_id, unit_rows in by_unit.items():
        name, code = unit_rows[-1].unit_name, unit_rows[0].unit_code

        def message(lang: str, unit_rows: list[StatusRow] = unit_rows, name: str = name) -> tuple[str, str]:
            body = _body(unit_rows, lang, name, label)
            ranks = [
                f"{t(lang, 'ranking_title')} · {r.rule_name}: {t(lang, 'rank')} {x.rank}/{len(ranked[r.rule_key])}"
                for r in unit_rows if r.rule_key in ranked
                for x in ranked[r.rule_key] if x.unit_code == r.unit_code
            ]
            if ranks:
                body += "\n" + "\n".join(dict.fromkeys(ranks))
            return t(lang, "report_subject", unit=name, period=label), body

        out += _enqueue_to(
            session, settings, unit_id, f"quota-report:{label}:{code}", message,
            {"kind": "quota_report", "period": label, "unit": code,
             "rows": [{"rule": r.rule_key, "period": r.period, "value": r.value, "target": r.target,
                       "registration_ids": r.registration_ids} for r in unit_rows]},
        )
    return out


_ADOPTION_ORDER = {Adoption.STANDALONE: 2, Adoption.COMBINED: 1, Adoption.NONE: 0}


def _adoptions(session: Session, ids: Sequence[int]) -> Counter[Adoption]:
    """Pieces by adoption among these registrations: a piece registered twice (reposts, the same
    title on one outlet) counts once, with its best adoption, as scoring gives it its best weight."""
    best: dict[str, Adoption] = {}
    for rid in range(0, len(ids), 500):
        for r in session.execute(
            select(Registration.story_id, Registration.article_id, Registration.url_hash, Registration.outlet_id,
                   Registration.title, Registration.adoption).where(Registration.id.in_(ids[rid:rid + 500]))
        ):
            piece = (f"s{r.story_id}" if r.story_id is not None else f"a{r.article_id}" if r.article_id is not None
                     else f"u{r.url_hash}" if r.url_hash else f"t{r.outlet_id}:{r.title}")
            if piece not in best or _ADOPTION_ORDER[r.adoption] > _ADOPTION_ORDER[best[piece]]:
                best[piece] = r.adoption
    return Counter(best.values())


def _announcements(session: Session, settings: Settings, label: str, rows: list[StatusRow]) -> list[Delivery]:
    """Per rule with ``announce_to``: one table of every unit under it for ``label``, to that unit.

    A rule's periods are reported in the month or quarter where they end (a week in the month of its
    Sunday); quarterly and yearly rules only in the quarter's announcement."""
    span = parse_span(label)
    assert not isinstance(span, date)
    announce = {key: uid for key, uid in session.execute(
        select(QuotaRule.key, QuotaRule.announce_unit_id).where(QuotaRule.announce_unit_id.is_not(None))
    )}
    by_rule: dict[str, list[StatusRow]] = {}
    for r in rows:
        if r.rule_key not in announce or not span.contains(r.window.last_day):
            continue
        if span.kind is Period.MONTH and r.window.kind in (Period.QUARTER, Period.YEAR):
            continue
        by_rule.setdefault(r.rule_key, []).append(r)
    out: list[Delivery] = []
    for key, rule_rows in by_rule.items():
        ranked = rankings(rule_rows)[key]
        ids: dict[str, list[int]] = {}
        for r in rule_rows:
            ids.setdefault(r.unit_code, []).extend(r.registration_ids)
        adopted = {code: _adoptions(session, sorted(set(v))) for code, v in ids.items()}
        measure, rule_name = rule_rows[0].measure, rule_rows[0].rule_name
        unit_id = announce[key]
        assert unit_id is not None
        office = session.get(Unit, unit_id)
        office_name = office.name if office else ""

        def met(lang: str, x: RankRow) -> str:
            if x.periods == 1:
                return t(lang, "yes") if x.periods_met else t(lang, "no")
            return f"{x.periods_met}/{x.periods}"

        def table(lang: str, ranked: list[RankRow] = ranked, measure: Measure = measure,
                  adopted: dict[str, Counter[Adoption]] = adopted) -> tuple[list[str], list[list[object]]]:
            head = [t(lang, "unit"), t(lang, "submitted"), t(lang, "standalone"), t(lang, "combined"),
                    t(lang, "points" if measure is Measure.POINTS else "count"), t(lang, "target_met"), t(lang, "rank")]
            rows: list[list[object]] = [
                [x.unit_name, x.count, adopted[x.unit_code][Adoption.STANDALONE],
                 adopted[x.unit_code][Adoption.COMBINED], x.value, met(lang, x), x.rank]
                for x in ranked
            ]
            return head, rows

        def message(lang: str, rule_name: str = rule_name, office_name: str = office_name,
                    table: Callable[[str], tuple[list[str], list[list[object]]]] = table) -> tuple[str, str]:
            head, rows = table(lang)
            lines = [t(lang, "announce_intro", unit=office_name, rule=rule_name, period=label),
                     " | ".join(head), " | ".join("---" for _ in head)]
            lines += [" | ".join(fmt_number(c) if isinstance(c, int | float) else str(c) for c in row) for row in rows]
            return t(lang, "announce_subject", rule=rule_name, period=label), "\n".join(lines)

        def files(lang: str, key: str = key, rule_name: str = rule_name, office_name: str = office_name,
                  table: Callable[[str], tuple[list[str], list[list[object]]]] = table) -> list[dict[str, Any]]:
            head, rows = table(lang)
            title = t(lang, "announce_intro", unit=office_name, rule=rule_name, period=label)
            data = table_xlsx(title, head, rows, sheet=t(lang, "ranking_title"))
            return [{"filename": f"{key}-{label}.xlsx", "mime": XLSX_MIME, "data_b64": base64.b64encode(data).decode()}]

        out += _enqueue_to(
            session, settings, unit_id, f"quota-announce:{key}:{label}", message,
            {"kind": "quota_announcement", "rule": key, "period": label,
             "rows": [{"unit": x.unit_code, "submitted": x.count,
                       "standalone": adopted[x.unit_code][Adoption.STANDALONE],
                       "combined": adopted[x.unit_code][Adoption.COMBINED], "value": x.value,
                       "periods": x.periods, "periods_met": x.periods_met, "rank": x.rank} for x in ranked]},
            attachments=files,
        )
    return out


def send_period_reports(session: Session, settings: Settings, now: datetime | None = None) -> list[Delivery]:
    """Enqueue each unit's results for the month (and quarter) that just ended, with rankings, and
    to each rule's ``announce_to`` unit the table of every unit under that rule."""
    now = now or utcnow()
    out: list[Delivery] = []
    for label in due_reports(settings, now):
        rows = status(session, label, now=now)
        out += _unit_reports(session, settings, label, rows)
        out += _announcements(session, settings, label, rows)
    return out


__all__ = ["due_reports", "send_period_reports", "send_reminders"]
