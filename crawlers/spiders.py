"""One generic spider per source kind; everything site-specific comes from the declaration.

Spiders fetch and extract into :class:`presswatch.items.RawItem` and record what went wrong on
the run's :class:`crawlers.plan.Outcome`; they never touch the database and never classify.
Every request carries an errback, so an HTTP error, a timeout, a robots.txt refusal or an
oversized body becomes one clear line on the source's health instead of a lost run, and the
good items of the same run still flow.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl, urlencode, urljoin, urlsplit, urlunsplit

import scrapy
from parsel import Selector
from scrapy.http import Response
from twisted.python.failure import Failure

from crawlers.encoding import Decoded, decode_body, nfc, to_utf8_xml
from crawlers.middleware import RetryBudgetSpent
from crawlers.plan import ALREADY_STORED, NOT_WANTED, OVER_CAP, CrawlPlan, Outcome
from crawlers.preview import fill_selected, select_all
from crawlers.registry import SourceDecl
from crawlers.urls import url_hashes
from presswatch.items import RawItem

KEPT_HEADERS = ("content-type", "content-language", "last-modified", "etag", "date", "content-encoding")
# An XML document declaring its own entities is refused before parsing: the classic
# billion-laughs bomb needs them, and no real feed or sitemap does.
_ENTITY_DECL = re.compile(rb"<!ENTITY", re.I)
NO_LINKS = "no article links found; page may need JavaScript"


def describe_failure(failure: Failure, timeout_seconds: float) -> str:
    """One line for a failed request: what happened and where."""
    from scrapy.exceptions import IgnoreRequest
    from scrapy.spidermiddlewares.httperror import HttpError
    from twisted.internet import defer, error

    exc = failure.value
    request = getattr(failure, "request", None)
    url = request.url if request is not None else "?"
    if isinstance(exc, HttpError):
        return f"HTTP {exc.response.status} at {exc.response.url}"
    if isinstance(exc, error.TimeoutError | error.TCPTimedOutError) or "took longer than" in str(exc) \
            or isinstance(exc, RetryBudgetSpent):
        return _timeout_line(request, timeout_seconds, url, spent=isinstance(exc, RetryBudgetSpent))
    text = str(exc)
    if "robots.txt" in text:
        return f"blocked by robots.txt: {url}"
    if "max size" in text or "DOWNLOAD_MAXSIZE" in text or "maxsize" in text:
        return f"body larger than the max_body_bytes limit at {url}"
    if isinstance(exc, IgnoreRequest | defer.CancelledError):
        return f"request dropped at {url}: {text or type(exc).__name__}"
    if isinstance(exc, error.ConnectionRefusedError | error.DNSLookupError | error.ConnectError):
        return f"connection failed at {url}: {type(exc).__name__}"
    return f"{type(exc).__name__} at {url}: {text[:200]}"


def _timeout_line(request: Any, timeout_seconds: float, url: str, *, spent: bool) -> str:
    """"timeout: 2 tries in 41 s (20 s per try, 45 s budget) at URL": what the URL really cost."""
    import time

    meta = request.meta if request is not None else {}
    # a retry the budget refused was never made
    tries = int(meta.get("retry_times", 0)) + (0 if spent else 1)
    first = meta.get("first_try_at")
    took = f" in {time.monotonic() - first:.0f} s" if isinstance(first, float) else ""
    budget = meta.get("fetch_budget")
    limits = f"{timeout_seconds:g} s per try" + (f", {budget:g} s budget" if budget else "")
    return f"timeout: {tries} {'try' if tries == 1 else 'tries'}{took} ({limits}) at {url}"


def kept_headers(response: Response) -> dict[str, str]:
    out = {}
    for name in KEPT_HEADERS:
        value = response.headers.get(name)
        if value:
            out[name] = value.decode("latin-1")
    return out


def dotted(doc: Any, path: str | None) -> Any:
    """``data.list.0.id`` style lookup; None when any step is missing."""
    if not path:
        return doc
    node = doc
    for part in path.split("."):
        if isinstance(node, dict):
            node = node.get(part)
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            return None
        if node is None:
            return None
    return node


API_TIME_FORMATS = ("%a %b %d %H:%M:%S %z %Y",)  # Weibo's created_at


def api_time(value: Any) -> str | None:
    """A post's time as ISO 8601 when it is a Unix timestamp or a known API format; else as found."""
    if value is None or value == "":
        return None
    if isinstance(value, int | float) or (isinstance(value, str) and value.isdigit()):
        seconds = float(value) / (1000 if float(value) > 1e11 else 1)  # milliseconds or seconds
        return datetime.fromtimestamp(seconds, UTC).isoformat()
    text = str(value).strip()
    for fmt in API_TIME_FORMATS:
        try:
            return datetime.strptime(text, fmt).isoformat()
        except ValueError:
            continue
    return text


class SourceSpider(scrapy.Spider):
    """Shared machinery: the plan, the outcome, requests with errbacks, raw items from responses."""

    kind: str
    name = "presswatch"

    def __init__(self, plan: CrawlPlan, outcome: Outcome, timeout_seconds: float = 20.0, **kwargs: Any) -> None:
        super().__init__(name=f"pw-{plan.source_key}", **kwargs)
        self.plan = plan
        self.decl = SourceDecl.model_validate(plan.decl)
        self.outcome = outcome
        self.timeout_seconds = timeout_seconds
        self.link_re = re.compile(self.decl.link_pattern) if self.decl.link_pattern else None
        self.article_requests = 0

    # -- helpers -------------------------------------------------------------------------------
    def req(self, url: str, callback: Any, *, start: bool = False, **meta: Any) -> scrapy.Request:
        meta.setdefault("dont_obey_robotstxt", not self.plan.obey_robots_txt)
        priority = int(meta.pop("priority", 0))
        # Start pages (feeds, list pages) are fetched on every run, even when a shared
        # (distributed) seen-URL filter remembers them from the last one.
        return scrapy.Request(url, callback=callback, errback=self.on_error, meta=meta, dont_filter=start,
                              priority=priority)

    def on_error(self, failure: Failure) -> Any:
        self.outcome.errors.append(describe_failure(failure, self.timeout_seconds))
        fallback = getattr(failure, "request", None)
        entry_item = fallback.meta.get("entry_item") if fallback is not None else None
        if entry_item is not None:
            # The feed entry already had a summary: keep it even though its page failed.
            if not entry_item.text:
                entry_item.text = entry_item.extra.get("summary")
            entry_item.extra["page_error"] = self.outcome.errors[-1]
            yield entry_item

    def seen(self, url: str) -> bool:
        return not self.decl.pages_change and bool(url_hashes(url, self.decl.host_map) & self.plan.known_hashes)

    def wanted(self, url: str) -> bool:
        return urlsplit(url).scheme in ("http", "https") and (self.link_re is None or bool(self.link_re.search(url)))

    def decode(self, response: Response) -> Decoded:
        ctype = response.headers.get("Content-Type")
        return decode_body(response.body, ctype.decode("latin-1") if ctype else None, self.decl.encoding)

    def item(self, url: str, **fields: Any) -> RawItem:
        return RawItem(
            url=url, source_key=self.plan.source_key, fetched_at=datetime.now(UTC), lang=self.decl.language,
            outlet_key=self.plan.outlet_key, timezone=self.decl.timezone, **fields,
        )

    def page_item(self, response: Response, base: RawItem | None = None) -> RawItem:
        """A raw item for a fetched article page (fields the declaration selects filled in)."""
        self.outcome.pages_fetched += 1
        decoded = self.decode(response)
        redirects = response.meta.get("redirect_urls") or []
        original = redirects[0] if redirects else response.url
        item = base or self.item(original)
        item.final_url = response.url
        item.status = response.status
        item.headers = kept_headers(response)
        item.body = response.body
        item.encoding = decoded.encoding
        item.html = decoded.text
        fill_selected(item, decoded.text, self.decl.selectors)
        for name, value in (response.meta.get("prefill") or {}).items():
            if value and not getattr(item, name):
                setattr(item, name, value)
        item.extra["decoded_by"] = decoded.how
        return item

    def follow_article(self, url: str, *, entry_item: RawItem | None = None, priority: int = 0,
                       prefill: dict[str, str] | None = None) -> scrapy.Request:
        self.article_requests += 1
        return self.req(url, self.parse_article, entry_item=entry_item, priority=priority, prefill=prefill)

    def under_cap(self) -> bool:
        return self.decl.max_items is None or self.article_requests < self.decl.max_items

    def parse_article(self, response: Response) -> Iterator[RawItem]:
        yield self.page_item(response, response.meta.get("entry_item"))

    def xml_body(self, response: Response, what: str) -> bytes | None:
        """The document as UTF-8 XML, or None (with the reason recorded) when it must not be parsed."""
        body = response.body
        if body[:2] == b"\x1f\x8b":  # a gzipped sitemap served without Content-Encoding
            from scrapy.utils.gz import gunzip

            try:
                body = gunzip(body, max_size=int(self.settings.getint("DOWNLOAD_MAXSIZE")))
            except Exception as exc:
                self.outcome.errors.append(f"{what} malformed: cannot gunzip {response.url}: {exc}")
                return None
        if _ENTITY_DECL.search(body[:65536]):
            self.outcome.errors.append(
                f"{what} malformed: {response.url} declares XML entities (possible entity-expansion bomb); refused")
            return None
        ctype = response.headers.get("Content-Type")
        utf8, _ = to_utf8_xml(body, ctype.decode("latin-1") if ctype else None, self.decl.encoding)
        return utf8


NO_LINK_NO_TEXT = "entry has no link, no permalink guid and no text"


def entry_link(entry: Any, feed_url: str) -> str:
    """An entry's article address: its <link>, else a guid that is a web address (RSS
    isPermaLink, Atom ids that are URLs). "tag:" ids and bare numbers are no address."""
    link = str(entry.get("link") or "").strip()
    if link:
        return urljoin(feed_url, link)
    guid = str(entry.get("id") or "").strip()
    if re.match(r"https?://", guid, re.I):
        return guid
    return ""


def _entry_key(guid: str, title: str, text: str) -> str:
    import hashlib

    return hashlib.sha1((guid or f"{title}\n{text}").encode("utf-8")).hexdigest()[:16]


class FeedSpider(SourceSpider):
    """RSS 0.9x/1.0/2.0 and Atom through feedparser, on bytes we fetched; conditional GET."""

    kind = "feed"

    async def start(self) -> Any:
        for url in self.decl.start_urls:
            headers = {}
            if self.plan.etag:
                headers["If-None-Match"] = self.plan.etag
            if self.plan.last_modified:
                headers["If-Modified-Since"] = self.plan.last_modified
            request = self.req(url, self.parse_feed, start=True, handle_httpstatus_list=[304])
            request.headers.update(headers)
            yield request

    def parse_feed(self, response: Response) -> Iterator[Any]:
        import feedparser

        self.outcome.pages_fetched += 1
        if response.status == 304:
            self.outcome.not_modified = True
            return
        self.outcome.etag = (response.headers.get("ETag") or b"").decode("latin-1") or None
        self.outcome.last_modified = (response.headers.get("Last-Modified") or b"").decode("latin-1") or None
        body = self.xml_body(response, "feed")
        if body is None:
            return
        parsed = feedparser.parse(
            body, response_headers={"content-type": "application/xml; charset=utf-8", "content-location": response.url},
            sanitize_html=False, resolve_relative_uris=False,
        )
        entries = parsed.get("entries") or []
        if parsed.get("bozo"):
            exc = parsed.get("bozo_exception")
            self.outcome.errors.append(f"feed malformed at {response.url}: {type(exc).__name__}: {exc}"[:300])
        if not entries and not parsed.get("bozo"):
            self.outcome.empty_reason = "feed has no entries"
        self.outcome.items_found += len(entries)
        for entry in entries:
            # Full text only when the feed carries it (content:encoded, Atom content); a summary
            # is kept aside so the pipeline extracts the article page instead of storing a teaser.
            full = nfc("\n".join(c.get("value", "") for c in entry.get("content") or []))
            summary = nfc(entry.get("summary", ""))
            title = nfc(entry.get("title", ""))
            guid = str(entry.get("id") or "").strip()
            link = entry_link(entry, response.url)
            if not link:
                if not (full or summary):
                    self.outcome.skip(NO_LINK_NO_TEXT)
                    continue
                # No page to fetch: the entry's own text is the article, under an address made
                # from its guid (or its text) so that the next run recognises it.
                link = f"{response.url}#entry-{_entry_key(guid, title, full or summary)}"
            if self.seen(link):
                self.outcome.skip(ALREADY_STORED)
                continue
            item = self.item(
                link, title=title or None, text=full or None,
                published=entry.get("published") or entry.get("updated"), author=entry.get("author"),
                extra={"feed_url": response.url, "entry_id": guid or None, "summary": summary},
            )
            has_page = "#entry-" not in link
            if not has_page:
                item.extra["no_link"] = True
            if not (self.decl.fetch_articles and has_page) and not item.text:
                item.text = summary or None
            if not (self.decl.fetch_articles and has_page):
                yield item
            elif not self.wanted(link):
                self.outcome.skip(NOT_WANTED)
            elif not self.under_cap():
                self.outcome.skip(OVER_CAP)
            else:
                yield self.follow_article(link, entry_item=item)


_BINARY_TYPES = re.compile(r"^(?:image|audio|video|font)/|application/(?:pdf|zip|octet-stream|msword|vnd\.)", re.I)


def list_page_problem(response: Response) -> str | None:
    """Why a list page cannot hold links, when it plainly cannot: empty, or not text at all.
    (A page of HTML with no links is another matter: it may need JavaScript.)"""
    body = response.body
    if not body.strip():
        return "list page is empty (0 bytes of content)"
    ctype = (response.headers.get("Content-Type") or b"").decode("latin-1").split(";")[0].strip()
    if _BINARY_TYPES.match(ctype):
        return f"list page is not HTML but {ctype}"
    head = body[:4096]
    if b"\x00" in head and not _utf16_or_32(head):
        return f"list page is binary data ({ctype or 'no content type'})"
    return None


def _utf16_or_32(head: bytes) -> bool:
    from crawlers.encoding import sniff_wide_encoding

    return sniff_wide_encoding(head) is not None


class HtmlSpider(SourceSpider):
    """List pages -> article links (declared selectors, link pattern), pagination to a set depth."""

    kind = "html"

    async def start(self) -> Any:
        for url in self.decl.start_urls:
            yield self.req(url, self.parse_list, start=True, depth_in_list=0)

    def parse_list(self, response: Response) -> Iterator[Any]:
        assert self.decl.selectors is not None
        self.outcome.pages_fetched += 1
        depth = int(response.meta.get("depth_in_list", 0))
        unusable = list_page_problem(response)
        if unusable:
            if depth == 0:
                self.outcome.empty_reason = f"{unusable} ({response.url})"
            else:
                self.outcome.errors.append(f"{unusable} ({response.url})")
            return
        decoded = self.decode(response)
        sel = Selector(text=decoded.text)
        links = []
        for href in select_all(sel, self.decl.selectors.links):
            url = urljoin(response.url, href)
            if self.wanted(url) and url not in links:
                links.append(url)
        if not links and depth == 0:
            self.outcome.empty_reason = f"{NO_LINKS} ({response.url}, selector {self.decl.selectors.links!r})"
            return
        self.outcome.items_found += len(links)
        for url in links:
            if self.seen(url):
                self.outcome.skip(ALREADY_STORED)
            elif not self.under_cap():
                self.outcome.skip(OVER_CAP)
            else:
                yield self.follow_article(url)
        if self.decl.selectors.next_page and depth < self.plan.max_depth - 1:
            nxt = next(iter(select_all(sel, self.decl.selectors.next_page)), None)
            if nxt:
                yield self.req(urljoin(response.url, nxt), self.parse_list, start=True, depth_in_list=depth + 1)


class SitemapSpider(SourceSpider):
    """Sitemaps, news sitemaps and sitemap indexes; the newest URLs are fetched first."""

    kind = "sitemap"

    async def start(self) -> Any:
        for url in self.decl.start_urls:
            yield self.req(url, self.parse_sitemap, start=True)

    def parse_sitemap(self, response: Response) -> Iterator[Any]:
        from lxml import etree

        self.outcome.pages_fetched += 1
        body = self.xml_body(response, "sitemap")
        if body is None:
            return
        parser = etree.XMLParser(resolve_entities=False, no_network=True, recover=True, huge_tree=False)
        try:
            root = etree.fromstring(body, parser=parser)
        except etree.XMLSyntaxError as exc:
            root = None
            error = str(exc)
        else:
            error = "empty document"
        if root is None:
            self.outcome.errors.append(f"sitemap malformed at {response.url}: {error}")
            return

        def local(el: Any) -> str:
            return etree.QName(el).localname if isinstance(el.tag, str) else ""

        entries: list[tuple[str, str]] = []  # (date, url)
        titles: dict[str, str] = {}
        for node in root:
            if local(node) not in ("url", "sitemap"):
                continue
            loc, date, title = "", "", ""
            for child in node.iter():
                name = local(child)
                if name == "loc" and child.text:
                    loc = child.text.strip()
                elif name == "title" and child.text:
                    title = nfc(child.text.strip())
                elif (name == "publication_date" and child.text) or (name == "lastmod" and child.text and not date):
                    date = child.text.strip()
            if loc:
                entries.append((date, urljoin(response.url, loc)))
                titles[entries[-1][1]] = title
        entries.sort(key=lambda e: e[0], reverse=True)  # ISO 8601 dates sort as text; undated last
        if local(root) == "sitemapindex":
            for rank, (_, url) in enumerate(entries):
                yield self.req(url, self.parse_sitemap, start=True, priority=len(entries) - rank)
            return
        urls = [url for _, url in entries if self.wanted(url)]
        self.outcome.items_found += len(urls)
        if not urls and not entries:
            self.outcome.empty_reason = "sitemap lists no URLs"
        dates = {url: date for date, url in entries}
        if len(entries) > len(urls):
            self.outcome.skip(NOT_WANTED, len(entries) - len(urls))
        for rank, url in enumerate(urls):
            if self.seen(url):
                self.outcome.skip(ALREADY_STORED)
            elif not self.under_cap():
                self.outcome.skip(OVER_CAP)
            else:
                prefill = {"title": titles.get(url, ""), "published": dates.get(url, "")}
                yield self.follow_article(url, priority=len(urls) - rank, prefill=prefill)


class JsonApiSpider(SourceSpider):
    """A JSON endpoint of posts with a declared field mapping; paged through a query parameter."""

    kind = "json_api"

    async def start(self) -> Any:
        for url in self.decl.start_urls:
            yield self.req(url, self.parse_api, start=True, api_page=1)

    def parse_api(self, response: Response) -> Iterator[Any]:
        fields = self.decl.fields
        assert fields is not None
        self.outcome.pages_fetched += 1
        try:
            doc = json.loads(self.decode(response).text)
        except ValueError as exc:
            self.outcome.errors.append(f"JSON API malformed at {response.url}: {exc}")
            return
        posts = dotted(doc, fields.items)
        if not isinstance(posts, list):
            self.outcome.errors.append(f"JSON API at {response.url}: no list at {fields.items or '(root)'}")
            return
        page = int(response.meta.get("api_page", 1))
        if not posts and page == 1:
            self.outcome.empty_reason = "API returned no posts"
        self.outcome.items_found += len(posts)
        for post in posts:
            if not isinstance(post, dict):
                self.outcome.skip("API post is not an object")
                continue
            pid = dotted(post, fields.id)
            url = dotted(post, fields.url) if fields.url else None
            if not url and fields.url_template:
                try:
                    url = fields.url_template.format(**{k: v for k, v in post.items() if not isinstance(v, dict)})
                except (KeyError, IndexError):
                    url = None
            url = urljoin(response.url, str(url)) if url else f"{response.url.split('?')[0]}#{pid}"
            if self.seen(url):
                self.outcome.skip(ALREADY_STORED)
                continue
            metrics = {name: dotted(post, path) for name, path in
                       (("reposts", fields.reposts), ("comments", fields.comments), ("likes", fields.likes)) if path}
            text = dotted(post, fields.text)

            yield self.item(
                url, status=response.status, title=nfc(str(dotted(post, fields.title))) if fields.title else None,
                text=nfc(str(text)) if text is not None else None,
                published=api_time(dotted(post, fields.time)) if fields.time else None,
                author=str(dotted(post, fields.author)) if fields.author and dotted(post, fields.author) else None,
                metrics={k: v for k, v in metrics.items() if v is not None},
                body=json.dumps(post, ensure_ascii=False).encode("utf-8"), encoding="utf-8",
                headers=kept_headers(response), final_url=url,
                extra={"post_id": pid, "api_url": response.url,
                       "published_raw": dotted(post, fields.time) if fields.time else None},
            )
        if fields.next_page_param and posts and page < self.plan.max_depth:
            parts = urlsplit(response.url)
            query = dict(parse_qsl(parts.query))
            query[fields.next_page_param] = str(page + 1)
            nxt = urlunsplit(parts._replace(query=urlencode(query)))
            yield self.req(nxt, self.parse_api, start=True, api_page=page + 1)


class UrlListSpider(SourceSpider):
    """Fetch a given list of article URLs (imports of links staff saw elsewhere)."""

    kind = "import"

    async def start(self) -> Any:
        urls = list(self.plan.urls) or list(self.decl.start_urls)
        self.outcome.items_found += len(urls)
        if not urls:
            self.outcome.empty_reason = "nothing to import"
        for url in urls:
            if self.seen(url):
                self.outcome.skip(ALREADY_STORED)
            else:
                yield self.follow_article(url)


SPIDERS: dict[str, type[SourceSpider]] = {
    cls.kind: cls for cls in (FeedSpider, HtmlSpider, SitemapSpider, JsonApiSpider, UrlListSpider)
}
