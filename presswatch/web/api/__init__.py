"""``/api/v1``: the JSON API, a FastAPI sub-application mounted in the web app.

Its own OpenAPI document (``/api/v1/openapi.json``), generated from the typed schemas in
:mod:`presswatch.web.api.schemas`, and a reference page rendered from it on the server
(``/api/v1/docs``: no script, no CDN, works offline). Errors are ``application/problem+json``,
including validation errors and unknown paths. Auth, paging and the rate limit: :mod:`.core`.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.exc import IntegrityError
from starlette.exceptions import HTTPException as StarletteHTTPException

from presswatch.web.api.core import ApiProblem, RateLimiter, ReadLog, problem_response

log = logging.getLogger(__name__)

API_PREFIX = "/api/v1"
VERSION = "1.0"

DESCRIPTION = """\
presswatch's JSON API. Authenticate every request with an API key (created in **/account** or with
`presswatch api-keys create`): `Authorization: Bearer pw_<prefix>_<secret>`. A key acts with its
user's grants, or fewer (read-only, one unit and the units under it); objects of other organizations
answer 404, exactly like missing ones. Lists are newest first, paged with `cursor` and `limit`
(at most 200): `next_cursor` in the body and a `Link: <...>; rel="next"` header. Errors are
`application/problem+json` (RFC 9457). Each key may make `web.api_requests_per_minute` requests a
minute (429 with `Retry-After` beyond that; see `/limits`).
"""


def create_api(root: FastAPI) -> FastAPI:
    from presswatch.web.api.config_routes import router as config_router
    from presswatch.web.api.routes import router
    from presswatch.web.api.stream_routes import router as stream_router

    api = FastAPI(title="presswatch API", version=VERSION, description=DESCRIPTION, openapi_url="/openapi.json",
                  docs_url=None, redoc_url=None, servers=[{"url": API_PREFIX}])
    api.state.root = root
    api.state.limiter = RateLimiter(root.state.settings.web.api_requests_per_minute)
    api.state.read_log = ReadLog()
    api.include_router(router)
    api.include_router(config_router)
    api.include_router(stream_router)
    api.add_api_route("/docs", docs_page, methods=["GET"], include_in_schema=False, response_class=HTMLResponse)
    _install_handlers(api)
    return api


def _install_handlers(api: FastAPI) -> None:
    @api.exception_handler(ApiProblem)
    async def _problem(request: Request, exc: ApiProblem) -> Response:
        return problem_response(request, exc.status, exc.detail, exc.headers, **exc.extra)

    @api.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> Response:
        errors = [{"where": ".".join(str(p) for p in e.get("loc", ())), "why": e.get("msg", "")}
                  for e in exc.errors()]
        return problem_response(request, 422, "The request is not valid: see errors.", errors=errors)

    @api.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        detail = exc.detail if isinstance(exc.detail, str) and exc.detail != _default_phrase(exc.status_code) else ""
        return problem_response(request, exc.status_code, detail, getattr(exc, "headers", None))

    @api.exception_handler(IntegrityError)
    async def _conflict(request: Request, _exc: IntegrityError) -> Response:
        # A unique name taken (a plan, a registration twice ...): the request's session rolls back.
        return problem_response(request, 409, "This conflicts with an existing object (a name or key already used).")

    @api.exception_handler(Exception)
    async def _crash(request: Request, exc: Exception) -> Response:
        log.exception("API request %s %s failed", request.method, request.url.path, exc_info=exc)
        return problem_response(request, 500, "The server failed to answer; the error is logged.")

    @api.middleware("http")
    async def _rate_headers(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        response = await call_next(request)
        rate = getattr(request.state, "rate", None)
        if rate is not None:
            response.headers["RateLimit-Limit"] = str(rate[0])
            response.headers["RateLimit-Remaining"] = str(rate[1])
        return response

    del _problem, _invalid, _http, _conflict, _crash, _rate_headers


def _default_phrase(status: int) -> str:
    from http import HTTPStatus

    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return ""


def docs_page(request: Request) -> HTMLResponse:
    """A readable reference rendered from the OpenAPI document on the server: no script, no CDN."""
    from presswatch.i18n import Translator, negotiate_language

    spec = request.app.openapi()
    env = request.app.state.root.state.templates
    t = Translator(request.cookies.get("pw_lang") or negotiate_language(request.headers.get("accept-language")))
    html = env.get_template("api_docs.html").render(page=None, _=t, spec=spec, operations=operations(spec),
                                                    schemas=schema_tables(spec), prefix=API_PREFIX)
    return HTMLResponse(html)


def _ref_name(schema: dict[str, Any] | None) -> str:
    """A short type name for a schema: Case, list[Case], Listing[Case], string ..."""
    if not schema:
        return ""
    if "$ref" in schema:
        return str(schema["$ref"]).rsplit("/", 1)[-1]
    if "anyOf" in schema:
        return " | ".join(_ref_name(x) for x in schema["anyOf"])
    kind = schema.get("type", "")
    if kind == "array":
        return f"list[{_ref_name(schema.get('items'))}]"
    if "enum" in schema:
        return " | ".join(repr(v) for v in schema["enum"])
    extra = schema.get("additionalProperties")
    if kind == "object" and isinstance(extra, dict):
        return f"dict[string, {_ref_name(extra) or 'any'}]"
    return str(kind or "any")


def operations(spec: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for path, methods in spec.get("paths", {}).items():
        for method, op in methods.items():
            body = (op.get("requestBody") or {}).get("content", {}).get("application/json", {}).get("schema")
            responses = []
            for code, resp in op.get("responses", {}).items():
                content = resp.get("content") or {}
                media = next(iter(content), "")
                responses.append({"code": code, "description": resp.get("description", ""), "media": media,
                                  "type": _ref_name((content.get(media) or {}).get("schema"))})
            out.append({
                "method": method.upper(), "path": path, "summary": op.get("summary", ""),
                "description": op.get("description", ""), "tag": (op.get("tags") or ["other"])[0],
                "anchor": op.get("operationId", f"{method}-{path}"),
                "parameters": [{"name": p["name"], "in": p["in"], "required": p.get("required", False),
                                "type": _ref_name(p.get("schema")),
                                "description": p.get("description") or (p.get("schema") or {}).get("description", "")}
                               for p in op.get("parameters", [])],
                "body": _ref_name(body), "responses": responses,
            })
    out.sort(key=lambda o: (o["tag"], o["path"], o["method"]))
    return out


def schema_tables(spec: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for name, schema in sorted(spec.get("components", {}).get("schemas", {}).items()):
        required = set(schema.get("required", []))
        out.append({"name": name, "description": schema.get("description", ""), "fields": [
            {"name": field, "type": _ref_name(prop), "required": field in required,
             "description": prop.get("description", "")}
            for field, prop in (schema.get("properties") or {}).items()]})
    return out
