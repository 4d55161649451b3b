"""The case workflow: every alert is a case, handled to the end with a record of who did what.

States: new -> acknowledged -> responding -> resolved, or dismissed (a false alarm) from any open
state. Each change is an ``alert_events`` row (actor, from/to state, note), so the history is
complete. Dismissing a story alert as a false alarm stores a ``models.Label`` correction (risk
``low``, sentiment if given) that ``presswatch train`` learns from.

Every case has a deadline from its rule's per-severity SLA. :func:`escalate_overdue` hands a case
that is still new/acknowledged past its deadline to the next person on the rule's escalation list,
notifies them, and gives them a fresh deadline.

Correction requests (cải chính) to outlets that published false information are tracked the same
way, with their history kept on the row.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from alerts.engine import add_event, sla_deadline
from alerts.notify import notify
from alerts.rules import Recipient, RuleSpec
from models import Alert, AlertEvent, AlertRule, CorrectionRequest, Label, Outlet, utcnow
from models.enums import AlertKind, CaseState, CorrectionState

OPEN_STATES = (CaseState.NEW, CaseState.ACKNOWLEDGED, CaseState.RESPONDING)
TRANSITIONS: dict[str, tuple[CaseState, ...]] = {
    "ack": (CaseState.NEW,),
    "respond": (CaseState.NEW, CaseState.ACKNOWLEDGED),
    "resolve": (CaseState.NEW, CaseState.ACKNOWLEDGED, CaseState.RESPONDING),
    "dismiss": (CaseState.NEW, CaseState.ACKNOWLEDGED, CaseState.RESPONDING),
    "reopen": (CaseState.RESOLVED, CaseState.DISMISSED),
}
TARGET = {"ack": CaseState.ACKNOWLEDGED, "respond": CaseState.RESPONDING, "resolve": CaseState.RESOLVED,
          "dismiss": CaseState.DISMISSED, "reopen": CaseState.NEW}


class CaseError(ValueError):
    """A case action that is not allowed (unknown case, wrong state)."""


def get_case(session: Session, case_id: int) -> Alert:
    alert = session.get(Alert, case_id)
    if alert is None:
        raise CaseError(f"no case #{case_id}")
    return alert


def _transition(session: Session, alert: Alert, action: str, actor: str, note: str | None,
                now: datetime, data: dict[str, Any] | None = None) -> Alert:
    allowed = TRANSITIONS[action]
    if alert.state not in allowed:
        raise CaseError(f"case #{alert.id} is {alert.state}; '{action}' needs {' or '.join(s.value for s in allowed)}")
    before = str(alert.state)
    alert.state = TARGET[action]
    if alert.state in (CaseState.RESOLVED, CaseState.DISMISSED):
        alert.resolved_at = now
    elif action == "reopen":
        alert.resolved_at = None
    add_event(session, alert, action, actor=actor, note=note, from_state=before, to_state=str(alert.state),
              data=data)
    return alert


def acknowledge(session: Session, case_id: int, *, actor: str, note: str | None = None,
                now: datetime | None = None) -> Alert:
    alert = get_case(session, case_id)
    if alert.assignee is None:
        alert.assignee = actor
    return _transition(session, alert, "ack", actor, note, now or utcnow())


def assign(session: Session, case_id: int, assignee: str, *, actor: str, now: datetime | None = None) -> Alert:
    alert = get_case(session, case_id)
    if alert.state not in OPEN_STATES:
        raise CaseError(f"case #{case_id} is {alert.state}; reopen it first")
    before = alert.assignee
    alert.assignee = assignee
    add_event(session, alert, "assign", actor=actor, note=f"{before or '-'} -> {assignee}",
              data={"from": before, "to": assignee})
    return alert


def set_response_line(session: Session, case_id: int, text: str, *, actor: str,
                      now: datetime | None = None) -> Alert:
    """Record the agreed response line (应对口径); the case moves to 'responding'."""
    alert = get_case(session, case_id)
    if not text.strip():
        raise CaseError("the response line is empty")
    alert.response_line = text.strip()
    if alert.state in (CaseState.NEW, CaseState.ACKNOWLEDGED):
        return _transition(session, alert, "respond", actor, text.strip(), now or utcnow())
    add_event(session, alert, "response_line", actor=actor, note=text.strip())
    return alert


def add_note(session: Session, case_id: int, text: str, *, actor: str) -> Alert:
    alert = get_case(session, case_id)
    add_event(session, alert, "note", actor=actor, note=text)
    return alert


def resolve(session: Session, case_id: int, *, actor: str, note: str | None = None,
            now: datetime | None = None) -> Alert:
    return _transition(session, get_case(session, case_id), "resolve", actor, note, now or utcnow())


def dismiss(session: Session, case_id: int, *, actor: str, note: str | None = None, sentiment: str | None = None,
            now: datetime | None = None) -> Alert:
    """A false alarm: closes the case and tells the classifier (a Label correction on the article)."""
    alert = get_case(session, case_id)
    labels = []
    if alert.kind == AlertKind.STORY and alert.article_id is not None:
        for article_id in (alert.reason or {}).get("article_ids") or [alert.article_id]:
            session.add(Label(article_id=article_id, task="risk", label="low", author=actor,
                              note=f"case #{alert.id} dismissed as false alarm: {note or ''}".strip()))
            labels.append(("risk", article_id))
            if sentiment:
                session.add(Label(article_id=article_id, task="sentiment", label=sentiment, author=actor,
                                  note=f"case #{alert.id}"))
                labels.append(("sentiment", article_id))
    return _transition(session, alert, "dismiss", actor, note, now or utcnow(),
                       data={"labels": [f"{task}:{aid}" for task, aid in labels]})


def reopen(session: Session, case_id: int, *, actor: str, note: str | None = None) -> Alert:
    return _transition(session, get_case(session, case_id), "reopen", actor, note, utcnow())


def history(session: Session, case_id: int) -> list[AlertEvent]:
    get_case(session, case_id)
    return list(session.scalars(select(AlertEvent).where(AlertEvent.alert_id == case_id).order_by(AlertEvent.id)))


def list_cases(session: Session, *, states: tuple[CaseState, ...] | None = OPEN_STATES,
               limit: int = 100) -> list[Alert]:
    stmt = select(Alert).order_by(Alert.id.desc()).limit(limit)
    if states:
        stmt = stmt.where(Alert.state.in_(states))
    return list(session.scalars(stmt))


@dataclass
class EscalationStats:
    escalated: int = 0
    exhausted: int = 0  # overdue, but nobody left on the escalation list


def escalate_overdue(session: Session, *, now: datetime | None = None) -> EscalationStats:
    """Hand overdue new/acknowledged cases to the next person on their rule's escalation list."""
    now = now or utcnow()
    stats = EscalationStats()
    overdue = session.scalars(
        select(Alert).where(Alert.state.in_((CaseState.NEW, CaseState.ACKNOWLEDGED)), Alert.deadline_at < now)
    ).all()
    for alert in overdue:
        row = session.get(AlertRule, alert.rule_id) if alert.rule_id else None
        if row is None:
            continue
        rule = RuleSpec.from_row(row)
        chain = list(rule.options.get("escalation") or [])
        if alert.escalation_level >= len(chain):
            if not (alert.reason or {}).get("escalation_exhausted"):
                alert.reason = {**(alert.reason or {}), "escalation_exhausted": True}
                add_event(session, alert, "sla_missed", note="deadline passed; no one left to escalate to")
                stats.exhausted += 1
            continue
        person = chain[alert.escalation_level]
        recipient = Recipient(
            name=str(person.get("name", person["address"])), address=str(person["address"]),
            language=str(person.get("language", "zh-CN")), channel=str(person.get("channel", "email")),
        )
        before = alert.assignee
        alert.escalation_level += 1
        alert.assignee = recipient.name
        alert.deadline_at = sla_deadline(rule, str(alert.severity), now)
        add_event(session, alert, "escalated_sla", note=f"deadline passed; {before or '-'} -> {recipient.name}",
                  data={"level": alert.escalation_level, "to": recipient.address})
        from alerts.render import strings

        notify(session, alert, rule, now, recipients=(recipient,), note=strings(recipient.language)["escalation_note"])
        stats.escalated += 1
    return stats


# --------------------------------------------------------------------------------------------
# Correction requests (cải chính)


def _log(req: CorrectionRequest, action: str, actor: str, note: str | None = None, **data: Any) -> None:
    req.history = [*list(req.history or []), {"at": utcnow().isoformat(), "actor": actor, "action": action,
                                              "note": note, **data}]


def request_correction(session: Session, *, outlet_key: str | None, piece_url: str, false_claim: str, actor: str,
                       article_id: int | None = None, alert_id: int | None = None, deadline_days: float = 3,
                       now: datetime | None = None) -> CorrectionRequest:
    now = now or utcnow()
    outlet = session.scalar(select(Outlet).where(Outlet.key == outlet_key)) if outlet_key else None
    if outlet_key and outlet is None:
        raise CaseError(f"no outlet with key {outlet_key!r}")
    req = CorrectionRequest(outlet_id=outlet.id if outlet else None, article_id=article_id, alert_id=alert_id,
                            piece_url=piece_url, false_claim=false_claim, state=CorrectionState.REQUESTED,
                            requested_at=now, deadline_at=now + timedelta(days=deadline_days))
    session.add(req)
    _log(req, "requested", actor, false_claim)
    session.flush()
    if alert_id is not None:
        add_event(session, get_case(session, alert_id), "correction_requested", actor=actor,
                  note=f"correction request #{req.id} to {outlet.name if outlet else piece_url}")
    return req


def close_correction(session: Session, req_id: int, *, outcome: str, actor: str, corrected_url: str | None = None,
                     note: str | None = None) -> CorrectionRequest:
    req = session.get(CorrectionRequest, req_id)
    if req is None:
        raise CaseError(f"no correction request #{req_id}")
    target = CorrectionState(outcome)
    if target in (CorrectionState.DRAFT, CorrectionState.REQUESTED):
        raise CaseError("outcome must be corrected, refused or no_response")
    if target == CorrectionState.CORRECTED and not corrected_url:
        raise CaseError("a corrected outcome needs the link to the corrected piece")
    req.state = target
    req.outcome = note or target.value
    req.corrected_url = corrected_url
    _log(req, target.value, actor, note, corrected_url=corrected_url)
    return req


def overdue_corrections(session: Session, now: datetime | None = None) -> list[CorrectionRequest]:
    now = now or utcnow()
    return list(session.scalars(select(CorrectionRequest).where(
        CorrectionRequest.state == CorrectionState.REQUESTED, CorrectionRequest.deadline_at < now)))
