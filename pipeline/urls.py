"""Canonical URLs: one article, one key, however the crawler reached it.

Tracking parameters (``utm_*``, ``spm``, WeChat's ``scene``/``chksm`` ...), fragments, default ports,
upper-case hosts and ``www.``/mobile host variants a source declares as equivalent all collapse
to the same canonical form; its sha256 is ``Article.url_hash``, the unique key of stored articles.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

# Query parameters that never select content: campaign tags, share/referrer markers, session ids.
TRACKING_PARAMS = frozenset({
    "spm", "from", "fromid", "share", "share_token", "share_source", "sharer", "isappinstalled",
    "scene", "srcid", "chksm", "sessionid", "sid", "jsessionid", "phpsessid", "ref", "referer",
    "referrer", "fbclid", "gclid", "yclid", "msclkid", "mc_cid", "mc_eid", "_ga", "_gl",
    "wfr", "tt_from", "utm", "timestamp", "t_ts", "pvid", "ns_source", "vn_source",
})
TRACKING_PREFIXES = ("utm_", "hmsr", "hmpl", "hmcu", "hmkw", "hmci", "pk_", "mtm_", "__")
DEFAULT_PORTS = {"http": 80, "https": 443}
_MULTI_SLASH = re.compile(r"/{2,}")


class BadUrl(ValueError):
    """Not an absolute http(s) URL."""


def _is_tracking(name: str) -> bool:
    low = name.lower()
    return low in TRACKING_PARAMS or low.startswith(TRACKING_PREFIXES)


def canonical_url(url: str, host_map: Mapping[str, str] | None = None) -> str:
    """The canonical form of ``url``.

    ``host_map`` maps variant hosts to the canonical one (e.g. ``{"m.example.cn": "www.example.cn"}``),
    as a source declares in ``extra["host_map"]`` when its mobile and desktop pages are the same article.
    The scheme is kept (the crawl stage's pre-fetch check hashes the same form), and so is the
    path's case (paths are case-sensitive on most servers).
    """
    raw = (url or "").strip()
    try:
        parts = urlsplit(raw)
    except ValueError as exc:
        raise BadUrl(f"unparseable URL {raw[:200]!r}: {exc}") from None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https") or not parts.hostname:
        raise BadUrl(f"not an absolute http(s) URL: {raw[:200]!r}")
    host = parts.hostname.lower().rstrip(".")
    try:
        port = parts.port
    except ValueError:
        raise BadUrl(f"bad port in URL: {raw[:200]!r}") from None
    if host_map:
        host = host_map.get(host, host)
    netloc = host
    if port is not None and port != DEFAULT_PORTS.get(scheme):
        netloc = f"{host}:{port}"
    path = _MULTI_SLASH.sub("/", parts.path or "/")
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if not _is_tracking(k)]
    query.sort()
    return urlunsplit((scheme, netloc, path, urlencode(query, doseq=True), ""))


def url_hash(canonical: str) -> str:
    """sha256 hex of a canonical URL (the unique key ``Article.url_hash``)."""
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def lookup_hashes(url: str, host_maps: Iterable[Mapping[str, str]] = ()) -> set[str]:
    """Every ``Article.url_hash`` a stored article at ``url`` may have, for looking it up from a
    link a person pasted or a crawler found: the canonical form (also under each given host map),
    over http and https and without a trailing slash, and the URL as given (rows stored before a
    canonicalization rule was added keep their old key)."""
    raw = (url or "").strip()
    keys = {url_hash(raw)}
    try:
        forms = {canonical_url(raw)} | {canonical_url(raw, m) for m in host_maps if m}
    except BadUrl:
        return keys  # not an http(s) link: only its own text can be a key
    variants: set[str] = set()
    for form in forms:
        parts = urlsplit(form)
        paths = {parts.path, parts.path.rstrip("/") or "/"}
        for scheme in ("http", "https"):
            variants.update(urlunsplit(parts._replace(scheme=scheme, path=p)) for p in paths)
    return keys | {url_hash(f) for f in variants}


def host_of(url: str) -> str:
    try:
        return (urlsplit(url).hostname or "").lower()
    except ValueError:
        return ""
