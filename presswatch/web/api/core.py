"""The API's plumbing: key authentication, the request context, problem+json errors, the rate
limiter and cursor pages. Routes (the other modules here) only parse, call a stage function with
``ctx.scope`` / ``ctx.actor``, and shape the answer.

- Authentication: ``Authorization: Bearer pw_<prefix>_<secret>`` only. Cookies never authenticate
  the API (so the browser's ambient session cannot be ridden cross-site into an API write; such
  Bearer requests are exempt from the cookie CSRF check in ``presswatch.web.security``).
- Errors: ``application/problem+json`` (RFC 9457): ``type``, ``title``, ``status``, ``detail``,
  ``instance``; validation errors add ``errors``.
- Reads are attributable too: the first read of each route with a key in a
  ``READ_AUDIT_WINDOW_SECONDS`` window writes an ``api.read`` audit entry (key prefix, user, address,
  the route and the first request's path), so the audit log says which keys read what, and when,
  without a write per request. Changes are audited by the stage functions as always.
- Rate limit: a token bucket per key, ``web.api_requests_per_minute``, kept in the worker's memory
  (with several workers, the limit applies per worker).
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from fastapi import Depends, Request
from fastapi.responses import JSONResponse
from sqlalchemy.orm import Session

from accounts.api_keys import KeyUse, authenticate
from accounts.audit import API_KEY_INFO, Actor, record
from models.pagination import CursorError, Page, keyset_page
from models.scope import Scope
from presswatch.web.deps import client_address, request_session

PROBLEM_TYPE = "application/problem+json"
MAX_LIMIT = 200
DEFAULT_LIMIT = 50

TITLES = {
    400: "Bad request", 401: "Unauthorized", 403: "Forbidden", 404: "Not found", 405: "Method not allowed",
    409: "Conflict", 415: "Unsupported media type", 422: "Unprocessable content", 429: "Too many requests",
    500: "Internal server error",
}


class ApiProblem(Exception):
    """Raised by API routes; answered as problem+json."""

    def __init__(self, status: int, detail: str = "", *, headers: dict[str, str] | None = None,
                 extra: dict[str, Any] | None = None) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.headers = headers or {}
        self.extra = extra or {}


def problem_response(request: Request, status: int, detail: str = "", headers: dict[str, str] | None = None,
                     **extra: Any) -> JSONResponse:
    body: dict[str, Any] = {"type": "about:blank", "title": TITLES.get(status, "Error"), "status": status}
    if detail:
        body["detail"] = detail
    body["instance"] = request.url.path
    body.update(extra)
    return JSONResponse(body, status_code=status, media_type=PROBLEM_TYPE, headers=headers)


READ_AUDIT_WINDOW_SECONDS = 600


class ReadLog:
    """Which (key, route) reads were audited recently, so a polling client writes one ``api.read``
    entry per route per window, not one per request (kept in the worker's memory, like the limiter)."""

    def __init__(self, window_seconds: float = READ_AUDIT_WINDOW_SECONDS) -> None:
        self.window_seconds = window_seconds
        self._seen: dict[tuple[int, str], float] = {}
        self._lock = threading.Lock()

    def due(self, key_id: int, route: str, now: float | None = None) -> bool:
        now = time.monotonic() if now is None else now
        with self._lock:
            last = self._seen.get((key_id, route))
            if last is not None and now - last < self.window_seconds:
                return False
            if len(self._seen) > 50_000:  # forget old marks rather than grow without bound
                self._seen = {k: t for k, t in self._seen.items() if now - t < self.window_seconds}
            self._seen[(key_id, route)] = now
            return True


class RateLimiter:
    """A token bucket per key: ``per_minute`` requests, refilled continuously."""

    def __init__(self, per_minute: int) -> None:
        self.per_minute = per_minute
        self._buckets: dict[int, tuple[float, float]] = {}
        self._lock = threading.Lock()

    @property
    def rate(self) -> float:
        return self.per_minute / 60.0

    def _level(self, key_id: int, now: float) -> float:
        tokens, at = self._buckets.get(key_id, (float(self.per_minute), now))
        return min(float(self.per_minute), tokens + (now - at) * self.rate)

    def take(self, key_id: int, now: float | None = None) -> tuple[bool, float, int]:
        """(allowed, tokens left, seconds until the next request is allowed)."""
        now = time.monotonic() if now is None else now
        with self._lock:
            tokens = self._level(key_id, now)
            if tokens >= 1:
                self._buckets[key_id] = (tokens - 1, now)
                return True, tokens - 1, 0
            self._buckets[key_id] = (tokens, now)
            return False, tokens, max(1, math.ceil((1 - tokens) / self.rate))

    def peek(self, key_id: int, now: float | None = None) -> tuple[float, int]:
        """(tokens left, seconds until the bucket is full again)."""
        now = time.monotonic() if now is None else now
        with self._lock:
            tokens = self._level(key_id, now)
        return tokens, math.ceil((self.per_minute - tokens) / self.rate)


@dataclass
class ApiContext:
    request: Request
    db: Session
    use: KeyUse

    @property
    def scope(self) -> Scope:
        return self.use.scope

    @property
    def actor(self) -> Actor:
        return Actor(self.use.user.id, self.use.user.username, client_address(self.request), self.use.key.prefix)

    @property
    def username(self) -> str:
        return self.use.user.username

    def commit(self) -> None:
        self.db.commit()


def _root_state(request: Request) -> Any:
    return request.app.state.root.state


def api_db(request: Request) -> Iterator[Session]:
    yield from request_session(_root_state(request).session_factory)


def limiter_of(request: Request) -> RateLimiter:
    limiter: RateLimiter = request.app.state.limiter
    return limiter


def api_context(request: Request, db: Session = Depends(api_db)) -> ApiContext:
    """The key from ``Authorization: Bearer``, its user and scope, after the rate limit (401 / 429)."""
    scheme, _, key = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not key.strip():
        raise ApiProblem(401, "Send an API key: Authorization: Bearer <key>.",
                         headers={"WWW-Authenticate": 'Bearer realm="presswatch"'})
    use = authenticate(db, key.strip())
    if use is None:
        raise ApiProblem(401, "The API key is unknown, revoked or expired.",
                         headers={"WWW-Authenticate": 'Bearer realm="presswatch", error="invalid_token"'})
    limiter = limiter_of(request)
    allowed, left, retry = limiter.take(use.key.id)
    request.state.rate = (limiter.per_minute, int(left))
    if not allowed:
        raise ApiProblem(429, f"More than {limiter.per_minute} requests a minute with this key.",
                         headers={"Retry-After": str(retry)})
    db.info[API_KEY_INFO] = {"prefix": use.key.prefix, "user_id": use.user.id, "username": use.user.username,
                             "client_address": client_address(request)}
    if request.method in ("GET", "HEAD"):
        _audit_read(request, db, use)
    return ApiContext(request, db, use)


def _audit_read(request: Request, db: Session, use: KeyUse) -> None:
    route = getattr(request.scope.get("route"), "path", "") or request.url.path
    read_log: ReadLog = request.app.state.read_log
    if not read_log.due(use.key.id, route):
        return
    path = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    record(db, Actor(use.user.id, use.user.username, client_address(request), use.key.prefix), "api.read",
           object_type="api", object_id=route, note=path[:500])


def writer(ctx: ApiContext = Depends(api_context)) -> ApiContext:
    """A route that changes something: a read-only key is refused (403) before anything is looked up."""
    if ctx.scope.read_only:
        raise ApiProblem(403, "This API key is read-only.")
    return ctx


@dataclass(frozen=True)
class PageParams:
    cursor: str | None
    limit: int


def page_of(ctx: ApiContext, stmt: Any, time_col: Any, id_col: Any, params: PageParams, kind: str) -> Page[Any]:
    try:
        return keyset_page(ctx.db, stmt, time_col, id_col, kind=kind, cursor=params.cursor, limit=params.limit)
    except CursorError:
        raise ApiProblem(400, "The cursor is not one of this list's (start again without it).") from None


def link_header(request: Request, next_cursor: str | None) -> dict[str, str]:
    if not next_cursor:
        return {}
    url = request.url.include_query_params(cursor=next_cursor)
    return {"Link": f'<{url}>; rel="next"'}
