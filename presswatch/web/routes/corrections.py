"""/corrections (更正 / 核实请求, cải chính) and /plans (三同步 risk plans): list, create, track, close.

The same care as the case page: every list is the user's scope, another organization's request or
plan answers 404, every change calls the stage function the CLI uses (``alerts.cases`` for
corrections, ``alerts.plans`` for plans) under the user's name and scope, which writes the history
and the audit log. States are shown in the user's language.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Depends, Form, HTTPException
from fastapi.responses import Response
from sqlalchemy import select

from alerts import plans as plan_actions
from alerts.cases import (
    CORRECTION_OPEN_STATES,
    CORRECTION_OUTCOMES,
    CaseError,
    close_correction,
    get_correction_in_scope,
    list_corrections,
    note_correction,
    open_cases,
    request_correction,
)
from alerts.plans import PlanError, get_plan_in_scope, list_plans, plan_history
from models import Alert, Article, CorrectionRequest, Outlet, RiskPlan, Unit, utcnow
from models.enums import RiskLevel
from presswatch.i18n import N_, zone
from presswatch.web.deps import Page, user_page

router = APIRouter()

MAX_TEXT = 4000
MAX_OUTLETS = 500
HISTORY_LABELS = (N_("requested"), N_("overdue"), N_("plan.create"), N_("plan.close"), N_("correction.request"),
                  N_("correction.close"), N_("correction.note"))


def _units(page: Page, action: str) -> list[Unit]:
    """The units the user may file a request / plan under (their granted units where they may act)."""
    scope = page.require_scope()
    ids = [u for u in scope.granted_units if scope.can(action, u)]
    if scope.superuser and not ids:
        ids = list(page.db.scalars(select(Unit.id).where(Unit.parent_id.is_(None)).order_by(Unit.id)))
    if scope.focus is not None and scope.focus in ids:
        ids = [scope.focus]
    rows = {u.id: u for u in page.db.scalars(select(Unit).where(Unit.id.in_(ids)))} if ids else {}
    return [rows[i] for i in ids if i in rows]


def _chosen_unit(page: Page, action: str, unit_id: int) -> int | None:
    units = _units(page, action)
    if unit_id:
        return unit_id  # the stage checks it is one the user may act for
    return units[0].id if units else None


# --- corrections ------------------------------------------------------------------------------


def _corrections_page(page: Page, *, error: str = "", status_code: int = 200, form: dict[str, Any] | None = None,
                      show_all: bool = False) -> Response:
    scope = page.require_scope()
    can_create = scope.can_anywhere("triage")
    rows = list_corrections(page.db, scope, open_only=not show_all)
    form = dict(form or {})
    article = None
    if form.get("article"):
        from classify.visibility import article_visible

        candidate = page.db.get(Article, int(form["article"]))
        if candidate is not None and article_visible(page.db, candidate, scope):
            article = candidate
            form.setdefault("piece_url", candidate.url)
    return page.render(
        "corrections.html", status_code=status_code, rows=rows, now=utcnow(), error=error, form=form,
        can_create=can_create, show_all=show_all, article=article,
        outlets=list(page.db.scalars(select(Outlet).order_by(Outlet.name).limit(MAX_OUTLETS))) if can_create else [],
        cases=open_cases(page.db, scope.for_action("triage"), limit=100) if can_create else [],
        units=_units(page, "triage") if can_create else [],
    )


@router.get("/corrections")
def corrections(page: Page = Depends(user_page), all: int = 0, article: int = 0, case: int = 0) -> Response:
    """The scope's correction requests, open ones first; ``?article=`` / ``?case=`` fill the form."""
    form: dict[str, Any] = {}
    if article:
        form["article"] = article
    if case:
        form["case"] = case
    return _corrections_page(page, show_all=bool(all), form=form)


@router.post("/corrections")
def corrections_create(page: Page = Depends(user_page), piece_url: str = Form(""), false_claim: str = Form(""),
                       outlet: str = Form(""), case: int = Form(0), article: int = Form(0),
                       deadline_days: float = Form(3), unit: int = Form(0)) -> Response:
    scope = page.require_scope()
    if not scope.can_anywhere("triage"):
        raise HTTPException(status_code=403)
    form = {"piece_url": piece_url, "false_claim": false_claim, "outlet": outlet, "case": case,
            "article": article, "deadline_days": deadline_days}
    try:
        if not piece_url.strip() and not article:
            _ = page.t
            raise CaseError(_("Give the link of the piece."))
        req = request_correction(
            page.db, outlet_key=outlet or None, piece_url=piece_url.strip()[:MAX_TEXT],
            false_claim=false_claim.strip()[:MAX_TEXT], actor=page.actor, article_id=article or None,
            alert_id=case or None, deadline_days=deadline_days, unit_id=_chosen_unit(page, "triage", unit),
            scope=scope)
    except CaseError as exc:
        page.db.rollback()
        return _corrections_page(page, error=str(exc), status_code=400, form=form)
    page.commit()
    return page.redirect(f"/corrections/{req.id}")


def _correction_or_404(page: Page, req_id: int) -> CorrectionRequest:
    try:
        return get_correction_in_scope(page.db, req_id, page.require_scope())
    except CaseError:
        raise HTTPException(status_code=404) from None


def _render_correction(page: Page, req: CorrectionRequest, error: str = "", status_code: int = 200) -> Response:
    scope = page.require_scope()
    outlet = page.db.get(Outlet, req.outlet_id) if req.outlet_id else None
    alert = page.db.get(Alert, req.alert_id) if req.alert_id else None
    if alert is not None and not scope.contains(alert.unit_id):
        alert = None
    history = list(req.history or [])
    names = page.display_names({str(h.get("actor") or "") for h in history})
    now = utcnow()
    is_open = req.state in CORRECTION_OPEN_STATES
    return page.render(
        "correction.html", status_code=status_code, req=req, outlet=outlet, alert=alert, history=history,
        names=names, error=error, is_open=is_open, outcomes=[o.value for o in CORRECTION_OUTCOMES],
        can_act=scope.can("triage", req.unit_id),
        overdue=is_open and req.deadline_at is not None and req.deadline_at < now,
        safe=lambda url: url if (url or "").startswith(("http://", "https://")) else "",
        at=lambda value: page.fmt_dt(datetime.fromisoformat(value)) if value else "",
    )


@router.get("/corrections/{req_id}")
def correction_page(req_id: int, page: Page = Depends(user_page)) -> Response:
    return _render_correction(page, _correction_or_404(page, req_id))


def _act_correction(page: Page, req_id: int, action: Any) -> Response:
    req = _correction_or_404(page, req_id)
    if not page.require_scope().can("triage", req.unit_id):
        raise HTTPException(status_code=403)
    try:
        action()
    except CaseError as exc:
        page.db.rollback()
        return _render_correction(page, _correction_or_404(page, req_id), error=str(exc), status_code=400)
    page.commit()
    return page.redirect(f"/corrections/{req_id}")


@router.post("/corrections/{req_id}/note")
def correction_note(req_id: int, page: Page = Depends(user_page), note: str = Form("")) -> Response:
    return _act_correction(page, req_id, lambda: note_correction(
        page.db, req_id, note.strip()[:MAX_TEXT], actor=page.actor, scope=page.require_scope()))


@router.post("/corrections/{req_id}/close")
def correction_close(req_id: int, page: Page = Depends(user_page), outcome: str = Form(""),
                     corrected_url: str = Form(""), note: str = Form("")) -> Response:
    return _act_correction(page, req_id, lambda: close_correction(
        page.db, req_id, outcome=outcome, actor=page.actor, corrected_url=corrected_url.strip()[:MAX_TEXT] or None,
        note=note.strip()[:MAX_TEXT] or None, scope=page.require_scope()))


# --- risk plans -------------------------------------------------------------------------------


def _split_words(text: str) -> list[str]:
    for sep in ("\n", "，", "、", ";", "；"):
        text = text.replace(sep, ",")
    return [w.strip() for w in text.split(",") if w.strip()]


def _plans_page(page: Page, *, error: str = "", status_code: int = 200, form: dict[str, Any] | None = None) -> Response:
    scope = page.require_scope()
    can_create = scope.can_anywhere("configure")
    rows = list_plans(page.db, scope)
    return page.render("plans.html", status_code=status_code, rows=rows, error=error, form=dict(form or {}),
                       can_create=can_create, units=_units(page, "configure") if can_create else [],
                       levels=[r.value for r in RiskLevel])


@router.get("/plans")
def plans(page: Page = Depends(user_page)) -> Response:
    return _plans_page(page)


@router.post("/plans")
def plans_create(page: Page = Depends(user_page), name: str = Form(""), action_at: str = Form(""),
                 place: str = Form(""), parties: str = Form(""), keywords: str = Form(""),
                 before_hours: float = Form(24), after_hours: float = Form(72), min_risk: str = Form("medium"),
                 unit: int = Form(0)) -> Response:
    scope = page.require_scope()
    if not scope.can_anywhere("configure"):
        raise HTTPException(status_code=403)
    form = {"name": name, "action_at": action_at, "place": place, "parties": parties, "keywords": keywords,
            "before_hours": before_hours, "after_hours": after_hours, "min_risk": min_risk}
    try:
        try:
            when = datetime.fromisoformat(action_at.strip()).replace(tzinfo=zone(page.timezone))
        except ValueError:
            _ = page.t
            raise PlanError(_("Give the date and time of the action.")) from None
        plan = plan_actions.create_plan(
            page.db, name=name[:200], action_at=when, keywords=_split_words(keywords)[:50], place=place.strip()[:200],
            parties=_split_words(parties)[:50], before_hours=before_hours, after_hours=after_hours,
            overrides={"min_risk": min_risk}, unit_id=_chosen_unit(page, "configure", unit), actor=page.actor,
            scope=scope)
    except PlanError as exc:
        page.db.rollback()
        return _plans_page(page, error=str(exc), status_code=400, form=form)
    page.commit()
    return page.redirect(f"/plans/{plan.id}")


def _plan_or_404(page: Page, plan_id: int) -> RiskPlan:
    try:
        return get_plan_in_scope(page.db, plan_id, page.require_scope())
    except PlanError:
        raise HTTPException(status_code=404) from None


def _render_plan(page: Page, plan: RiskPlan, error: str = "", status_code: int = 200) -> Response:
    history = plan_history(page.db, plan.id)
    return page.render("plan.html", status_code=status_code, plan=plan, history=history, error=error,
                       names=page.display_names({e.actor for e in history}),
                       can_act=page.require_scope().can("configure", plan.unit_id))


@router.get("/plans/{plan_id}")
def plan_page(plan_id: int, page: Page = Depends(user_page)) -> Response:
    return _render_plan(page, _plan_or_404(page, plan_id))


@router.post("/plans/{plan_id}/close")
def plan_close(plan_id: int, page: Page = Depends(user_page), note: str = Form("")) -> Response:
    plan = _plan_or_404(page, plan_id)
    if not page.require_scope().can("configure", plan.unit_id):
        raise HTTPException(status_code=403)
    try:
        plan_actions.close_plan(page.db, plan.id, actor=page.actor, note=note[:MAX_TEXT], scope=page.require_scope())
    except PlanError as exc:
        page.db.rollback()
        return _render_plan(page, _plan_or_404(page, plan_id), error=str(exc), status_code=400)
    page.commit()
    return page.redirect(f"/plans/{plan.id}")
