"""/admin/users (users and grants of the admin's subtree) and /admin/audit (the audit log, CSV export)."""

from __future__ import annotations

import io
from datetime import datetime, time, timedelta
from typing import Any

from fastapi import APIRouter, Depends, Form, HTTPException
from fastapi.responses import Response, StreamingResponse

from accounts import audit as audit_mod
from accounts.passwords import PasswordPolicyError
from accounts.users import (
    AccountError,
    NotFound,
    add_user,
    can_manage,
    find_unit,
    get_user,
    grant,
    grants_of,
    list_users,
    manageable_units,
    reset_password,
    revoke,
    set_active,
)
from models import Role
from presswatch.i18n import N_, zone
from presswatch.web.deps import Page, require

router = APIRouter(prefix="/admin")
admin_page = require("admin")
audit_page = require("audit")


def _users_page(page: Page, status_code: int = 200, **context: Any) -> Response:
    scope = page.require_scope()
    users = list_users(page.db, scope)
    return page.render("admin_users.html", status_code=status_code, users=users,
                       grants={u.id: grants_of(page.db, u) for u in users},
                       units=manageable_units(page.db, scope), roles=[r.value for r in Role], **context)


@router.get("/users")
def users(page: Page = Depends(admin_page)) -> Response:
    return _users_page(page)


def _fail(page: Page, exc: Exception) -> Response:
    page.db.rollback()
    if isinstance(exc, NotFound):
        raise HTTPException(status_code=404)
    message = getattr(exc, "message", str(exc))
    return _users_page(page, status_code=400, error=page.t(message, **getattr(exc, "params", {})))


@router.post("/users")
def create_user(page: Page = Depends(admin_page), username: str = Form(""), display_name: str = Form(""),
                password: str = Form(""), language: str = Form(""), unit: str = Form(""),
                role: str = Form("")) -> Response:
    """A new user; an admin who is not a superuser must give a first grant inside their subtree."""
    scope = page.require_scope()
    try:
        if not scope.superuser and not (unit and role):
            raise AccountError(N_("Give the new user a role on one of your units."))
        target_unit = find_unit(page.db, unit) if unit else None
        if target_unit is not None and not scope.can("admin", target_unit.id):
            raise NotFound(N_("Unknown unit '{unit}'."), unit=unit)
        user = add_user(page.db, page.actor, username, password, display_name=display_name, language=language,
                        min_password_length=page.settings.web.min_password_length, must_change_password=True)
        if target_unit is not None and role:
            grant(page.db, page.actor, user, role, target_unit, scope)
    except (AccountError, PasswordPolicyError) as exc:
        return _fail(page, exc)
    page.commit()
    return page.redirect("/admin/users")


@router.post("/users/{username}/grants")
def add_grant(username: str, page: Page = Depends(admin_page), unit: str = Form(""),
              role: str = Form("")) -> Response:
    scope = page.require_scope()
    try:
        user = get_user(page.db, username)
        target_unit = find_unit(page.db, unit)
        # An admin may grant on their subtree to any user with no grant outside it (a new colleague).
        if not scope.superuser and user.grants and not can_manage(page.db, scope, user):
            raise NotFound(N_("Unknown user '{user}'."), user=username)
        grant(page.db, page.actor, user, role, target_unit, scope)
    except AccountError as exc:
        return _fail(page, exc)
    page.commit()
    return page.redirect("/admin/users")


@router.post("/users/{username}/grants/revoke")
def remove_grant(username: str, page: Page = Depends(admin_page), unit: str = Form(""),
                 role: str = Form("")) -> Response:
    scope = page.require_scope()
    try:
        user = get_user(page.db, username, scope)
        revoke(page.db, page.actor, user, role, find_unit(page.db, unit), scope)
    except AccountError as exc:
        return _fail(page, exc)
    page.commit()
    return page.redirect("/admin/users")


@router.post("/users/{username}/active")
def toggle_active(username: str, page: Page = Depends(admin_page), active: str = Form("")) -> Response:
    try:
        user = get_user(page.db, username, page.require_scope())
        if user.id == (page.user.id if page.user else None):
            raise AccountError(N_("You cannot disable your own account."))
        set_active(page.db, page.actor, user, active == "1")
    except AccountError as exc:
        return _fail(page, exc)
    page.commit()
    return page.redirect("/admin/users")


@router.post("/users/{username}/reset-password")
def reset(username: str, page: Page = Depends(admin_page)) -> Response:
    try:
        user = get_user(page.db, username, page.require_scope())
        temporary = reset_password(page.db, page.actor, user, min_password_length=page.settings.web.min_password_length)
    except AccountError as exc:
        return _fail(page, exc)
    page.commit()
    return _users_page(page, reset_user=user.username, temporary_password=temporary)


def _audit_filter(page: Page, action: str, actor: str, since: str, until: str) -> audit_mod.AuditFilter:
    """Dates are days in the user's time zone; ``until`` includes its whole day."""
    tz = zone(page.timezone)

    def day(value: str, plus: int = 0) -> datetime | None:
        try:
            d = datetime.strptime(value, "%Y-%m-%d").date() if value else None
        except ValueError:
            return None
        return datetime.combine(d + timedelta(days=plus), time(), tz) if d else None

    return audit_mod.AuditFilter(action=action.strip(), actor=actor.strip(), since=day(since), until=day(until, 1))


@router.get("/audit")
def audit(page: Page = Depends(audit_page), action: str = "", actor: str = "", since: str = "", until: str = "",
          before: int | None = None) -> Response:
    flt = _audit_filter(page, action, actor, since, until)
    limit = 50
    rows = audit_mod.entries(page.db, page.require_scope(), flt, before_id=before, limit=limit + 1)
    more = len(rows) > limit
    rows = rows[:limit]
    query = {"action": action, "actor": actor, "since": since, "until": until}
    return page.render("admin_audit.html", rows=rows, more=more, query=query,
                       actions=audit_mod.actions(), units=_unit_names(page))


def _unit_names(page: Page) -> dict[int, str]:
    from sqlalchemy import select

    from models import Unit

    return {i: n for i, n in page.db.execute(select(Unit.id, Unit.name))}


@router.get("/audit.csv")
def audit_csv(page: Page = Depends(audit_page), action: str = "", actor: str = "", since: str = "",
              until: str = "") -> Response:
    flt = _audit_filter(page, action, actor, since, until)
    buffer = io.StringIO()
    buffer.write("\ufeff")  # Excel opens UTF-8 CSV with Chinese and Vietnamese correctly only with a BOM
    audit_mod.write_csv(page.db, page.require_scope(), buffer, flt)
    page.audit("audit.export", unit_id=page.require_scope().focus, note=str(flt))
    page.commit()
    stamp = datetime.now(zone(page.timezone)).strftime("%Y%m%d-%H%M")
    return StreamingResponse(iter([buffer.getvalue()]), media_type="text/csv; charset=utf-8",
                             headers={"Content-Disposition": f'attachment; filename="audit-{stamp}.csv"'})
