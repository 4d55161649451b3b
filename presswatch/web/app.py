"""The application factory: settings and engine in, a FastAPI app out.

Middleware order (outermost first): security headers on every response, then the CSRF check on
state-changing requests. Pages are Jinja2 templates under ``presswatch/web/templates`` rendered
with autoescape on; static files (our CSS and JS, vendored htmx and ECharts) under ``/static``.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from jinja2 import Environment, FileSystemLoader, select_autoescape
from sqlalchemy import Engine
from starlette.exceptions import HTTPException as StarletteHTTPException

from models.db import session_factory
from presswatch.i18n import LANGUAGES, N_, Translator, negotiate_language
from presswatch.web.deps import LoginRequired, PasswordChangeRequired
from presswatch.web.security import SECURITY_HEADERS, csrf_refusal
from settings import Settings

log = logging.getLogger(__name__)

WEB_DIR = Path(__file__).parent
TEMPLATES_DIR = WEB_DIR / "templates"
STATIC_DIR = WEB_DIR / "static"

# Every router module under presswatch/web/routes/ that the app includes, in this order.
ROUTERS = (
    "presswatch.web.routes.auth",
    "presswatch.web.routes.home",
    "presswatch.web.routes.articles",
    "presswatch.web.routes.account",
    "presswatch.web.routes.admin",
    "presswatch.web.routes.admin_home",
    "presswatch.web.routes.admin_sources",
    "presswatch.web.routes.admin_rules",
    "presswatch.web.routes.admin_webhooks",
    "presswatch.web.routes.admin_queries",
    "presswatch.web.routes.admin_digests",
    "presswatch.web.routes.admin_units",
    "presswatch.web.routes.cases",
    "presswatch.web.routes.stream",
    "presswatch.web.routes.quota",
    "presswatch.web.routes.stories",
    "presswatch.web.routes.corrections",
    "presswatch.web.routes.dashboard",
    "presswatch.web.routes.reports",
    "presswatch.web.routes.links",
    "presswatch.web.routes.shared",
)

LANGUAGE_NAMES = {"zh-CN": "中文", "vi": "Tiếng Việt", "en": "English"}


def _static_version() -> str:
    """A digest of the static files, appended to their URLs so a new release is never served stale."""
    digest = hashlib.sha256()
    for path in sorted(STATIC_DIR.rglob("*")):
        if path.is_file():
            digest.update(path.name.encode())
            digest.update(str(path.stat().st_size).encode())
    return digest.hexdigest()[:10]


def make_templates() -> Environment:
    env = Environment(loader=FileSystemLoader(str(TEMPLATES_DIR)), autoescape=select_autoescape(["html", "j2"]),
                      trim_blocks=True, lstrip_blocks=True)
    version = _static_version()
    env.globals["static"] = lambda path: f"/static/{path}?v={version}"
    env.globals["LANGUAGES"] = LANGUAGES
    env.globals["LANGUAGE_NAMES"] = LANGUAGE_NAMES
    return env


def create_app(settings: Settings | None = None, engine: Engine | None = None) -> FastAPI:
    from importlib import import_module

    if settings is None:
        from settings import get_settings

        settings = get_settings()
    if engine is None:
        from models.db import get_engine

        engine = get_engine()
    from presswatch.wiring import wire

    wire()  # the web app is the shell's third face: it assembles the stages' event handlers too
    app = FastAPI(title="presswatch", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.settings = settings
    app.state.engine = engine
    app.state.session_factory = session_factory(engine)
    app.state.templates = make_templates()
    app.mount("/static", StaticFiles(directory=str(STATIC_DIR)), name="static")
    for ref in ROUTERS:
        app.include_router(import_module(ref).router)
    from presswatch.web.api import API_PREFIX, create_api

    app.state.api = create_api(app)
    app.mount(API_PREFIX, app.state.api)
    _install_handlers(app, settings)
    return app


def _install_handlers(app: FastAPI, settings: Settings) -> None:
    @app.middleware("http")
    async def csrf_and_headers(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        refusal = csrf_refusal(request, settings.web.public_url)
        if refusal is not None:
            log.warning("refused cross-site %s %s: %s", request.method, request.url.path, refusal)
            if request.url.path.startswith("/api/"):
                from presswatch.web.api.core import problem_response

                response: Response = problem_response(
                    request, 403, "A request without an API key must come from presswatch's own pages.")
            else:
                response = _error_page(request, 403, N_("This request did not come from presswatch's own pages."))
        else:
            response = await call_next(request)
        for name, value in SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        if not request.url.path.startswith("/static/"):
            response.headers.setdefault("Cache-Control", "no-store")
        return response

    @app.exception_handler(LoginRequired)
    async def _login(request: Request, _exc: LoginRequired) -> Response:
        from urllib.parse import quote

        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        if request.headers.get("hx-request"):
            return Response(status_code=401, headers={"HX-Redirect": "/login"})
        return RedirectResponse(f"/login?next={quote(target, safe='')}", status_code=303)

    @app.exception_handler(PasswordChangeRequired)
    async def _password(_request: Request, _exc: PasswordChangeRequired) -> Response:
        return RedirectResponse("/account/password", status_code=303)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        if exc.status_code in (404, 403, 405, 429):
            return _error_page(request, exc.status_code, None, getattr(exc, "headers", None))
        # Anything else (400, 422 ...) answers with its status, never as a 500.
        from fastapi.exception_handlers import http_exception_handler

        return await http_exception_handler(request, exc)

    del _login, _password, _http


ERROR_MESSAGES = {
    403: N_("You are not allowed to open this page."),
    404: N_("Not found."),
    405: N_("Not found."),
    429: N_("Too many attempts. Please wait and try again."),
}


def _error_page(request: Request, status: int, message: str | None,
                headers: dict[str, Any] | None = None) -> HTMLResponse:
    language = negotiate_language(request.headers.get("accept-language"))
    t = Translator(request.cookies.get("pw_lang") or language)
    env: Environment = request.app.state.templates
    html = env.get_template("error.html").render(
        page=None, _=t, status=status, message=t(message or ERROR_MESSAGES.get(status, N_("Error"))))
    return HTMLResponse(html, status_code=status, headers=headers)


__all__ = ["HTTPException", "create_app"]
