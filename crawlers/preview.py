""""Fetch now": what a source declaration would give from one page, before it is saved.

The admin page (``/admin/sources``) asks :func:`preview_source` with a declaration that has only
been validated: one list page (or feed, or sitemap) is fetched to find an article link, then the
article page itself, and the page goes through the same selectors the spiders apply
(:func:`fill_selected`) and the same extraction the pipeline runs (:func:`pipeline.ingest.prepare`).
Nothing is stored. The fetch is one plain GET per page with the crawler's User-Agent, timeout and
byte cap, and robots.txt is obeyed as the crawl would (a source may switch it off).
"""

from __future__ import annotations

import urllib.error
import urllib.request
import urllib.robotparser
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import urljoin, urlsplit

from crawlers.encoding import decode_body
from crawlers.registry import HtmlSelectors, SourceDecl, _is_xpath
from presswatch.items import RawItem

if TYPE_CHECKING:
    from parsel import Selector

    from settings import Settings

TEXT_START_CHARS = 300


class PreviewError(Exception):
    """The page could not be fetched or no article link was found (the message says which and where)."""


@dataclass
class Fetched:
    url: str
    final_url: str
    status: int
    content_type: str | None
    body: bytes


@dataclass
class PagePreview:
    """What the pipeline would store from one page (or why it would drop it)."""

    url: str
    list_url: str | None
    links_found: int
    title: str = ""
    published_at: datetime | None = None
    published_raw: str | None = None
    text_start: str = ""
    text_chars: int = 0
    byline: str | None = None
    language: str = ""
    encoding: str | None = None
    flags: list[str] = field(default_factory=list)
    dropped: str | None = None  # the pipeline's reason for not storing it


def select_all(sel: Selector, expr: str) -> list[str]:
    """Strings a declared selector yields; element matches give their href or their text."""
    found = sel.xpath(expr.removeprefix("xpath:")) if _is_xpath(expr) else sel.css(expr)
    out = []
    for match in found:
        root = match.root
        if isinstance(root, str):
            out.append(root)
        elif hasattr(root, "get") and root.get("href") is not None:
            out.append(root.get("href"))
        elif hasattr(root, "itertext"):  # an element: its text (lxml directly: this runs per paragraph)
            out.append(" ".join(t.strip() for t in root.itertext() if t.strip()))
    return [s.strip() for s in out if s and s.strip()]


def fill_selected(item: RawItem, text: str, sels: HtmlSelectors | None) -> None:
    """Fill the item's title, text, date and author from the declared article selectors (the spiders
    and "fetch now" alike); fields already set (from a feed entry) are kept."""
    if sels is None:
        return
    from parsel import Selector

    sel = Selector(text=text)
    if sels.title and not item.title:
        item.title = " ".join(select_all(sel, sels.title)) or None
    if sels.body and not item.text:
        item.text = "\n".join(select_all(sel, sels.body)) or None
    if sels.published and not item.published:
        item.published = next(iter(select_all(sel, sels.published)), None)
    if sels.author and not item.author:
        item.author = next(iter(select_all(sel, sels.author)), None)


def _robots_allow(url: str, settings: Settings) -> bool:
    parts = urlsplit(url)
    robots_url = f"{parts.scheme}://{parts.netloc}/robots.txt"
    try:
        got = _get(robots_url, settings)
    except PreviewError:
        return True  # unreachable robots.txt: allowed, as Scrapy's middleware treats it
    if got.status >= 400:
        return True
    parser = urllib.robotparser.RobotFileParser()
    parser.parse(got.body.decode("utf-8", "replace").splitlines())
    return parser.can_fetch(settings.crawl.user_agent, url)


def _get(url: str, settings: Settings) -> Fetched:
    cfg = settings.crawl
    request = urllib.request.Request(url, headers={"User-Agent": cfg.user_agent, "Accept": "*/*"})
    try:
        with urllib.request.urlopen(request, timeout=cfg.fetch_timeout_seconds) as response:
            body = response.read(cfg.max_body_bytes + 1)
            if len(body) > cfg.max_body_bytes:
                raise PreviewError(f"{url}: larger than crawl.max_body_bytes ({cfg.max_body_bytes} bytes)")
            return Fetched(url, response.geturl(), response.status, response.headers.get("Content-Type"), body)
    except urllib.error.HTTPError as exc:
        return Fetched(url, exc.geturl() or url, exc.code, exc.headers.get("Content-Type") if exc.headers else None,
                       exc.read(65536) if exc.fp else b"")
    except (urllib.error.URLError, TimeoutError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        raise PreviewError(f"{url}: cannot fetch: {reason}") from None


def fetch(url: str, decl: SourceDecl, settings: Settings) -> Fetched:
    """One GET as the crawler would make it (robots.txt, User-Agent, timeout, byte cap)."""
    if urlsplit(url).scheme not in ("http", "https"):
        raise PreviewError(f"not an http(s) URL: {url!r}")
    obey = settings.crawl.obey_robots_txt if decl.obey_robots_txt is None else decl.obey_robots_txt
    if obey and not _robots_allow(url, settings):
        raise PreviewError(f"{url}: robots.txt forbids it (set obey_robots_txt: false only with the site's consent)")
    got = _get(url, settings)
    if got.status >= 400:
        raise PreviewError(f"{url}: HTTP {got.status}")
    return got


def _wanted(url: str, decl: SourceDecl) -> bool:
    import re

    return urlsplit(url).scheme in ("http", "https") and (
        decl.link_pattern is None or re.search(decl.link_pattern, url) is not None)


def _first_link(decl: SourceDecl, settings: Settings) -> tuple[str, str, int, dict[str, Any]]:
    """(article URL, the page it was found on, links found there, fields the listing already gave)."""
    if not decl.start_urls:
        raise PreviewError("no start URL: give a page URL to try")
    list_url = decl.start_urls[0]
    got = fetch(list_url, decl, settings)
    if decl.kind == "html":
        from parsel import Selector

        assert decl.selectors is not None
        decoded = decode_body(got.body, got.content_type, decl.encoding)
        links = [urljoin(got.final_url, h) for h in select_all(Selector(text=decoded.text), decl.selectors.links)]
        links = [u for u in links if _wanted(u, decl)]
        if not links:
            raise PreviewError(f"{list_url}: no article links found with selector {decl.selectors.links!r}"
                               + (f" and link_pattern {decl.link_pattern!r}" if decl.link_pattern else ""))
        return links[0], list_url, len(links), {}
    if decl.kind == "feed":
        import feedparser

        from crawlers.encoding import to_utf8_xml

        utf8, _ = to_utf8_xml(got.body, got.content_type, decl.encoding)
        parsed = feedparser.parse(utf8, response_headers={"content-type": "application/xml; charset=utf-8",
                                                          "content-location": got.final_url},
                                  sanitize_html=False, resolve_relative_uris=False)
        entries = [e for e in parsed.get("entries") or [] if e.get("link")]
        if not entries:
            raise PreviewError(f"{list_url}: the feed has no entries with a link")
        entry = entries[0]
        full = "\n".join(c.get("value", "") for c in entry.get("content") or [])
        prefill = {"title": entry.get("title") or None, "published": entry.get("published") or entry.get("updated"),
                   "author": entry.get("author"), "text": full or None, "summary": entry.get("summary", "")}
        return urljoin(got.final_url, entry["link"]), list_url, len(entries), prefill
    if decl.kind == "sitemap":
        from lxml import etree

        body = got.body
        if body[:2] == b"\x1f\x8b":  # a gzipped sitemap served without Content-Encoding
            import gzip
            import zlib

            try:
                body = zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(body, settings.crawl.max_body_bytes)
            except (zlib.error, gzip.BadGzipFile) as exc:
                raise PreviewError(f"{list_url}: cannot gunzip: {exc}") from None
        if b"<!ENTITY" in body[:65536].upper():
            raise PreviewError(f"{list_url}: declares XML entities (possible entity-expansion bomb); refused")
        parser = etree.XMLParser(resolve_entities=False, no_network=True, recover=True, huge_tree=False)
        root = etree.fromstring(body, parser=parser) if body.strip() else None
        locs = [str(x).strip() for x in root.xpath("//*[local-name()='loc']/text()")] if root is not None else []
        pages = [u for u in locs if not u.endswith((".xml", ".xml.gz")) and _wanted(u, decl)]
        if not pages and locs:  # a sitemap index: its first sitemap
            child = SourceDecl.model_validate({**decl.config(), "start_urls": [locs[0]]})
            return _first_link(child, settings)
        if not pages:
            raise PreviewError(f"{list_url}: the sitemap lists no pages")
        return pages[0], list_url, len(pages), {}
    raise PreviewError(f"kind {decl.kind}: give a page URL to try")


def preview_source(decl: SourceDecl, settings: Settings, *, page_url: str | None = None,
                   now: datetime | None = None) -> PagePreview:
    """Fetch one article page of ``decl`` (``page_url``, or the first link its listing gives) and
    extract it as the pipeline would. Raises :class:`PreviewError` when nothing could be fetched."""
    from pipeline.ingest import Dropped, SourceInfo, prepare

    list_url: str | None = None
    links = 0
    prefill: dict[str, Any] = {}
    if page_url:
        url = page_url.strip()
    else:
        url, list_url, links, prefill = _first_link(decl, settings)
    fetched_at = now or datetime.now(UTC)
    item = RawItem(url=url, source_key=decl.key, fetched_at=fetched_at, lang=decl.language, timezone=decl.timezone,
                   title=prefill.get("title"), text=prefill.get("text"), published=prefill.get("published"),
                   author=prefill.get("author"))
    if decl.kind == "feed" and not decl.fetch_articles:
        item.text = item.text or prefill.get("summary") or None
    else:
        got = fetch(url, decl, settings)
        decoded = decode_body(got.body, got.content_type, decl.encoding)
        item.final_url, item.status, item.body = got.final_url, got.status, got.body
        item.encoding, item.html = decoded.encoding, decoded.text
        item.headers = {"content-type": got.content_type} if got.content_type else {}
        fill_selected(item, decoded.text, decl.selectors)
    out = PagePreview(url=url, list_url=list_url, links_found=links, encoding=item.encoding)
    info = SourceInfo(None, None, decl.timezone, decl.language, decl.config())
    try:
        prepared = prepare(item, settings, info=info, now=fetched_at)
    except Dropped as exc:
        out.dropped = exc.reason
        return out
    out.title = prepared.title
    out.published_at = None if prepared.published_at_missing else prepared.published_at
    out.published_raw = (prepared.extra or {}).get("published_raw")
    out.text_start = prepared.text[:TEXT_START_CHARS]
    out.text_chars = len(prepared.text)
    out.byline = prepared.byline
    out.language = prepared.lang
    out.flags = [f for f in prepared.flags if not f.startswith("note:")]
    return out
