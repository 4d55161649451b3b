"""/login, /logout and the language choice of the login page."""

from __future__ import annotations

from urllib.parse import urlsplit

from fastapi import APIRouter, Depends, Form
from fastapi.responses import Response

from accounts.logins import LoginOutcome, authenticate, logout
from presswatch.i18n import is_supported_language, normalize_language
from presswatch.web.deps import (
    LANGUAGE_COOKIE,
    Page,
    anonymous_page,
    clear_session_cookie,
    client_address,
    set_session_cookie,
    user_page,
)

router = APIRouter()


def safe_next(target: str | None) -> str:
    """Only a path on this site (no scheme, no host, not //evil): an open redirect is a phishing aid."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    parts = urlsplit(target)
    return "/" if parts.scheme or parts.netloc else target


@router.get("/login")
def login_form(page: Page = Depends(anonymous_page), next: str = "/") -> Response:
    if page.user is not None:
        return page.redirect(safe_next(next))
    response = page.render("login.html", next=safe_next(next), error=None)
    if page.request.query_params.get("lang") and is_supported_language(page.request.query_params["lang"]):
        response.set_cookie(LANGUAGE_COOKIE, page.language, max_age=365 * 86400, samesite="lax", httponly=True)
    return response


@router.post("/login")
def login(page: Page = Depends(anonymous_page), username: str = Form(""), password: str = Form(""),
          next: str = Form("/")) -> Response:
    result = authenticate(page.db, username, password, client_address(page.request), page.settings.web,
                          user_agent=page.request.headers.get("user-agent", ""))
    page.commit()  # failures count toward the lockout even though the answer is an error page
    _ = page.t
    if result.outcome is LoginOutcome.OK and result.token and result.user is not None:
        target = "/account/password" if result.user.must_change_password else safe_next(next)
        response = page.redirect(target)
        set_session_cookie(response, result.token, page)
        if result.user.language:
            response.set_cookie(LANGUAGE_COOKIE, normalize_language(result.user.language), max_age=365 * 86400,
                                samesite="lax", httponly=True)
        return response
    if result.outcome is LoginOutcome.LOCKED:
        minutes = max(1, (result.retry_after_seconds + 59) // 60)
        error = _("Too many failed logins: this account is locked for {minutes} minutes.", minutes=minutes)
        status = 429
    elif result.outcome is LoginOutcome.RATE_LIMITED:
        error = _("Too many login attempts from your address. Please wait and try again.")
        status = 429
    else:
        error = _("Wrong username or password.")
        status = 401
    headers = {"Retry-After": str(result.retry_after_seconds)} if result.retry_after_seconds else None
    return page.render("login.html", status_code=status, headers=headers, next=safe_next(next), error=error,
                       username=username)


@router.get("/logout")
def logout_form(page: Page = Depends(anonymous_page)) -> Response:
    if page.user is None:
        return page.redirect("/login")
    return page.render("logout.html")


@router.post("/logout")
def logout_post(page: Page = Depends(user_page)) -> Response:
    if page.web_session is not None:
        logout(page.db, page.web_session, client_address(page.request))
        page.commit()
    response = page.redirect("/login")
    clear_session_cookie(response)
    return response
