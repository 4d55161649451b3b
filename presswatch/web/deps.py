"""Per-request plumbing: the database session, the logged-in user and their :class:`Scope`, the
language, and :class:`Page`, which every route receives and renders with.

Routes declare ``page: Page = Depends(user_page)`` (login required), ``Depends(anonymous_page)``
(login page), or ``Depends(require("admin"))`` (a role's action anywhere in the user's scope; 403
otherwise). Objects outside the scope are looked up with :meth:`Page.in_scope`, which answers 404.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from fastapi import Depends, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from accounts.audit import Actor, record
from accounts.logins import session_for_token
from models import AuditEntry, Unit, User, WebSession
from models.scope import Scope, scope_for_user
from presswatch.i18n import Translator, format_datetime, format_number, negotiate_language, normalize_language
from settings import Settings

SESSION_COOKIE = "pw_session"
LANGUAGE_COOKIE = "pw_lang"


class LoginRequired(Exception):
    """No live session: the app redirects to /login?next=..."""


class PasswordChangeRequired(Exception):
    """An admin reset the password: every page but the change form redirects there."""


def get_db(request: Request) -> Iterator[Session]:
    """One session per request. Routes that write call ``page.commit()`` before answering (so a
    redirect's next request sees the change); whatever is left is committed at the end."""
    yield from request_session(request.app.state.session_factory)


def request_session(factory: Any) -> Iterator[Session]:
    """A session from ``factory`` for one request: committed at its end, rolled back on an error."""
    db: Session = factory()
    try:
        yield db
        db.commit()
    except BaseException:
        db.rollback()
        raise
    finally:
        db.close()


def client_address(request: Request) -> str:
    return request.client.host if request.client else ""


@dataclass
class Page:
    """What a route needs to answer: the request, the database, who is asking and in which language."""

    request: Request
    db: Session
    settings: Settings
    language: str
    timezone: str
    user: User | None = None
    web_session: WebSession | None = None
    scope: Scope | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def t(self) -> Translator:
        return Translator(self.language)

    @property
    def actor(self) -> Actor:
        if self.user is None:
            return Actor(None, "anonymous", client_address(self.request))
        return Actor(self.user.id, self.user.username, client_address(self.request))

    def require_scope(self) -> Scope:
        if self.scope is None:
            raise LoginRequired()
        return self.scope

    def audit(self, action: str, **kw: Any) -> AuditEntry:
        """Record a change made by this request's user (see accounts.audit.record for the fields)."""
        return record(self.db, self.actor, action, **kw)

    def in_scope(self, unit_id: int | None) -> None:
        """404 unless an object of ``unit_id`` is visible to the user (never 403: no title leaks)."""
        if not self.require_scope().contains(unit_id):
            raise HTTPException(status_code=404)

    def commit(self) -> None:
        self.db.commit()

    def fmt_dt(self, value: datetime | None) -> str:
        return format_datetime(value, self.language, self.timezone)

    def fmt_num(self, value: float | int) -> str:
        return format_number(value, self.language)

    def display_names(self, usernames: set[str]) -> dict[str, str]:
        """username -> display name, for histories that name people (unknown names map to nothing)."""
        names = {u for u in usernames if u}
        if not names:
            return {}
        rows = self.db.execute(select(User.username, User.display_name).where(User.username.in_(sorted(names))))
        return {u: (d or u) for u, d in rows}

    def unread_alerts(self) -> int:
        """Alerts of the user's scope nobody has acknowledged yet (the header badge on every page)."""
        from alerts.cases import count_unacknowledged

        return count_unacknowledged(self.db, self.scope) if self.scope is not None else 0

    def focus_unit(self) -> Unit | None:
        scope = self.scope
        return self.db.get(Unit, scope.focus) if scope is not None and scope.focus is not None else None

    def switcher_units(self) -> list[Unit]:
        """The organizations the user can switch between: their granted units (any root for a superuser)."""
        scope = self.scope
        if scope is None:
            return []
        if scope.superuser:
            ids = list(scope.granted_units) + list(self.db.scalars(select(Unit.id).where(Unit.parent_id.is_(None))
                                                                    .order_by(Unit.id)))
        else:
            ids = list(scope.granted_units)
        ids = list(dict.fromkeys(ids))
        units = {u.id: u for u in self.db.scalars(select(Unit).where(Unit.id.in_(ids)))} if ids else {}
        return [units[i] for i in ids if i in units]

    def render(self, template: str, status_code: int = 200, headers: dict[str, str] | None = None,
               **context: Any) -> HTMLResponse:
        env = self.request.app.state.templates
        html = env.get_template(template).render(page=self, _=self.t, **context)
        return HTMLResponse(html, status_code=status_code, headers=headers)

    def redirect(self, url: str, status_code: int = 303) -> RedirectResponse:
        return RedirectResponse(url, status_code=status_code)


def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def anonymous_page(request: Request, db: Session = Depends(get_db)) -> Page:
    """A page that works without login (the login form): language from ?lang=, cookie or browser;
    a logged-in user is still recognised."""
    settings = _settings(request)
    page = Page(request=request, db=db, settings=settings, language="en", timezone=settings.web.default_timezone)
    _attach_user(page)
    if page.user is None:
        page.language = _anonymous_language(request)
    return page


def _anonymous_language(request: Request) -> str:
    choice = request.query_params.get("lang") or request.cookies.get(LANGUAGE_COOKIE)
    if choice:
        return normalize_language(choice)
    return negotiate_language(request.headers.get("accept-language"))


def _attach_user(page: Page) -> None:
    token = page.request.cookies.get(SESSION_COOKIE, "")
    web_session = session_for_token(page.db, token, page.settings.web) if token else None
    if web_session is None:
        return
    user = web_session.user
    page.user = user
    page.web_session = web_session
    page.scope = scope_for_user(page.db, user, web_session.active_unit_id)
    page.language = normalize_language(user.language) if user.language else _anonymous_language(page.request)
    page.timezone = user.timezone or page.settings.web.default_timezone


def user_page(page: Page = Depends(anonymous_page)) -> Page:
    """Login required; a user who must change their password is sent to the form first."""
    if page.user is None:
        raise LoginRequired()
    if page.user.must_change_password and page.request.url.path not in ("/account/password", "/logout"):
        raise PasswordChangeRequired()
    return page


def require(action: str) -> Callable[[Page], Page]:
    """A dependency: the user may do ``action`` (models.scope.ROLE_ACTIONS) somewhere in their scope."""

    def dependency(page: Page = Depends(user_page)) -> Page:
        if not page.require_scope().can_anywhere(action):
            raise HTTPException(status_code=403)
        return page

    return dependency


def set_session_cookie(response: Response, token: str, page: Page) -> None:
    from presswatch.web.security import is_https

    web = page.settings.web
    secure = web.cookie_secure == "always" or (web.cookie_secure == "auto" and is_https(page.request, web.public_url))
    response.set_cookie(SESSION_COOKIE, token, max_age=int(web.session_absolute_hours * 3600), httponly=True,
                        samesite="lax", secure=secure, path="/")


def clear_session_cookie(response: Response) -> None:
    response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="lax")
