"""Request hardening: CSRF by origin headers, security headers on every response.

A state-changing request (POST, PUT, PATCH, DELETE) is refused with 403 unless the browser says it
came from our own pages: ``Sec-Fetch-Site: same-origin``, or else an ``Origin`` equal to ours (the
request's own scheme and host, or ``web.public_url``). A request carrying neither header is refused
too: every browser we support sends one of them on a form POST. API requests (``/api/``) with an
``Authorization: Bearer`` key are exempt: the API authenticates by that key only, never by the
session cookie, so there is no ambient credential to abuse. Elsewhere a Bearer header changes
nothing (the pages authenticate by cookie, so they keep the check).
"""

from __future__ import annotations

from urllib.parse import urlsplit

from starlette.requests import Request

UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
API_PATH = "/api/"

# No inline script or style anywhere (htmx is told not to inject its indicator style).
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; font-src 'self'; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)

SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "X-Content-Type-Options": "nosniff",
    "Cross-Origin-Opener-Policy": "same-origin",
}


def origin_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower() if parts.scheme and parts.netloc else ""


def own_origins(request: Request, public_url: str) -> set[str]:
    origins = {origin_of(str(request.base_url))}
    if public_url:
        origins.add(origin_of(public_url))
    return origins - {""}


def csrf_refusal(request: Request, public_url: str) -> str | None:
    """None when the request may proceed, else why it is refused."""
    if request.method not in UNSAFE_METHODS:
        return None
    if request.url.path.startswith(API_PATH) and request.headers.get("authorization", "").lower().startswith("bearer "):
        return None
    site = request.headers.get("sec-fetch-site")
    if site is not None:
        return None if site == "same-origin" else f"Sec-Fetch-Site: {site}"
    origin = request.headers.get("origin")
    if origin is None:
        return "no Origin or Sec-Fetch-Site header"
    return None if origin.lower() in own_origins(request, public_url) else f"Origin {origin}"


def is_https(request: Request, public_url: str) -> bool:
    return request.url.scheme == "https" or public_url.lower().startswith("https://")
