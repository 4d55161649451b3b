"""/admin/webhooks: an organization's outbound webhooks: add (the secret is shown once), events,
enable / disable, a new secret, "send test", and the delivery log. Thin: alerts.hooks decides."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Form, HTTPException, Request
from fastapi.responses import Response

from accounts.users import manageable_units
from alerts import hooks
from models import Unit
from presswatch.i18n import N_
from presswatch.web.deps import Page, require

router = APIRouter(prefix="/admin/webhooks")
admin_page = require("admin")
_LABELS = (N_("alert.raised"), N_("alert.escalated"), N_("case.changed"), N_("registration.verified"),
           N_("source.failing"), N_("pending"), N_("sending"), N_("sent"), N_("dead"), N_("cancelled"))


def _render(page: Page, status_code: int = 200, **context: Any) -> Response:
    scope = page.require_scope()
    endpoints = hooks.list_endpoints(page.db, scope)
    units = {u.id: u.name for u in page.db.query(Unit).filter(Unit.id.in_([e.unit_id for e in endpoints]))}
    logs = {e.id: hooks.delivery_log(page.db, e, limit=20) for e in endpoints}
    return page.render("admin_webhooks.html", status_code=status_code, endpoints=endpoints, units=units, logs=logs,
                       events=hooks.EVENTS, my_units=manageable_units(page.db, scope), **context)


@router.get("")
def webhooks(page: Page = Depends(admin_page)) -> Response:
    return _render(page)


@router.post("")
async def add(request: Request, page: Page = Depends(admin_page)) -> Response:
    form = await request.form()
    try:
        row, secret = hooks.add_endpoint(page.db, page.actor, page.require_scope(), unit_code=str(form.get("unit", "")),
                                         url=str(form.get("url", "")),
                                         events=[str(v) for v in form.getlist("events")])
    except hooks.HookError as exc:
        page.db.rollback()
        return _render(page, status_code=400, error=exc.localized(page.t))
    page.commit()
    return _render(page, new_secret=secret, new_id=row.id)


def _call(page: Page, fn: Any, *args: Any) -> Any:
    try:
        return fn(page.db, page.actor, page.require_scope(), *args)
    except hooks.HookNotFound:
        raise HTTPException(status_code=404) from None


@router.post("/{endpoint_id}/enabled")
def enable(endpoint_id: int, page: Page = Depends(admin_page), enabled: str = Form("")) -> Response:
    _call(page, hooks.set_endpoint_enabled, endpoint_id, enabled == "1")
    page.commit()
    return page.redirect("/admin/webhooks")


@router.post("/{endpoint_id}/secret")
def new_secret(endpoint_id: int, page: Page = Depends(admin_page)) -> Response:
    row, secret = _call(page, hooks.rotate_secret, endpoint_id)
    page.commit()
    return _render(page, new_secret=secret, new_id=row.id)


@router.post("/{endpoint_id}/test")
def send_test(endpoint_id: int, page: Page = Depends(admin_page)) -> Response:
    """Queue a test event; the outbox sends it (``presswatch run``'s delivery job, within
    ``scheduler.delivery_interval_seconds``), with retries, like any event."""
    _call(page, hooks.send_test, endpoint_id)
    page.commit()
    return page.redirect(f"/admin/webhooks?tested={endpoint_id}")


@router.post("/{endpoint_id}/deliveries/{delivery_id}/retry")
def retry(endpoint_id: int, delivery_id: int, page: Page = Depends(admin_page)) -> Response:
    try:
        hooks.retry_delivery(page.db, page.actor, page.require_scope(), endpoint_id, delivery_id)
    except hooks.HookNotFound:
        raise HTTPException(status_code=404) from None
    except hooks.HookError as exc:
        page.db.rollback()
        return _render(page, status_code=400, error=exc.localized(page.t))
    page.commit()
    return page.redirect("/admin/webhooks")
