"""The crawl-time dedupe layer: is this URL already stored?

The pipeline owns the canonical form and the stored key (``pipeline.urls``: ``Article.url_hash`` is
the sha256 of the canonical URL); the crawler hashes URLs the same way before fetching, so an
already stored article is not fetched again. ``pipeline.urls`` is plain string work (no jieba, no
database), so the crawler can use it without loading the rest of the pipeline.
"""

from __future__ import annotations

from collections.abc import Mapping

from pipeline.urls import BadUrl, lookup_hashes
from pipeline.urls import canonical_url as _canonical
from pipeline.urls import url_hash as _hash_canonical


def canonical_url(url: str, host_map: Mapping[str, str] | None = None) -> str:
    """The pipeline's canonical form (``host_map``: the source's variant hosts, e.g. mobile pages);
    a URL it cannot canonicalize (a ``urn:`` import) stays as given."""
    try:
        return _canonical(url, host_map)
    except BadUrl:
        return url.strip()


def url_hash(url: str, host_map: Mapping[str, str] | None = None) -> str:
    """sha256 hex of the canonical URL (``Article.url_hash``)."""
    return _hash_canonical(canonical_url(url, host_map))


def url_hashes(url: str, host_map: Mapping[str, str] | None = None) -> set[str]:
    """Hashes under which ``url`` may already be stored (:func:`pipeline.urls.lookup_hashes`, with
    the source's host map, as the pipeline stores it)."""
    return lookup_hashes(url, [host_map] if host_map else [])
