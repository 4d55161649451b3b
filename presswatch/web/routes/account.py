"""/account: language, time zone, password, sessions with "log out everywhere"."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Form
from fastapi.responses import Response

from accounts.logins import live_sessions, logout_everywhere
from accounts.passwords import PasswordPolicyError, verify_password
from accounts.users import AccountError, change_password, update_preferences
from presswatch.i18n import N_, TimeZoneError, normalize_language
from presswatch.web.deps import LANGUAGE_COOKIE, Page, clear_session_cookie, client_address, user_page

router = APIRouter()

COMMON_TIMEZONES = ("Asia/Shanghai", "Asia/Ho_Chi_Minh", "Asia/Hong_Kong", "Asia/Taipei", "UTC")


def _render(page: Page, status_code: int = 200, **context: Any) -> Response:
    assert page.user is not None
    sessions = live_sessions(page.db, page.user, page.settings.web)
    return page.render("account.html", status_code=status_code, sessions=sessions, timezones=COMMON_TIMEZONES,
                       **context)


@router.get("/account")
def account(page: Page = Depends(user_page)) -> Response:
    _ = page.t
    return _render(page, notice=_("Saved.") if page.request.query_params.get("saved") else None)


@router.post("/account")
def save_preferences(page: Page = Depends(user_page), language: str = Form(""), timezone: str = Form(""),
                     display_name: str = Form("")) -> Response:
    assert page.user is not None
    try:
        update_preferences(page.db, page.actor, page.user, language=language, timezone=timezone.strip(),
                           display_name=display_name)
    except AccountError as exc:
        page.db.rollback()
        return _render(page, status_code=400, error=page.t(exc.message, **exc.params))
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
