"""Canonical URLs and their fingerprints: the crawl-time dedupe layer.

``url_hash`` (sha256 of the canonical URL) is ``Article.url_hash``; the crawler checks it before
fetching so an already stored article is not fetched again. Canonical form: lower-case scheme and
host, no default port, no fragment, tracking parameters (utm_*, spm, from, ...) removed, the
remaining query sorted.
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Callable
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


def _pipeline_canonical() -> Callable[[str], str] | None:
    try:
        from pipeline.urls import canonical_url as pipeline_canonical
    except ImportError:
        return None
    return pipeline_canonical


def url_hashes(url: str) -> set[str]:
    """Hashes under which ``url`` may already be stored.

    The pipeline owns the stored key (``Article.url_hash``); when it is installed its canonical form
    is used, and this module's form and the URL as given are checked as well, so the crawl-time
    check never misses a stored article because two canonicalizers disagree on a detail.
    """
    out = {url_hash(url), hashlib.sha256(url.encode("utf-8")).hexdigest()}
    pipeline_canonical = _PIPELINE_CANONICAL
    if pipeline_canonical is not None:
        with contextlib.suppress(ValueError):  # not an http(s) URL: the pipeline would refuse it too
            out.add(hashlib.sha256(pipeline_canonical(url).encode("utf-8")).hexdigest())
    return out


_PIPELINE_CANONICAL = _pipeline_canonical()
