"""The raw item: what a crawler (or an import) hands to the pipeline. Plain data, no behaviour.

Crawlers fill what they know; the pipeline extracts, normalizes, dedupes and stores. A spider
that already extracted fields (a feed entry's title, a JSON post's text) puts them in the
``title``/``text``/``published`` fields; an HTML page leaves them empty and sends ``body``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


@dataclass
class RawItem:
    url: str
    source_key: str
    fetched_at: datetime  # timezone-aware UTC
    final_url: str | None = None  # after redirects
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)  # content-type, last-modified, etag ...
    # Raw bytes and decoded page stay out of repr(): Scrapy's debug log prints each scraped item.
    body: bytes | None = field(default=None, repr=False)  # raw bytes as fetched (the snapshot)
    encoding: str | None = None  # the encoding the crawler decoded with, if it decoded
    html: str | None = field(default=None, repr=False)  # decoded page, when the crawler decoded it
    # Fields the spider already extracted (feeds, JSON APIs, imports); empty when unknown.
    title: str | None = None
    text: str | None = None
    published: str | None = None  # as found on the page/feed; the pipeline parses it
    author: str | None = None
    lang: str | None = None  # the source's declared language
    outlet_key: str | None = None
    timezone: str | None = None  # the source's time zone, for dates without one
    metrics: dict[str, Any] = field(default_factory=dict)  # reposts / comments / likes
    extra: dict[str, Any] = field(default_factory=dict)
