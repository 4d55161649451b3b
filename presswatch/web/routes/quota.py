"""Quotas in the browser: /register (correspondents), /review (the approval chain), /quota (the board).

Thin: every decision is a stage function (``quota.desk`` for registering and reviewing,
``quota.board`` for the board, its drill-down, response times and export) called with the request's
Scope. Another organization's registration or unit answers 404; a step the user may not take 403.
"""

from __future__ import annotations

import functools
from datetime import date
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Form, HTTPException, Request
from fastapi.responses import Response
from sqlalchemy import select

from models import Unit, utcnow
from models.enums import Adoption, PieceKind
from presswatch.web.deps import Page, user_page
from quota import board as qb
from quota import desk
from quota.periods import PeriodError, local_date
from quota.scoring import status
from quota.units import QuotaError

router = APIRouter()

KINDS = [k.value for k in PieceKind]
ADOPTIONS = [a.value for a in Adoption]


def _tz(page: Page) -> str:
    return str(page.settings.quota.timezone)


def _may_register(page: Page) -> bool:
    return page.require_scope().can_anywhere("register")


# -- /register ------------------------------------------------------------------------------------

def _progress(page: Page, units: list[Unit]) -> list[Any]:
    """The current period of every rule for the units the user registers for, with days left."""
    if not units:
        return []
    ids = frozenset(u.id for u in units)
    scope = page.require_scope()
    within = ids if scope.visible_ids is None else ids & scope.visible_ids
    return [r for r in status(page.db, None, store=False, within=within) if r.current]


def _render_register(page: Page, *, error: str = "", form: dict[str, str] | None = None, done: Any = None,
                     warnings: list[str] | None = None, status_code: int = 200) -> Response:
    scope = page.require_scope()
    units = desk.register_units(page.db, scope)
    return page.render(
        "register.html", status_code=status_code, units=units, outlets=desk.register_outlets(page.db, scope),
        kinds=KINDS, adoptions=ADOPTIONS, error=error, form=form or {}, done=done, warnings=warnings or [],
        progress=_progress(page, units), recent=desk.recent_registrations(page.db, scope, limit=20),
        unverified_rule=desk.UNVERIFIED_RULE, today=local_date(utcnow(), _tz(page)).isoformat(),
    )


@router.get("/register")
def register_page(page: Page = Depends(user_page), done: int | None = None) -> Response:
    if not _may_register(page):
        raise HTTPException(status_code=403)
    reg = None
    if done is not None:
        try:
            reg = desk.get_registration_in_scope(page.db, page.require_scope(), done)
        except QuotaError:
            reg = None
    return _render_register(page, done=reg)


@router.post("/register")
def register_submit(
    page: Page = Depends(user_page), unit_id: str = Form(""), url: str = Form(""), outlet_id: str = Form(""),
    published: str = Form(""), title: str = Form(""), kind: str = Form("news"), adoption: str = Form("none"),
) -> Response:
    scope = page.require_scope()
    if not _may_register(page):
        raise HTTPException(status_code=403)
    form = {"unit_id": unit_id, "url": url, "outlet_id": outlet_id, "published": published, "title": title,
            "kind": kind, "adoption": adoption}
    units = desk.register_units(page.db, scope)
    if not unit_id and len(units) == 1:
        unit_id = str(units[0].id)
    if not unit_id.isdigit() or not scope.contains(int(unit_id)):
        if unit_id.isdigit() and page.db.get(Unit, int(unit_id)) is not None and not scope.contains(int(unit_id)):
            raise HTTPException(status_code=404)
        return _render_register(page, error=page.t("Choose your unit."), form=form, status_code=422)
    if not scope.can("register", int(unit_id)):
        raise HTTPException(status_code=403)
    day: date | None = None
    if published.strip():
        try:
            day = date.fromisoformat(published.strip())
        except ValueError:
            return _render_register(page, error=page.t("Not a date: {value}", value=published), form=form,
                                    status_code=422)
    try:
        result = desk.register_in_scope(
            page.db, scope, page.actor, unit_id=int(unit_id), url=url or None,
            outlet_id=int(outlet_id) if outlet_id.isdigit() else None, published=day, title=title or None,
            kind=kind if kind in KINDS else "news", adoption=adoption if adoption in ADOPTIONS else "none",
            timezone=_tz(page),
        )
    except QuotaError as exc:
        page.db.rollback()
        return _render_register(page, error=exc.localized(page.t), form=form, status_code=422)
    page.commit()
    return page.redirect(f"/register?done={result.registration.id}")


# -- /review ------------------------------------------------------------------------------------------

def _may_review_anything(page: Page) -> bool:
    scope = page.require_scope()
    return any(scope.can_anywhere(a) for a in ("register", "review", "approve"))


@router.get("/review")
def review_page(page: Page = Depends(user_page)) -> Response:
    if not _may_review_anything(page):
        raise HTTPException(status_code=403)
    return _render_review(page)


def _render_review(page: Page, error: str = "", status_code: int = 200) -> Response:
    scope = page.require_scope()
    return page.render("review.html", status_code=status_code, waiting=desk.review_queue(page.db, scope),
                       error=error, recent=desk.recent_registrations(page.db, scope, limit=30),
                       can_reject=lambda unit_id: desk.may_review(scope, unit_id, "reject"))


@router.post("/review/{registration_id}")
def review_act(registration_id: int, page: Page = Depends(user_page), action: str = Form(...),
               note: str = Form("")) -> Response:
    scope = page.require_scope()
    try:
        reg = desk.get_registration_in_scope(page.db, scope, registration_id)
    except QuotaError:
        raise HTTPException(status_code=404) from None
    if not desk.may_review(scope, reg.unit_id, action):
        raise HTTPException(status_code=403)
    try:
        desk.review_in_scope(page.db, scope, page.actor, registration_id, action, note)
    except QuotaError as exc:
        page.db.rollback()
        return _render_review(page, error=exc.localized(page.t), status_code=422)
    page.commit()
    return page.redirect("/review")


# -- /quota ---------------------------------------------------------------------------------------------

def _span(page: Page, period: str, label: str) -> Any:
    today = local_date(utcnow(), _tz(page))
    try:
        return qb.board_span(period or None, label or None, today), ""
    except PeriodError:
        return qb.board_span(None, None, today), page.t("Unknown period: {value}", value=label or period)


def _board_unit(page: Page, unit: str) -> int | None:
    if not unit:
        return None
    if not unit.isdigit() or not page.require_scope().contains(int(unit)) or page.db.get(Unit, int(unit)) is None:
        raise HTTPException(status_code=404)
    return int(unit)


BOARD_PAGE_UNITS = 100  # rows of the board per page (a leader of 500 units pages; the XLSX has all)
RANKING_TOP = 10  # units per rule in the rankings on the page (each cell shows its unit's rank)


@router.get("/quota")
def quota_page(page: Page = Depends(user_page), period: str = "", label: str = "", unit: str = "",
               p: int = 1) -> Response:
    scope = page.require_scope()
    span, problem = _span(page, period, label)
    unit_id = _board_unit(page, unit)
    board = qb.quota_board(page.db, scope, span, unit_id=unit_id, with_ids=False)
    responses = qb.response_metrics(page.db, scope, span, _tz(page))
    query = {"period": span.kind.value, "label": span.label, **({"unit": str(unit_id)} if unit_id else {})}
    nav = {
        "prev": urlencode({**query, "label": span.previous().label}),
        "next": urlencode({**query, "label": span.next().label}),
        "xlsx": urlencode(query),
    }
    # Thousands of cells: one formatted figure per distinct value, one link prefix for all.
    num = functools.lru_cache(maxsize=4096)(page.fmt_num)
    cell_base = "/quota/cell?" + urlencode({"period": span.kind.value, "label": span.label})
    units = page.db.scalars(select(Unit).where(scope.where(Unit.id), Unit.active.is_(True)).order_by(Unit.code))
    pages = max(1, -(-len(board.units) // BOARD_PAGE_UNITS))
    p = min(max(1, p), pages)
    rows = board.units[(p - 1) * BOARD_PAGE_UNITS : p * BOARD_PAGE_UNITS]
    pager = {n: urlencode({**query, "p": n}) for n in (p - 1, p + 1) if 1 <= n <= pages}
    return page.render("quota.html", board=board, span=span, problem=problem, periods=qb.BOARD_PERIODS,
                       responses=responses, nav=nav, query=query, unit_id=unit_id, num=num, cell_base=cell_base,
                       units=list(units), rows=rows, page_no=p, pages=pages, pager=pager, top=RANKING_TOP,
                       first=(p - 1) * BOARD_PAGE_UNITS + 1)


@router.get("/quota/cell")
def quota_cell(page: Page = Depends(user_page), unit: str = "", rule: str = "", period: str = "",
               label: str = "") -> Response:
    scope = page.require_scope()
    span, _problem = _span(page, period, label)
    unit_id = _board_unit(page, unit)
    found = qb.cell_evidence(page.db, scope, span, unit_id, rule) if unit_id is not None else None
    if found is None:
        raise HTTPException(status_code=404)
    board, pieces = found
    back = urlencode({"period": span.kind.value, "label": span.label})
    return page.render("quota_cell.html", board=board, cell=board.cell(unit_id, rule),  # type: ignore[arg-type]
                       unit=next(u for u in board.units if u.id == unit_id),
                       rule=next(r for r in board.rules if r.key == rule), pieces=pieces, span=span, back=back)


@router.get("/quota.xlsx")
def quota_xlsx(request: Request, page: Page = Depends(user_page), period: str = "", label: str = "",
               unit: str = "") -> Response:
    scope = page.require_scope()
    span, _problem = _span(page, period, label)
    unit_id = _board_unit(page, unit)
    board = qb.quota_board(page.db, scope, span, unit_id=unit_id)
    data = qb.board_xlsx(page.db, board, qb.response_metrics(page.db, scope, span, _tz(page)), page.t, _tz(page))
    page.audit("quota.export", unit_id=unit_id, object_type="quota_board", object_id=span.label,
               note=f"{len(board.rows)} rows")
    page.commit()
    name = f"quota-{span.label}.xlsx"
    return Response(data, media_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                    headers={"Content-Disposition": f'attachment; filename="{name}"'})
