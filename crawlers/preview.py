""""Fetch now": what a source declaration would give from one page, before it is saved.

The admin page (``/admin/sources``) asks :func:`preview_source` with a declaration that has only
been validated. The page is fetched by the crawl itself: the source's spider
(:mod:`crawlers.spiders`, in a child process through :func:`crawlers.engine.run_plans_isolated`,
with the crawl's settings: robots.txt, User-Agent, timeout, byte cap, charset detection) runs on
a plan capped at one article (list page -> first link -> article page; or, given a page URL, that
page alone), and the first item it hands on goes through the pipeline's extraction
(:func:`pipeline.ingest.prepare`): title, date, text start, byline, or why it would be dropped.
Nothing is stored. :func:`fill_selected` / :func:`select_all` are the spiders' own selector code
(they import it from here, so this module needs no Scrapy).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from crawlers.registry import HtmlSelectors, SourceDecl, _is_xpath
from presswatch.items import RawItem

if TYPE_CHECKING:
    from parsel import Selector

    from settings import Settings

TEXT_START_CHARS = 300


class PreviewError(Exception):
    """The crawl handed on no page (the message is the crawl's own reason: HTTP status, robots.txt,
    no links with the selector, timeout...)."""


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


def preview_source(decl: SourceDecl, settings: Settings, *, page_url: str | None = None,
                   now: datetime | None = None) -> PagePreview:
    """Crawl one article page of ``decl`` (``page_url``, or the first its listing gives) and extract
    it as the pipeline would. Raises :class:`PreviewError` when the crawl handed on nothing."""
    from crawlers.engine import run_plans_isolated
    from crawlers.plan import CrawlPlan
    from pipeline.ingest import Dropped, SourceInfo, prepare

    config = {**decl.config(), "max_items": 1}
    obey = settings.crawl.obey_robots_txt if decl.obey_robots_txt is None else decl.obey_robots_txt
    if page_url:
        page_url = page_url.strip()
        if urlsplit(page_url).scheme not in ("http", "https"):
            raise PreviewError(f"not an http(s) URL: {page_url!r}")
        # The page alone, through the spider that fetches given URLs, with this source's selectors.
        config = {**config, "kind": "import", "start_urls": []}
        config.pop("path", None)
        plan = CrawlPlan(source_key=decl.key, decl=config, obey_robots_txt=obey, max_depth=1, urls=[page_url])
    else:
        plan = CrawlPlan(source_key=decl.key, decl=config, obey_robots_txt=obey, max_depth=1)
    items: list[RawItem] = []
    budget = settings.crawl.fetch_timeout_seconds * 4 + 30  # list page, robots.txt, article, start-up
    outcome = run_plans_isolated([plan], settings.crawl, items.append, timeout_seconds=budget)[decl.key]
    if not items:
        reason = "; ".join(outcome.errors[:3]) or outcome.empty_reason or outcome.skipped_summary() or \
            "the crawl found nothing to fetch"
        raise PreviewError(reason)
    item = items[0]
    list_url = None if page_url or not decl.start_urls else decl.start_urls[0]
    out = PagePreview(url=item.final_url or item.url, list_url=list_url, links_found=outcome.items_found,
                      encoding=item.encoding)
    info = SourceInfo(None, None, decl.timezone, decl.language, decl.config())
    fetched_at = now or item.fetched_at
    try:
        prepared = prepare(item, settings, info=info, now=max(fetched_at, item.fetched_at))
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
