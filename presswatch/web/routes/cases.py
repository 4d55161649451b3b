"""The alert inbox (/inbox) and the case page (/cases/{id}) with its actions.

The duty officer's path: an alert message links to /cases/{id}; after login (if needed) the page
shows what was found, why it fired, the deadline, and one button to acknowledge. Every action calls
the same ``alerts.cases`` function as ``presswatch cases ...``, under the logged-in user's name, so
the history and the audit log name a real person. Another organization's case is 404.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from fastapi import APIRouter, Depends, Form, HTTPException
from fastapi.responses import Response

from accounts.users import assignable_users
from alerts import cases as case_actions
from alerts.cases import (
    CaseError,
    CaseNotAllowed,
    count_unacknowledged,
    get_case_in_scope,
    history,
    open_cases,
    recently_closed,
)
from alerts.outbox import OutboxError, case_messages, requeue
from alerts.render import why_lines
from models import Alert, User, utcnow
from models.enums import CaseState
from presswatch.web.deps import Page, user_page

router = APIRouter()

OPEN = (CaseState.NEW, CaseState.ACKNOWLEDGED, CaseState.RESPONDING)


@router.get("/inbox")
def inbox(page: Page = Depends(user_page)) -> Response:
    """The scope's open alerts, critical first, then the ones closed in the last day."""
    return page.render("inbox.html", **_inbox_context(page))


@router.get("/inbox/list")
def inbox_list(page: Page = Depends(user_page)) -> Response:
    """The list alone, which the inbox page fetches again every 15 seconds (live updates)."""
    return page.render("_inbox_list.html", **_inbox_context(page))


@router.get("/inbox/badge")
def inbox_badge(page: Page = Depends(user_page)) -> Response:
    """The header's count of unacknowledged alerts, refreshed every 15 seconds on every page."""
    return page.render("_inbox_badge.html", unread=count_unacknowledged(page.db, page.require_scope()))


def _inbox_context(page: Page) -> dict[str, Any]:
    scope = page.require_scope()
    now = utcnow()
    return {
        "open": open_cases(page.db, scope, limit=200),
        "closed": recently_closed(page.db, scope, since=now - timedelta(hours=24), limit=50),
        "now": now,
    }


def _case_or_404(page: Page, case_id: int) -> Alert:
    try:
        return get_case_in_scope(page.db, case_id, page.require_scope())
    except CaseError:
        raise HTTPException(status_code=404) from None


def _names(page: Page, usernames: set[str]) -> dict[str, str]:
    from sqlalchemy import select

    if not usernames:
        return {}
    rows = page.db.execute(select(User.username, User.display_name).where(User.username.in_(usernames)))
    return {u: (d or u) for u, d in rows}


@router.get("/cases/{case_id}")
def case_page(case_id: int, page: Page = Depends(user_page)) -> Response:
    return _render_case(page, _case_or_404(page, case_id))


def _render_case(page: Page, case: Alert, error: str = "", status_code: int = 200) -> Response:
    events = history(page.db, case.id)
    names = _names(page, {e.actor for e in events if e.actor} | ({case.assignee} if case.assignee else set()))
    can_act = page.require_scope().can("triage", case.unit_id)
    now = utcnow()
    overdue = case.deadline_at is not None and case.deadline_at < now and case.state in OPEN
    minutes_left = None
    if case.deadline_at is not None and case.state in OPEN:
        minutes_left = int((case.deadline_at - now).total_seconds() // 60)
    return page.render(
        "case.html", status_code=status_code, case=case, events=events, names=names, can_act=can_act,
        is_open=case.state in OPEN, why=why_lines(case.reason or {}, page.language, page.timezone),
        people=assignable_users(page.db, case.unit_id) if can_act else [], overdue=overdue,
        minutes_left=minutes_left, error=error, reason=case.reason or {},
        messages=case_messages(page.db, case.id, now), story_id=_story_of(page, case),
    )


def _story_of(page: Page, case: Alert) -> int | None:
    """The story the case is about now (a story merged since: the one it was merged into)."""
    from classify.visibility import live_story_id

    return live_story_id(page.db, case.story_id) if case.story_id is not None else None


def _act(page: Page, case_id: int, action: str, **form: str) -> Response:
    """Run one case action as the logged-in user (``alerts.cases.act``, as the API does); a refused
    action re-renders the page with why."""
    assert page.user is not None
    try:
        case = case_actions.act(page.db, page.require_scope(), case_id, action, actor=page.user.username,
                                note=form.get("note"), assignee=form.get("assignee"),
                                response_line=form.get("response_line"), sentiment=form.get("sentiment"))
    except CaseNotAllowed:
        raise HTTPException(status_code=403) from None
    except CaseError as exc:
        page.db.rollback()
        return _render_case(page, _case_or_404(page, case_id), error=page.t(str(exc)), status_code=400)
    page.commit()
    return page.redirect(f"/cases/{case.id}")


@router.post("/cases/{case_id}/ack")
def case_ack(case_id: int, page: Page = Depends(user_page), note: str = Form("")) -> Response:
    return _act(page, case_id, "ack", note=note)


@router.post("/cases/{case_id}/assign")
def case_assign(case_id: int, page: Page = Depends(user_page), assignee: str = Form("")) -> Response:
    return _act(page, case_id, "assign", assignee=assignee)


@router.post("/cases/{case_id}/respond")
def case_respond(case_id: int, page: Page = Depends(user_page), response_line: str = Form("")) -> Response:
    return _act(page, case_id, "respond", response_line=response_line)


@router.post("/cases/{case_id}/note")
def case_note(case_id: int, page: Page = Depends(user_page), note: str = Form("")) -> Response:
    return _act(page, case_id, "note", note=note)


@router.post("/cases/{case_id}/resolve")
def case_resolve(case_id: int, page: Page = Depends(user_page), note: str = Form("")) -> Response:
    return _act(page, case_id, "resolve", note=note)


@router.post("/cases/{case_id}/dismiss")
def case_dismiss(case_id: int, page: Page = Depends(user_page), note: str = Form(""),
                 sentiment: str = Form("")) -> Response:
    if sentiment and sentiment not in ("positive", "neutral", "negative"):
        raise HTTPException(status_code=422)
    return _act(page, case_id, "dismiss", note=note, sentiment=sentiment)


@router.post("/cases/{case_id}/reopen")
def case_reopen(case_id: int, page: Page = Depends(user_page), note: str = Form("")) -> Response:
    return _act(page, case_id, "reopen", note=note)


@router.post("/cases/{case_id}/messages/{delivery_id}/retry")
def case_message_retry(case_id: int, delivery_id: int, page: Page = Depends(user_page)) -> Response:
    """Requeue a dead message about this case (``presswatch alerts outbox --retry`` for one message)."""
    case = _case_or_404(page, case_id)
    if not page.require_scope().can("triage", case.unit_id):
        raise HTTPException(status_code=403)
    try:
        requeue(page.db, delivery_id, actor=page.actor, alert_id=case.id, unit_id=case.unit_id)
    except OutboxError as exc:
        page.db.rollback()
        return _render_case(page, _case_or_404(page, case_id), error=str(exc), status_code=400)
    page.commit()
    return page.redirect(f"/cases/{case.id}")
