"""Canonical URLs and their fingerprints: the crawl-time dedupe layer.

``url_hash`` (sha256 of the canonical URL) is ``Article.url_hash``; the crawler checks it before
fetching so an already stored article is not fetched again. Canonical form: lower-case scheme and
host, no default port, no fragment, tracking parameters (utm_*, spm, from, ...) removed, the
remaining query sorted.
"""

from __future__ import annotations

import hashlib
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

TRACKING_PARAMS = frozenset({
    "spm", "from", "isappinstalled", "share_token", "wfr", "scene", "srcid", "fbclid", "gclid",
    "share_from", "utm", "ref", "timestamp", "clicktime", "enterid",
})


def canonical_url(url: str) -> str:
    parts = urlsplit(url.strip())
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    port = parts.port
    netloc = host if port is None or (scheme, port) in (("http", 80), ("https", 443)) else f"{host}:{port}"
    if parts.username:
        netloc = f"{parts.username}@{netloc}"
    query = [
        (k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True)
        if not k.lower().startswith("utm_") and k.lower() not in TRACKING_PARAMS
    ]
    path = parts.path or "/"
    return urlunsplit((scheme, netloc, path, urlencode(sorted(query)), ""))


def url_hash(url: str) -> str:
    """sha256 hex of the canonical URL (``Article.url_hash``)."""
    return hashlib.sha256(canonical_url(url).encode("utf-8")).hexdigest()


def url_hashes(url: str) -> set[str]:
    """Hashes under which ``url`` may already be stored (canonical form and the URL as given)."""
    return {url_hash(url), hashlib.sha256(url.encode("utf-8")).hexdigest()}
