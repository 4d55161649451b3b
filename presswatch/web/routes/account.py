"""/account: language, time zone, password, sessions with "log out everywhere"."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Form, HTTPException
from fastapi.responses import Response

from accounts.api_keys import create_key, key_state, list_keys, revoke_key
from accounts.logins import live_sessions, logout_everywhere
from accounts.passwords import PasswordPolicyError, verify_password
from accounts.users import AccountError, change_password, update_preferences
from models import Unit
from presswatch.i18n import N_, TimeZoneError, normalize_language
from presswatch.web.deps import LANGUAGE_COOKIE, Page, clear_session_cookie, client_address, user_page

router = APIRouter()

COMMON_TIMEZONES = ("Asia/Shanghai", "Asia/Ho_Chi_Minh", "Asia/Hong_Kong", "Asia/Taipei", "UTC")


def _render(page: Page, status_code: int = 200, **context: Any) -> Response:
    assert page.user is not None
    sessions = live_sessions(page.db, page.user, page.settings.web)
    keys = list_keys(page.db, page.user)
    unit_names = {u.id: u.name for u in page.switcher_units()}
    for key in keys:
        if key.unit_id is not None and key.unit_id not in unit_names:
            unit = page.db.get(Unit, key.unit_id)
            unit_names[key.unit_id] = unit.name if unit else str(key.unit_id)
    return page.render("account.html", status_code=status_code, sessions=sessions, timezones=COMMON_TIMEZONES,
                       api_keys=keys, key_state=key_state, key_units=page.switcher_units(), unit_names=unit_names,
                       **context)


@router.get("/account")
def account(page: Page = Depends(user_page)) -> Response:
    _ = page.t
    notice = None
    if page.request.query_params.get("saved"):
        notice = _("Saved.")
    elif page.request.query_params.get("revoked"):
        notice = _("The key was revoked: it no longer works.")
    return _render(page, notice=notice)


@router.post("/account")
def save_preferences(page: Page = Depends(user_page), language: str = Form(""), timezone: str = Form(""),
                     display_name: str = Form("")) -> Response:
    assert page.user is not None
    try:
        update_preferences(page.db, page.actor, page.user, language=language, timezone=timezone.strip(),
                           display_name=display_name)
    except AccountError as exc:
        page.db.rollback()
        return _render(page, status_code=400, error=exc.localized(page.t))
    except TimeZoneError:
        page.db.rollback()
        return _render(page, status_code=400, error=page.t(N_("Unknown time zone '{zone}'."), zone=timezone.strip()))
    page.commit()
    response = page.redirect("/account?saved=1")
    if page.user.language:
        response.set_cookie(LANGUAGE_COOKIE, normalize_language(page.user.language), max_age=365 * 86400,
                            samesite="lax", httponly=True)
    return response


@router.get("/account/password")
def password_form(page: Page = Depends(user_page)) -> Response:
    return page.render("password.html", error=None)


@router.post("/account/password")
def password_change(page: Page = Depends(user_page), current_password: str = Form(""),
                    new_password: str = Form(""), confirm_password: str = Form("")) -> Response:
    user = page.user
    assert user is not None
    _ = page.t
    error = None
    if not verify_password(current_password, user.password_hash):
        error = _("The current password is wrong.")
    elif new_password != confirm_password:
        error = _("The two new passwords differ.")
    elif new_password == current_password:
        error = _("Choose a password different from the current one.")
    else:
        try:
            change_password(page.db, page.actor, user, new_password, page.settings.web.min_password_length,
                            keep_session_id=page.web_session.id if page.web_session else None)
        except PasswordPolicyError:
            error = _("A password needs at least {n} characters.", n=page.settings.web.min_password_length)
    if error:
        return page.render("password.html", status_code=400, error=error)
    page.commit()
    return page.redirect("/account?saved=1")


@router.post("/account/logout-everywhere")
def everywhere(page: Page = Depends(user_page)) -> Response:
    assert page.user is not None
    logout_everywhere(page.db, page.user, client_address(page.request))
    page.commit()
    response = page.redirect("/login")
    clear_session_cookie(response)
    return response


@router.post("/account/api-keys")
def create_api_key(page: Page = Depends(user_page), name: str = Form(""), read_only: str = Form(""),
                   unit_id: str = Form(""), expires_days: str = Form("")) -> Response:
    """A new API key for the logged-in user; the page shows it once (never in a URL, never again)."""
    assert page.user is not None
    _ = page.t
    try:
        unit = int(unit_id) if unit_id.strip() else None
        days = float(expires_days) if expires_days.strip() else None
    except ValueError:
        return _render(page, status_code=400, error=_("Choose a unit and a number of days from the form."))
    try:
        created = create_key(page.db, page.actor, page.user, name=name, read_only=bool(read_only), unit_id=unit,
                             expires_in_days=days)
    except AccountError as exc:
        page.db.rollback()
        return _render(page, status_code=400, error=exc.localized(page.t))
    page.commit()
    return _render(page, status_code=201, new_key=created.key, new_key_prefix=created.row.prefix)


@router.post("/account/api-keys/{prefix}/revoke")
def revoke_api_key(prefix: str, page: Page = Depends(user_page)) -> Response:
    assert page.user is not None
    try:
        revoke_key(page.db, page.actor, page.user, prefix)
    except AccountError:
        raise HTTPException(status_code=404) from None
    page.commit()
    return page.redirect("/account?revoked=1")
