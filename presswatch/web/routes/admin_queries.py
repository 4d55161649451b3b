"""/admin/queries: watch queries with a live syntax check (htmx) and their hits of the last 7 days.
Thin: classify.watch_admin decides."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from fastapi import APIRouter, Depends, Form, HTTPException
from fastapi.responses import Response

from accounts.users import manageable_units
from classify import watch_admin
from classify.query import parse_query
from models import Unit, utcnow
from presswatch.i18n import N_
from presswatch.web.deps import Page, require

router = APIRouter(prefix="/admin/queries")
admin_page = require("admin")
HIT_DAYS = 7
_LABELS = (N_("org"), N_("official"), N_("topic"), N_("watch"))


def _check(page: Page, text: str) -> dict[str, Any]:
    check = watch_admin.check_query(text)
    hits = None
    if check.ok and text.strip():
        hits = watch_admin.query_hits(page.db, parse_query(text), utcnow() - timedelta(days=HIT_DAYS))
    return {"check": check, "hits": hits, "hit_days": HIT_DAYS}


def _form(page: Page, row: Any = None) -> dict[str, str]:
    if row is not None:
        unit = page.db.get(Unit, row.unit_id) if row.unit_id else None
        return {"name": row.name, "query": row.query, "purpose": row.purpose, "enabled": "1" if row.enabled else "",
                "priority": str(row.priority), "unit": unit.code if unit else ""}
    units = manageable_units(page.db, page.require_scope())
    focus = page.require_scope().focus
    unit_code = next((u.code for u in units if u.id == focus), units[0].code if units else "")
    return {"name": "", "query": "", "purpose": "watch", "enabled": "1", "priority": "0", "unit": unit_code}


def _render(page: Page, form: dict[str, str], row: Any = None, status_code: int = 200, **context: Any) -> Response:
    checked = _check(page, form["query"]) if form["query"].strip() else {}
    return page.render("admin_query_form.html", status_code=status_code, form=form, row=row,
                       units=manageable_units(page.db, page.require_scope()), purposes=watch_admin.PURPOSES,
                       **checked, **context)


@router.get("")
def queries(page: Page = Depends(admin_page)) -> Response:
    scope = page.require_scope()
    rows = watch_admin.list_queries(page.db, scope)
    since = utcnow() - timedelta(days=HIT_DAYS)
    parsed = {row.id: parse_query(row.query) for row in rows if watch_admin.check_query(row.query).ok}
    found = watch_admin.hit_counts(page.db, parsed, since)
    counts = {row.id: found.get(row.id) for row in rows}
    return page.render("admin_queries.html", rows=rows, counts=counts, hit_days=HIT_DAYS)


@router.post("/check")
def check(page: Page = Depends(admin_page), query: str = Form("")) -> Response:
    """The htmx partial: where the syntax breaks, or the terms and the hits of the last days."""
    return page.render("_query_check.html", **_check(page, query))


@router.get("/new")
def new_query(page: Page = Depends(admin_page)) -> Response:
    return _render(page, _form(page))


def _row(page: Page, query_id: int) -> Any:
    try:
        return watch_admin.get_query(page.db, page.require_scope(), query_id)
    except watch_admin.WatchQueryNotFound:
        raise HTTPException(status_code=404) from None


@router.get("/{query_id}")
def edit_query(query_id: int, page: Page = Depends(admin_page)) -> Response:
    row = _row(page, query_id)
    return _render(page, _form(page, row), row)


def _save(page: Page, query_id: int | None, form: dict[str, str]) -> Response:
    row = _row(page, query_id) if query_id is not None else None
    try:
        priority = int(form["priority"] or 0)
    except ValueError:
        priority = 0
    try:
        saved = watch_admin.save_query(page.db, page.actor, page.require_scope(), name=form["name"],
                                       text=form["query"], purpose=form["purpose"], enabled=form["enabled"] == "1",
                                       priority=priority, unit_code=form["unit"], query_id=query_id)
    except watch_admin.WatchQueryNotFound:
        page.db.rollback()
        raise HTTPException(status_code=404) from None
    except watch_admin.WatchQueryError as exc:
        page.db.rollback()
        return _render(page, form, row, status_code=400, error=exc.localized(page.t))
    page.commit()
    return page.redirect(f"/admin/queries/{saved.id}?saved=1")


def query_form(name: str = Form(""), query: str = Form(""), purpose: str = Form("watch"), enabled: str = Form(""),
               priority: str = Form("0"), unit: str = Form("")) -> dict[str, str]:
    return dict(locals())


@router.post("/new")
def create_query(page: Page = Depends(admin_page), form: dict[str, str] = Depends(query_form)) -> Response:
    return _save(page, None, form)


@router.post("/{query_id}")
def update_query(query_id: int, page: Page = Depends(admin_page),
                 form: dict[str, str] = Depends(query_form)) -> Response:
    return _save(page, query_id, form)
