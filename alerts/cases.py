"""The case workflow: every alert is a case, handled to the end with a record of who did what.

States: new -> acknowledged -> responding -> resolved, or dismissed (a false alarm) from any open
state. Each change is an ``alert_events`` row (actor, from/to state, note), so the history is
complete. Dismissing a story alert as a false alarm stores a ``models.Label`` correction (risk
``low``, sentiment if given) that ``presswatch train`` learns from.

Every case has a deadline from its rule's per-severity SLA. :func:`escalate_overdue` hands a case
that is still new/acknowledged past its deadline to the next person on the rule's escalation list,
notifies them, and gives them a fresh deadline.

Correction requests (cải chính) to outlets that published false information are tracked the same
way, with their history kept on the row. A request is linked to the stored article at its URL (the
pipeline's canonical URL and ``url_hash``) and to that article's outlet; a request still open past
its deadline sends one overdue message to the people answering for its case
(:func:`follow_up_corrections`). When the outlet later publishes a piece that says 更正 / cải chính
and names the original piece, the request is closed as corrected with that piece's link
(:func:`detect_published_corrections`).
"""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import case, func, or_, select
from sqlalchemy.orm import Session

from alerts.engine import add_event, sla_deadline
from alerts.notify import notify
from alerts.outbox import cancel_for_closed_case
from alerts.rules import Recipient, RuleSpec
from models import Alert, AlertEvent, AlertRule, Article, CorrectionRequest, Label, Outlet, Source, utcnow
from models.enums import AlertKind, CaseState, CorrectionState, RiskLevel
from models.scope import Scope, default_unit_id

if TYPE_CHECKING:
    from accounts.audit import Actor

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
        # A message still queued about this case must not page anyone as urgent any more.
        cancelled = cancel_for_closed_case(
            session, alert.id, f"not sent: case #{alert.id} was {alert.state} by {actor} before it went out")
        if cancelled:
            data = {**(data or {}), "messages_cancelled": cancelled}
    elif action == "reopen":
        alert.resolved_at = None
    add_event(session, alert, action, actor=actor, note=note, from_state=before, to_state=str(alert.state),
              data=data)
    _audit(session, alert, action, actor, {"state": before}, {"state": str(alert.state)}, note)
    return alert


def _audit(session: Session, alert: Alert, action: str, actor: str, before: dict[str, Any] | None,
           after: dict[str, Any] | None, note: str | None = None) -> None:
    """A person's action on a case also goes to the audit log, filed under the case's organization."""
    from accounts.audit import Actor, record

    record(session, Actor(None, actor), f"case.{action}", unit_id=alert.unit_id, object_type="case",
           object_id=alert.id, before=before, after=after, note=(note or "")[:1000])


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
    _audit(session, alert, "assign", actor, {"assignee": before}, {"assignee": assignee})
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


MANUAL_CASE_SLA = timedelta(minutes=240)  # a rule's default SLA (alerts.engine.sla_deadline)


def open_case(session: Session, *, unit_id: int | None, article_ids: list[int], actor: str,
              title: str = "", severity: str | None = None, note: str | None = None,
              now: datetime | None = None) -> Alert:
    """A case opened by a person about pieces they found (the stream's "open a case"): a story
    alert on the first piece's story, listing every piece (a false-alarm dismissal labels them all),
    with the default SLA deadline and a history entry naming who opened it. The caller checked the
    pieces are visible and the actor may triage in ``unit_id``."""
    if not article_ids:
        raise CaseError("no pieces to open a case about")
    now = now or utcnow()
    articles = {a.id: a for a in session.scalars(select(Article).where(Article.id.in_(article_ids)))}
    first = articles.get(article_ids[0])
    if first is None:
        raise CaseError(f"no piece #{article_ids[0]}")
    if severity is None:
        from models import Classification

        levels = [str(level) for level in session.scalars(select(Classification.risk_level).where(
            Classification.article_id.in_(list(articles)), Classification.is_current.is_(True)))]
        severity = max(levels, key=lambda v: RiskLevel(v).rank) if levels else RiskLevel.MEDIUM.value
    alert = Alert(dedupe_key=f"manual:{actor}:{now.timestamp():.6f}:{first.id}"[:200], kind=AlertKind.STORY,
                  severity=RiskLevel(severity), title=(title.strip() or first.title or f"#{first.id}")[:1000],
                  reason={"opened_by": actor, "article_ids": [a for a in article_ids if a in articles]},
                  state=CaseState.NEW, story_id=first.story_id, article_id=first.id, source_id=first.source_id,
                  unit_id=unit_id, deadline_at=now + MANUAL_CASE_SLA)
    session.add(alert)
    session.flush()
    add_event(session, alert, "raised", actor=actor, note=note, to_state=CaseState.NEW.value,
              data={"article_ids": alert.reason["article_ids"]})
    _audit(session, alert, "open", actor, None, {"articles": alert.reason["article_ids"], "severity": str(severity)})
    return alert


def history(session: Session, case_id: int) -> list[AlertEvent]:
    get_case(session, case_id)
    return list(session.scalars(select(AlertEvent).where(AlertEvent.alert_id == case_id).order_by(AlertEvent.id)))


def list_cases(session: Session, *, states: tuple[CaseState, ...] | None = OPEN_STATES,
               limit: int = 100, scope: Scope | None = None) -> list[Alert]:
    stmt = select(Alert).order_by(Alert.id.desc()).limit(limit)
    if states:
        stmt = stmt.where(Alert.state.in_(states))
    if scope is not None:
        stmt = stmt.where(scope.where(Alert.unit_id))
    return list(session.scalars(stmt))


# Most severe first in lists people triage from.
_SEVERITY_ORDER = case({RiskLevel.CRITICAL.value: 0, RiskLevel.HIGH.value: 1, RiskLevel.MEDIUM.value: 2},
                       value=Alert.severity, else_=3)


def open_cases(session: Session, scope: Scope, *, limit: int = 50) -> list[Alert]:
    """The open alerts / cases a scope sees, most severe first, then newest."""
    stmt = (select(Alert).where(Alert.state.in_(OPEN_STATES), scope.where(Alert.unit_id))
            .order_by(_SEVERITY_ORDER, Alert.id.desc()).limit(limit))
    return list(session.scalars(stmt))


def count_open_cases(session: Session, scope: Scope) -> int:
    return int(session.scalar(select(func.count()).select_from(Alert)
                              .where(Alert.state.in_(OPEN_STATES), scope.where(Alert.unit_id))) or 0)


def open_cases_by_severity(session: Session, scope: Scope) -> dict[str, int]:
    """Open cases per severity (critical first), for the scope: the home page's chart."""
    rows = session.execute(select(Alert.severity, func.count()).where(Alert.state.in_(OPEN_STATES),
                                                                     scope.where(Alert.unit_id))
                           .group_by(Alert.severity))
    counts = {str(sev): int(n) for sev, n in rows}
    return {level.value: counts.get(level.value, 0)
            for level in (RiskLevel.CRITICAL, RiskLevel.HIGH, RiskLevel.MEDIUM, RiskLevel.LOW)}


def count_unacknowledged(session: Session, scope: Scope) -> int:
    """Alerts of the scope nobody has acknowledged yet: the inbox badge on every page."""
    return int(session.scalar(select(func.count()).select_from(Alert)
                              .where(Alert.state == CaseState.NEW, scope.where(Alert.unit_id))) or 0)


def recently_closed(session: Session, scope: Scope, *, since: datetime, limit: int = 50) -> list[Alert]:
    """Cases of the scope closed (resolved or dismissed) since ``since``, newest first."""
    stmt = (select(Alert).where(Alert.state.notin_(OPEN_STATES), scope.where(Alert.unit_id),
                                Alert.updated_at >= since)
            .order_by(Alert.updated_at.desc(), Alert.id.desc()).limit(limit))
    return list(session.scalars(stmt))


def get_case_in_scope(session: Session, case_id: int, scope: Scope) -> Alert:
    """A case the scope may see; another organization's case is "no case #n", exactly like a missing one."""
    alert = session.get(Alert, case_id)
    if alert is None or not scope.contains(alert.unit_id):
        raise CaseError(f"no case #{case_id}")
    return alert


class CaseNotAllowed(PermissionError):
    """The case is visible, but the scope may not triage it (a leader, a read-only API key)."""


CASE_ACTIONS = ("ack", "assign", "respond", "note", "resolve", "dismiss", "reopen")
DISMISS_SENTIMENTS = ("positive", "neutral", "negative")


def act(session: Session, scope: Scope, case_id: int, action: str, *, actor: str, note: str | None = None,
        assignee: str | None = None, response_line: str | None = None, sentiment: str | None = None) -> Alert:
    """One case action by a person of ``scope`` (the web page's buttons and the API both call this).

    Another organization's case is :class:`CaseError` "no case #n" exactly like a missing one; a
    visible case the scope may not triage is :class:`CaseNotAllowed`; a refused action (wrong state,
    empty note, an assignee outside the case's organization) is :class:`CaseError` with why."""
    from accounts.users import assignable_users
    from presswatch.i18n import N_

    case = get_case_in_scope(session, case_id, scope)
    if not scope.can("triage", case.unit_id):
        raise CaseNotAllowed(f"case #{case_id}")
    note = (note or "").strip() or None
    if action == "ack":
        return acknowledge(session, case.id, actor=actor, note=note)
    if action == "assign":
        if assignee not in {u.username for u in assignable_users(session, case.unit_id)}:
            raise CaseError(N_("Choose a person of this organization."))
        return assign(session, case.id, str(assignee), actor=actor)
    if action == "respond":
        return set_response_line(session, case.id, response_line or "", actor=actor)
    if action == "note":
        if not note:
            raise CaseError(N_("The note is empty."))
        return add_note(session, case.id, note, actor=actor)
    if action == "resolve":
        return resolve(session, case.id, actor=actor, note=note)
    if action == "dismiss":
        if sentiment and sentiment not in DISMISS_SENTIMENTS:
            raise CaseError(f"sentiment must be one of {', '.join(DISMISS_SENTIMENTS)}")
        return dismiss(session, case.id, actor=actor, note=note, sentiment=sentiment or None)
    if action == "reopen":
        return reopen(session, case.id, actor=actor, note=note)
    raise CaseError(f"unknown case action {action!r} (one of: {', '.join(CASE_ACTIONS)})")


def escalation_recipient(person: Mapping[str, Any]) -> Recipient:
    """A person on a rule's ``escalation:`` list as a message recipient."""
    return Recipient(
        name=str(person.get("name", person["address"])), address=str(person["address"]),
        language=str(person.get("language", "zh-CN")), channel=str(person.get("channel", "email")),
        timezone=str(person.get("timezone", "")),
    )


def responsible_recipients(alert: Alert, rule: RuleSpec) -> tuple[Recipient, ...]:
    """Who answers for a case now: its assignee when the rule can reach them (one of its recipients,
    or the person an escalation handed the case to), otherwise the rule's recipients."""
    if alert.assignee:
        people = [*rule.recipients, *(escalation_recipient(p) for p in rule.options.get("escalation") or [])]
        mine = {p.key: p for p in people if p.name == alert.assignee}  # every channel they are reached on
        if mine:
            return tuple(mine.values())
    return rule.recipients


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
        recipient = escalation_recipient(chain[alert.escalation_level])
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


def find_article(session: Session, url: str) -> Article | None:
    """The stored article at ``url``, looked up the way the pipeline stores it: the sha256 of the
    canonical URL (with the host map of a source that declares the URL's host), or of the URL as
    given (rows stored before a canonicalization rule was added)."""
    from pipeline.urls import host_of, lookup_hashes

    raw = (url or "").strip()
    if not raw:
        return None
    host = host_of(raw)
    host_maps = [
        m for m in ((config or {}).get("host_map") for config in session.scalars(select(Source.config)))
        if isinstance(m, dict) and host in m
    ]
    hashes = lookup_hashes(raw, host_maps)
    return session.scalars(select(Article).where(Article.url_hash.in_(sorted(hashes))).order_by(Article.id)).first()


def _outlet_of_case(session: Session, alert: Alert) -> int | None:
    if alert.article_id is not None:
        outlet_id = session.scalar(select(Article.outlet_id).where(Article.id == alert.article_id))
        if outlet_id is not None:
            return outlet_id
    if alert.source_id is not None:
        return session.scalar(select(Source.outlet_id).where(Source.id == alert.source_id))
    return None


def request_correction(session: Session, *, outlet_key: str | None, piece_url: str, false_claim: str,
                       actor: Actor | str, article_id: int | None = None, alert_id: int | None = None,
                       deadline_days: float = 3, now: datetime | None = None, unit_id: int | None = None,
                       scope: Scope | None = None) -> CorrectionRequest:
    """Record a correction request. The piece is linked to the stored article at ``piece_url`` (or
    ``article_id``); the outlet is ``outlet_key`` if given, else the article's, else the case's. A URL
    not stored yet is accepted (the piece may not be crawled). How the link was made is in the
    first history entry (``article_id``, ``outlet_from``: given / article / case / none).

    The request belongs to its case's organization, else to ``unit_id``, else to the installation's.
    With a ``scope`` (the web), the case, the article and ``unit_id`` must be ones the scope may
    triage; others are "not found"."""
    from accounts.audit import as_actor

    who = as_actor(actor)
    now = now or utcnow()
    if not false_claim.strip():
        raise CaseError("say what is false")
    if deadline_days <= 0:
        raise CaseError("the deadline must be in the future")
    outlet = session.scalar(select(Outlet).where(Outlet.key == outlet_key)) if outlet_key else None
    if outlet_key and outlet is None:
        raise CaseError(f"no outlet with key {outlet_key!r}")
    triage = scope.for_action("triage") if scope is not None else None
    if alert_id is not None:
        alert: Alert | None = get_case_in_scope(session, alert_id, triage) if triage else get_case(session, alert_id)
    else:
        alert = None
    if alert is None and unit_id is not None and triage is not None and not triage.contains(unit_id):
        raise CaseError(f"no unit #{unit_id}")
    if article_id is not None:
        article = session.get(Article, article_id)
        if article is None or (triage is not None and not _article_visible(session, article, triage)):
            raise CaseError(f"no article #{article_id}")
    else:
        article = find_article(session, piece_url)
        if article is not None and triage is not None and not _article_visible(session, article, triage):
            article = None  # a piece this organization does not see is not linked (nor its outlet shown)
    outlet_from = "given" if outlet else "none"
    if outlet is None and article is not None and article.outlet_id is not None:
        outlet, outlet_from = session.get(Outlet, article.outlet_id), "article"
    if outlet is None and alert is not None:
        case_outlet = _outlet_of_case(session, alert)
        if case_outlet is not None:
            outlet, outlet_from = session.get(Outlet, case_outlet), "case"
    req = CorrectionRequest(outlet_id=outlet.id if outlet else None, article_id=article.id if article else None,
                            alert_id=alert_id, piece_url=piece_url, false_claim=false_claim,
                            state=CorrectionState.REQUESTED, requested_at=now,
                            deadline_at=now + timedelta(days=deadline_days),
                            unit_id=alert.unit_id if alert is not None else (
                                unit_id if unit_id is not None else default_unit_id(session)))
    session.add(req)
    _log(req, "requested", who.username, false_claim, article_id=req.article_id, outlet_from=outlet_from)
    session.flush()
    if alert is not None:
        add_event(session, alert, "correction_requested", actor=who.username,
                  note=f"correction request #{req.id} to {outlet.name if outlet else piece_url}")
    _audit_correction(session, req, "request", who, None, {"state": str(req.state), "outlet_id": req.outlet_id,
                                                            "article_id": req.article_id, "alert_id": req.alert_id},
                      false_claim)
    return req


def _article_visible(session: Session, article: Article, scope: Scope) -> bool:
    from classify.visibility import article_visible

    return article_visible(session, article, scope)


def _audit_correction(session: Session, req: CorrectionRequest, action: str, actor: Actor,
                      before: dict[str, Any] | None, after: dict[str, Any] | None, note: str | None = None) -> None:
    from accounts.audit import record

    record(session, actor, f"correction.{action}", unit_id=req.unit_id, object_type="correction",
           object_id=req.id, before=before, after=after, note=(note or "")[:1000])


CORRECTION_OPEN_STATES = (CorrectionState.DRAFT, CorrectionState.REQUESTED)
CORRECTION_OUTCOMES = (CorrectionState.CORRECTED, CorrectionState.REFUSED, CorrectionState.NO_RESPONSE)


def _correction_for(session: Session, req_id: int, scope: Scope | None, action: str | None = None) -> CorrectionRequest:
    req = session.get(CorrectionRequest, req_id)
    if req is None or (scope is not None and not (scope.for_action(action) if action else scope).contains(req.unit_id)):
        raise CaseError(f"no correction request #{req_id}")
    return req


def get_correction_in_scope(session: Session, req_id: int, scope: Scope) -> CorrectionRequest:
    """A correction request the scope may see; another organization's is "not found", like a missing one."""
    return _correction_for(session, req_id, scope)


def close_correction(session: Session, req_id: int, *, outcome: str, actor: Actor | str,
                     corrected_url: str | None = None, note: str | None = None,
                     scope: Scope | None = None) -> CorrectionRequest:
    """Record how a request ended: corrected (with the corrected piece's link), refused, no_response.
    With a ``scope``, only a request the scope may triage (others are "not found")."""
    from accounts.audit import as_actor

    who = as_actor(actor)
    req = _correction_for(session, req_id, scope, "triage")
    try:
        target = CorrectionState(outcome)
    except ValueError:
        raise CaseError("outcome must be corrected, refused or no_response") from None
    if target not in CORRECTION_OUTCOMES:
        raise CaseError("outcome must be corrected, refused or no_response")
    if req.state not in CORRECTION_OPEN_STATES:
        raise CaseError(f"correction request #{req.id} is closed already ({req.state})")
    corrected_url = (corrected_url or "").strip() or None
    if target == CorrectionState.CORRECTED and not corrected_url:
        raise CaseError("a corrected outcome needs the link to the corrected piece")
    before = str(req.state)
    req.state = target
    req.outcome = note or target.value
    req.corrected_url = corrected_url
    _log(req, target.value, who.username, note, corrected_url=corrected_url)
    _audit_correction(session, req, "close", who, {"state": before}, {"state": target.value,
                                                                      "corrected_url": corrected_url}, note)
    return req


def note_correction(session: Session, req_id: int, text: str, *, actor: Actor | str,
                    scope: Scope | None = None) -> CorrectionRequest:
    """Track a request: a note in its history (a phone call to the editor, a promise, a reminder sent)."""
    from accounts.audit import as_actor

    who = as_actor(actor)
    req = _correction_for(session, req_id, scope, "triage")
    if not text.strip():
        raise CaseError("the note is empty")
    _log(req, "note", who.username, text.strip())
    _audit_correction(session, req, "note", who, None, None, text.strip())
    return req


def list_corrections(session: Session, scope: Scope, *, open_only: bool = False,
                     limit: int = 200) -> list[tuple[CorrectionRequest, Outlet | None]]:
    """The scope's correction requests with their outlets: open ones first, then newest."""
    stmt = (select(CorrectionRequest, Outlet).outerjoin(Outlet, Outlet.id == CorrectionRequest.outlet_id)
            .where(scope.where(CorrectionRequest.unit_id)))
    if open_only:
        stmt = stmt.where(CorrectionRequest.state.in_(CORRECTION_OPEN_STATES))
    is_open = case((CorrectionRequest.state.in_(CORRECTION_OPEN_STATES), 0), else_=1)
    rows = session.execute(stmt.order_by(is_open, CorrectionRequest.id.desc()).limit(limit)).all()
    return [(req, outlet) for req, outlet in rows]


def story_cases(session: Session, story_id: int, scope: Scope) -> list[Alert]:
    """The scope's cases about a story: on the story, a story merged into it, or one of its pieces."""
    from models import Story

    members = select(Article.id).where(Article.story_id == story_id)
    merged_in = select(Story.id).where(Story.merged_into_id == story_id)
    return list(session.scalars(select(Alert).where(
        scope.where(Alert.unit_id),
        or_(Alert.story_id == story_id, Alert.story_id.in_(merged_in), Alert.article_id.in_(members)),
    ).order_by(Alert.id.desc()).limit(50)))


def story_corrections(session: Session, story_id: int, scope: Scope) -> list[CorrectionRequest]:
    """The scope's correction requests about a story's pieces or its cases."""
    members = select(Article.id).where(Article.story_id == story_id)
    case_ids = [a.id for a in story_cases(session, story_id, scope)]
    cond: Any = CorrectionRequest.article_id.in_(members)
    if case_ids:
        cond = cond | CorrectionRequest.alert_id.in_(case_ids)
    return list(session.scalars(select(CorrectionRequest).where(scope.where(CorrectionRequest.unit_id), cond)
                                .order_by(CorrectionRequest.id.desc()).limit(50)))


def overdue_corrections(session: Session, now: datetime | None = None) -> list[CorrectionRequest]:
    now = now or utcnow()
    return list(session.scalars(select(CorrectionRequest).where(
        CorrectionRequest.state == CorrectionState.REQUESTED, CorrectionRequest.deadline_at < now)))


@dataclass
class CorrectionFollowUp:
    overdue: list[int] = field(default_factory=list)  # requests found past their deadline this run
    messages: int = 0  # outbox rows queued for them
    unrouted: list[int] = field(default_factory=list)  # overdue, but no case or rule says whom to tell
    published: list[int] = field(default_factory=list)  # closed: the outlet published the correction


def _case_for(session: Session, req: CorrectionRequest) -> Alert | None:
    """The request's case, or else the latest alert on its article or the article's story."""
    if req.alert_id is not None:
        return session.get(Alert, req.alert_id)
    if req.article_id is None:
        return None
    article = session.get(Article, req.article_id)
    if article is None:
        return None
    cond = Alert.article_id == article.id
    if article.story_id is not None:
        cond = cond | (Alert.story_id == article.story_id)
    return session.scalars(select(Alert).where(cond).order_by(Alert.id.desc()).limit(1)).first()


def follow_up_corrections(session: Session, *, now: datetime | None = None) -> CorrectionFollowUp:
    """Requests still open past their deadline: each gets ONE overdue message per person answering
    for its case (:func:`responsible_recipients`), in their language, through the outbox (key
    ``correction-overdue:<id>:<recipient>``), and an ``overdue`` history entry so later runs skip it."""
    from alerts.notify import _quiet_reason, _recipient_hash, quiet_until
    from alerts.outbox import enqueue
    from alerts.render import render_correction_overdue

    now = now or utcnow()
    result = CorrectionFollowUp()
    for req in overdue_corrections(session, now):
        if any(h.get("action") == "overdue" for h in req.history or []):
            continue
        result.overdue.append(req.id)
        alert = _case_for(session, req)
        row = session.get(AlertRule, alert.rule_id) if alert is not None and alert.rule_id else None
        if alert is None or row is None:
            result.unrouted.append(req.id)
            _log(req, "overdue", "system", "deadline passed; no case or rule to say whom to tell", notified=[])
            continue
        rule = RuleSpec.from_row(row)
        outlet = session.get(Outlet, req.outlet_id) if req.outlet_id else None
        opts = rule.options
        sent: list[str] = []
        for recipient in responsible_recipients(alert, rule):
            tz = recipient.timezone or str(opts.get("timezone") or "Asia/Shanghai")
            quiet_end = quiet_until(now, str(opts.get("quiet_hours") or ""), tz)
            rendered = render_correction_overdue(req, outlet.name if outlet else "", alert.id, recipient.language,
                                                 tz=tz)
            enqueue(
                session, idempotency_key=f"correction-overdue:{req.id}:{_recipient_hash(recipient)}",
                channel=recipient.channel, recipient=recipient.address, language=recipient.language,
                subject=rendered.subject, body_text=rendered.text, body_html=None,
                payload={"kind": "correction-overdue", "correction_id": req.id, "case_id": alert.id,
                         "recipient_name": recipient.name},
                alert_id=alert.id,
                not_before=quiet_end or now,
                hold_reason=_quiet_reason(str(opts.get("quiet_hours")), tz, quiet_end) if quiet_end else None,
            )
            sent.append(recipient.address)
            result.messages += 1
        _log(req, "overdue", "system", "deadline passed with no outcome", notified=sent)
        add_event(session, alert, "correction_overdue",
                  note=f"correction request #{req.id} passed its deadline; told {', '.join(sent) or 'nobody'}")
    return result


# A correction notice says so: 更正 (声明) / 勘误 / cải chính / đính chính, in match_text's form.
CORRECTION_MARKERS = tuple(unicodedata.normalize("NFC", m) for m in ("更正", "勘误", "cải chính", "đính chính"))
MIN_TITLE_CHARS = 5  # a shorter original title would be found in unrelated notices


def detect_published_corrections(session: Session) -> list[int]:
    """Close open requests whose outlet has since stored a correction notice: a piece stored after
    the request whose text says 更正 / 勘误 / cải chính / đính chính and names the original piece (its
    title, or its link). The request becomes ``corrected`` with the notice's URL; returns their ids."""
    from pipeline.normalize import match_form

    closed: list[int] = []
    open_requests = session.scalars(select(CorrectionRequest).where(
        CorrectionRequest.state == CorrectionState.REQUESTED, CorrectionRequest.outlet_id.is_not(None),
    ).order_by(CorrectionRequest.id)).all()
    for req in open_requests:
        names: list[str] = []
        original = session.get(Article, req.article_id) if req.article_id else None
        if original is not None:
            title = match_form(original.title).strip()
            if len(title) >= MIN_TITLE_CHARS:
                names.append(title)
        url = (req.piece_url or "").strip()
        if url.lower().startswith(("http://", "https://")):
            names.append(match_form(url))
        if not names:
            continue
        stmt = select(Article.id, Article.url, Article.match_text).where(
            Article.outlet_id == req.outlet_id,
            Article.stored_at >= (req.requested_at or req.created_at),
            or_(*(Article.match_text.contains(m) for m in CORRECTION_MARKERS)),
        ).order_by(Article.id)
        if req.article_id is not None:
            stmt = stmt.where(Article.id != req.article_id)
        for article_id, article_url, match_text in session.execute(stmt):
            if not any(name in (match_text or "") for name in names):
                continue
            req.state = CorrectionState.CORRECTED
            req.corrected_url = article_url
            req.outcome = f"correction published (article #{article_id}, found by presswatch)"
            _log(req, "correction_published", "presswatch", req.outcome, corrected_url=article_url,
                 corrected_article_id=article_id)
            if req.alert_id is not None:
                alert = session.get(Alert, req.alert_id)
                if alert is not None:
                    add_event(session, alert, "correction_published",
                              note=f"correction request #{req.id}: the outlet published a correction {article_url}")
            closed.append(req.id)
            break
    return closed
