"""The pipeline's entry point: raw item -> extract -> normalize -> dedupe -> store, idempotently.

``process_item`` handles one item inside the caller's session and returns what happened
(``stored`` / ``updated`` / ``duplicate`` / ``dropped`` with a reason); it never commits.
``ingest_items`` runs items in short transactions, publishes ``ArticleStored`` after the commit,
and counts every outcome: an item is never lost silently (a bug on one item is logged, counted as
an error and the run goes on).

Idempotency, layer by layer (the database decides last):
0. an item whose URL is stored from exactly the same input (``input_digest``: the raw page or
   record, the fields the crawler filled, the source's extraction settings, the pipeline's version)
   is a duplicate before any extraction: re-importing an archive or re-crawling unchanged pages
   costs a hash and one query per batch, not the extraction.
1. canonical URL -> ``Article.url_hash`` (unique). Same URL and same content: duplicate. Same URL,
   new content (a corrected article): the row is updated in place.
2. content hash (``Article.content_hash``): the same text already stored from the same outlet at
   another URL (print view, mobile page) is a duplicate; from another outlet it is a repost and is
   stored, joined to the story.
3. MinHash/LSH near-duplicate: a lightly edited, re-headed or truncated repost joins the story.
4. The insert itself is ``INSERT ... ON CONFLICT (url_hash) DO NOTHING RETURNING id``: if another
   worker stored the same URL a moment earlier, this one reports a duplicate instead of a second row.
"""

from __future__ import annotations

import functools
import json
import logging
import sys
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine, bindparam, func, select, update
from sqlalchemy.orm import Session

from models import Article, Outlet, Source, utcnow
from models.articles import SHORT_POST_MAX_CHARS
from pipeline import dates, dedupe, fingerprint, normalize, stories
from pipeline.decode import NotText, decode_body
from pipeline.extract import BadSelector, Extracted, byline_zone, extract_html, find_bylines, url_date
from pipeline.snapshots import store_snapshot
from pipeline.urls import BadUrl, canonical_url, host_of, url_hash
from presswatch.events import ArticleStored, EventBus
from presswatch.items import RawItem
from settings import Settings

log = logging.getLogger(__name__)

STORED, UPDATED, DUPLICATE, DROPPED = "stored", "updated", "duplicate", "dropped"
# An article needs this many letters of text or title to be worth keeping; below it the page was
# a navigation page, an error page or an empty shell.
MIN_CONTENT_LETTERS = 8
# HTML beyond this is cut before parsing (10 MB of markup would cost seconds in lxml/trafilatura for
# no article prose; real article pages are < 500 KB). The article is flagged ``html_truncated``.
MAX_HTML_CHARS = 2_000_000
DEFAULT_TZ_BY_LANG = {"vi": "Asia/Ho_Chi_Minh", "zh": "Asia/Shanghai"}


class Dropped(Exception):
    """The item cannot become an article; ``reason`` says why (one short line)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass
class ProcessResult:
    outcome: str  # stored / updated / duplicate / dropped
    url: str
    reason: str = ""
    article_id: int | None = None
    story_id: int | None = None
    is_new_story: bool = False
    flags: list[str] = field(default_factory=list)

    @property
    def event(self) -> ArticleStored | None:
        if self.outcome in (STORED, UPDATED) and self.article_id is not None:
            return ArticleStored(article_id=self.article_id, story_id=self.story_id, is_new_story=self.is_new_story)
        return None


@dataclass
class IngestStats:
    seen: int = 0
    stored: int = 0
    updated: int = 0
    duplicate: int = 0
    dropped: int = 0
    errors: int = 0
    new_stories: int = 0
    reasons: Counter[str] = field(default_factory=Counter)
    problems: list[tuple[str, str]] = field(default_factory=list)  # (url, reason), the first 200
    elapsed_seconds: float = 0.0

    @property
    def duplicate_reasons(self) -> dict[str, int]:
        """The duplicates by reason (same_url, same_content): what a crawl run reports per source."""
        return {r: n for r, n in self.reasons.items() if r.startswith("same_")}

    def add(self, result: ProcessResult) -> None:
        self.seen += 1
        setattr(self, result.outcome, getattr(self, result.outcome) + 1)
        if result.is_new_story:
            self.new_stories += 1
        if result.outcome in (DROPPED, DUPLICATE) and result.reason:
            self.reasons[result.reason.split(":")[0]] += 1
            if result.outcome == DROPPED and len(self.problems) < 200:
                self.problems.append((result.url, result.reason))

    def add_error(self, url: str, message: str) -> None:
        self.seen += 1
        self.errors += 1
        self.reasons["error"] += 1
        if len(self.problems) < 200:
            self.problems.append((url, f"error: {message}"))

    def summary(self) -> str:
        return (f"{self.seen} items: {self.stored} stored, {self.updated} updated, {self.duplicate} duplicate, "
                f"{self.dropped} dropped, {self.errors} errors; {self.new_stories} new stories")


@dataclass
class SourceInfo:
    source_id: int | None
    outlet_id: int | None
    timezone: str | None
    language: str | None
    config: dict[str, Any]


class SourceLookup:
    """Source/outlet ids by key, cached for one ingest run (keys of the registry: source key = outlet key)."""

    def __init__(self) -> None:
        self._cache: dict[tuple[str, str | None], SourceInfo] = {}

    def get(self, session: Session, source_key: str, outlet_key: str | None) -> SourceInfo:
        key = (source_key, outlet_key)
        if key not in self._cache:
            src = session.execute(select(Source).where(Source.key == source_key)).scalar_one_or_none()
            outlet_id = src.outlet_id if src is not None else None
            if outlet_key or outlet_id is None:
                by_key = session.scalar(select(Outlet.id).where(Outlet.key == (outlet_key or source_key)))
                outlet_id = by_key or outlet_id
            self._cache[key] = SourceInfo(
                source_id=src.id if src is not None else None, outlet_id=outlet_id,
                timezone=src.timezone if src is not None else None,
                language=src.language if src is not None else None,
                config=dict(src.config or {}) if src is not None else {},
            )
        return self._cache[key]

    def get_all(self, factory: Any, items: list[RawItem]) -> list[SourceInfo]:
        """The info of each item's source; a session is opened only when a key is not cached yet."""
        if any((item.source_key, item.outlet_key) not in self._cache for item in items):
            with factory() as session:
                return [self.get(session, item.source_key, item.outlet_key) for item in items]
        return [self._cache[(item.source_key, item.outlet_key)] for item in items]


@dataclass
class Prepared:
    """Everything about one item that needs no database: the pure part of the pipeline."""

    url: str
    canonical_url: str
    url_hash: str
    title: str
    text: str
    match_text: str
    lang: str
    byline: str | None
    source_line: str | None
    published_at: datetime
    published_at_missing: bool
    fetched_at: datetime
    content_hash: str
    fingerprint: fingerprint.Fingerprint
    band_keys: list[int]
    flags: list[str]
    extra: dict[str, Any]
    metrics: dict[str, Any]
    snapshot: bytes
    snapshot_type: str | None
    snapshot_encoding: str | None


def _item_snapshot(item: RawItem) -> tuple[bytes, str | None, str | None]:
    if item.body:
        return item.body, item.headers.get("content-type") or item.headers.get("Content-Type"), item.encoding
    if item.html:
        return item.html.encode("utf-8"), "text/html; charset=utf-8", "utf-8"
    record = {"url": item.url, "title": item.title, "text": item.text, "published": item.published,
              "author": item.author, "metrics": item.metrics}
    packed = json.dumps(record, ensure_ascii=False, sort_keys=True, default=str).encode("utf-8")
    return packed, "application/json", "utf-8"


def _setting(item: RawItem, info: SourceInfo, key: str) -> Any:
    """A per-source extraction setting (``selectors``, ``host_map``): the item's own, else the registry's."""
    return item.extra.get(key) or info.config.get(key)


def _canonical(item: RawItem, info: SourceInfo) -> str:
    """The item's canonical URL (after redirects, with the source's mobile/desktop host map). Raises BadUrl."""
    host_map = _setting(item, info, "host_map")
    return canonical_url(item.final_url or item.url, host_map if isinstance(host_map, dict) else None)


# Bump when a change to extraction or normalization changes what the same input gives, so that
# re-importing runs the new code on pieces stored by the old one (the package and trafilatura
# versions are part of the digest too).
INPUT_DIGEST_VERSION = 2  # 2: density extraction, site rules, page-context dates (issue 19)


@functools.cache
def _code_versions() -> str:
    import hashlib
    from importlib.metadata import PackageNotFoundError, version

    from pipeline.siterules import RULES_FILE

    found = []
    for package in ("presswatch", "trafilatura"):
        try:
            found.append(f"{package}={version(package)}")
        except PackageNotFoundError:
            found.append(f"{package}=?")
    # the site rules are data: editing one changes what the same page gives
    found.append("site_rules=" + hashlib.sha256(RULES_FILE.read_bytes()).hexdigest()[:16])
    return f"{INPUT_DIGEST_VERSION};" + ";".join(found)


def input_digest(item: RawItem, settings: Settings, info: SourceInfo) -> str:
    """sha256 of everything :func:`prepare` reads, except the clock: the raw page or record, the
    fields the crawler filled, the source's selectors, host map, time zone and language, the
    pipeline settings that shape the text, and the code's versions. Two items with the same digest
    give the same stored text, so the second is a duplicate without being extracted again."""
    import hashlib

    snap, content_type, _enc = _item_snapshot(item)
    fields = {
        "code": _code_versions(), "page": hashlib.sha256(snap).hexdigest(), "status": item.status,
        "url": item.final_url or item.url, "encoding": item.encoding, "content_type": content_type,
        "title": item.title, "text": item.text,
        "published": item.published, "author": item.author, "lang": item.lang, "timezone": item.timezone,
        "selectors": _setting(item, info, "selectors"), "host_map": _setting(item, info, "host_map"),
        "source": [info.timezone, info.language],
        "settings": [settings.pipeline.max_text_chars, settings.pipeline.default_timezone],
    }
    packed = json.dumps(fields, ensure_ascii=False, sort_keys=True, default=str).encode("utf-8")
    return hashlib.sha256(packed).hexdigest()


def prepare(item: RawItem, settings: Settings, *, info: SourceInfo | None = None,
            now: datetime | None = None, digest: str | None = None) -> Prepared:
    """Extract and normalize one item. Raises :class:`Dropped` with the reason when it is not an article.
    ``digest``: its :func:`input_digest` when the caller has it already."""
    now = now or utcnow()
    info = info or SourceInfo(None, None, None, None, {})
    flags: list[str] = []
    extra: dict[str, Any] = {"source_key": item.source_key}
    if item.status >= 400:
        raise Dropped(f"http_status: {item.status}")
    try:
        canon = _canonical(item, info)
    except BadUrl as exc:
        raise Dropped(f"bad_url: {exc}") from None

    html = item.html
    if html is None and item.body:
        try:
            html, used = decode_body(item.body, declared=item.encoding,
                                     content_type=item.headers.get("content-type") or item.headers.get("Content-Type"))
            extra["encoding"] = used
        except NotText as exc:
            raise Dropped(f"binary: {exc}") from None
    if html is not None and len(html) > MAX_HTML_CHARS:
        html = html[:MAX_HTML_CHARS]
        flags.append("html_truncated")

    selectors = _setting(item, info, "selectors") or {}
    ex = Extracted()
    if html is not None and html.strip():
        if "\x00" in html[:8192]:
            raise Dropped("binary: NUL characters in the page")
        try:
            ex = extract_html(html, url=canon, selectors=selectors if isinstance(selectors, dict) else {})
        except BadSelector as exc:
            flags.append("bad_selector")
            extra["selector_error"] = str(exc)
            ex = extract_html(html, url=canon)
        flags.extend(f"note:{note}" for note in ex.notes)
    # Fields the crawler already extracted (feeds, JSON APIs, imports) win over page extraction.
    title = normalize.clean_title(item.title or "") or ex.title
    text = normalize.clean_text(item.text) if item.text else ex.text
    if item.text and not ex.byline:
        find_bylines(byline_zone(text), ex)
    if not text and item.html is None and item.body is None and not item.text and not title:
        raise Dropped("empty: no title, text or page")
    max_chars = settings.pipeline.max_text_chars
    if len(text) > max_chars:
        text = text[:max_chars]
        flags.append("text_truncated")
    letters = sum(map(str.isalnum, (title + text)[:2000]))
    if letters < MIN_CONTENT_LETTERS:
        raise Dropped("empty: no article text (empty or navigation-only page)" if html else "empty: no text")
    if not text:
        if html is not None:
            raise Dropped("no_text: no article text found (navigation-only page?)")
        flags.append("title_only")
        text = ""
    if not title:
        flags.append("title_missing")
        title = text.split("\n", 1)[0][:80]

    lang = normalize.detect_language(title + "\n" + text[:3000])
    declared = (item.lang or info.language or "").split("-")[0].lower() or None
    if lang == "und" and declared:
        lang = declared
    if normalize.has_traditional(title + text[:2000]):
        flags.append("traditional_script")
    body_match = normalize.match_form(text) if text else ""
    match_text = normalize.match_form(title) + "\n" + body_match

    tz = item.timezone or info.timezone or DEFAULT_TZ_BY_LANG.get(lang) or settings.pipeline.default_timezone
    fetched_at = item.fetched_at if item.fetched_at.tzinfo else item.fetched_at.replace(tzinfo=now.tzinfo)
    raw_date = item.published or ex.published_raw
    # Relative and year-less dates count from the page's own day (its URL's date), not the crawl's.
    published, date_flags = dates.page_date(raw_date, anchor=ex.date_anchor or url_date(canon), fetched_at=fetched_at,
                                            tz=tz, lang=lang, default_tz=settings.pipeline.default_timezone)
    flags.extend(date_flags)
    missing = False
    if raw_date:
        extra["published_raw"] = raw_date[:200]
    if published is None:
        missing = True
        flags.append("published_at_missing" if not raw_date else "published_at_unparsed")
        published = fetched_at
    elif published > max(now, fetched_at) + timedelta(minutes=settings.pipeline.future_tolerance_minutes):
        flags.append("future_published_at")
        missing = True
        published = fetched_at

    for key, values in (("correspondents", ex.correspondents), ("reporters", ex.reporters), ("authors", ex.authors)):
        if values:
            extra[key] = values
    if ex.source_org:
        extra["source_org"] = ex.source_org
    byline = ex.byline or (normalize.clean_title(item.author) if item.author else None)

    body_for_hash = body_match or normalize.match_form(title)
    fp = fingerprint.fingerprint(body_for_hash, lang)
    bands = fp.band_keys() if fp.size >= dedupe.MIN_SHINGLES_FOR_LSH else []
    snap, snap_type, snap_enc = _item_snapshot(item)
    return Prepared(
        url=item.url[:4000], canonical_url=canon, url_hash=url_hash(canon), title=title[:1000], text=text,
        match_text=match_text, lang=lang, byline=byline[:500] if byline else None,
        source_line=ex.source_line, published_at=published, published_at_missing=missing, fetched_at=fetched_at,
        content_hash=fingerprint.content_hash(body_for_hash), fingerprint=fp, band_keys=bands, flags=flags,
        extra=extra | {k: v for k, v in item.extra.items() if k not in ("selectors", "host_map")}
        | {"input_digest": digest or input_digest(item, settings, info)},
        metrics=dict(item.metrics), snapshot=snap, snapshot_type=snap_type, snapshot_encoding=snap_enc,
    )


SUSPECT_EXTRACTION = "suspect_extraction"


def suspect_same_text(stored_title: str | None, new_title: str) -> bool:
    """Whether the same text under two URLs of one outlet points at the extraction rather than at a
    print view or mobile copy: the copies of one article carry the same headline, two different
    articles do not (compared in the matching form, so width and script do not count)."""
    if not stored_title or not new_title:
        return False
    return normalize.match_form(stored_title).strip() != normalize.match_form(new_title).strip()


def process_item(session: Session, item: RawItem, settings: Settings, *, lookup: SourceLookup | None = None,
                 now: datetime | None = None) -> ProcessResult:
    """Run one item through the pipeline in ``session`` (never commits). Bad input returns ``dropped``."""
    lookup = lookup or SourceLookup()
    info = lookup.get(session, item.source_key, item.outlet_key)
    try:
        prepared = prepare(item, settings, info=info, now=now)
    except Dropped as exc:
        return ProcessResult(DROPPED, item.url, reason=exc.reason)
    return store_prepared(session, prepared, settings, info)


SAME_CONTENT_ROWS = 5  # stored articles with the same text read per item (the outlet test needs only a few)


def _by_contents_statement() -> Any:
    """The first ``SAME_CONTENT_ROWS`` articles (by id) of each of many content hashes, in one query."""
    ranked = select(
        Article.content_hash, Article.id, Article.story_id, Article.outlet_id, Article.url, Article.canonical_url,
        Article.title, func.row_number().over(partition_by=Article.content_hash, order_by=Article.id).label("rank"),
    ).where(Article.content_hash.in_(bindparam("cs", expanding=True))).subquery()
    return select(ranked.c.content_hash, ranked.c.id, ranked.c.story_id, ranked.c.outlet_id, ranked.c.url,
                  ranked.c.canonical_url, ranked.c.title).where(ranked.c.rank <= SAME_CONTENT_ROWS) \
        .order_by(ranked.c.id)


@dataclass
class BatchLookups:
    """The by-URL and by-content lookups of a whole batch, read in two queries at its start.

    Storing an item used to begin with two single-row queries; in a batch they are answered from
    here. An answer is used only while nothing in the batch could have changed it: a URL or content
    hash that an earlier item of the batch wrote is looked up again live, and after a merge of
    short posts (which moves articles between stories) every lookup goes live.
    """

    by_url: dict[str, Any] = field(default_factory=dict)
    by_content: dict[str, list[Any]] = field(default_factory=dict)
    written_urls: set[str] = field(default_factory=set)
    written_contents: set[str] = field(default_factory=set)
    stale: bool = False
    # PostgreSQL: the near-duplicate read of every item (``dedupe.batch_near_lookups``), by the
    # item's position; what the batch has stored since, to know when an answer may be out of date.
    position: dict[int, int] = field(default_factory=dict)  # id(Prepared) -> position
    near: dict[int, list[Any]] = field(default_factory=dict)
    posts: dict[int, list[dedupe.PostRow]] = field(default_factory=dict)
    written_bands: set[int] = field(default_factory=set)
    joined_stories: set[int] = field(default_factory=set)
    new_short_posts: list[tuple[str, datetime]] = field(default_factory=list)  # (lang, published_at)

    @classmethod
    def fetch(cls, session: Session, prepared: list[Prepared]) -> BatchLookups:
        out = cls()
        if not prepared:
            return out
        dialect = session.get_bind().dialect.name
        sql = _statements(dialect)
        conn = session.connection()
        for row in conn.execute(sql["by_urls"], {"hs": sorted({p.url_hash for p in prepared})}):
            out.by_url[row.url_hash] = row
        for row in conn.execute(sql["by_contents"], {"cs": sorted({p.content_hash for p in prepared})}):
            out.by_content.setdefault(row.content_hash, []).append(row)
        if dialect == "postgresql":  # on SQLite a read is a function call, not a round trip
            queries = []
            for n, p in enumerate(prepared):
                if p.fingerprint.size >= dedupe.MIN_SHINGLES_FOR_LSH and p.band_keys:
                    absorb = dedupe.AbsorbLookup(p.lang, p.published_at) if _absorbs(p) else None
                    queries.append((n, list(p.band_keys), absorb))
                    out.position[id(p)] = n
            out.near, out.posts = dedupe.batch_near_lookups(session, queries)
        return out

    def near_answer(self, p: Prepared) -> tuple[list[Any], list[dedupe.PostRow] | None] | None:
        """The near-duplicate candidates read for ``p`` at the batch's start (and the short posts
        it would absorb), or None when the database must be asked again: something stored since
        shares a band key with it (it would be among the newest rows of that key), a short post was
        stored in a story of its own, in its language and within its window (a new absorb
        candidate), a candidate post's story gained an article (it no longer holds one post), or
        an update or a merge changed stored rows (``stale``).

        Rows stored meanwhile by another worker are not in these answers, where a read per item
        would see those already committed; at worst such a repost starts a story of its own."""
        n = self.position.get(id(p))
        if n is None or self.stale or not self.written_bands.isdisjoint(p.band_keys):
            return None
        if not _absorbs(p):
            return self.near[n], None
        posts = self.posts.get(n)
        if posts is None or any(r.story_id in self.joined_stories for r in posts):
            return None
        window = dedupe.absorb_window(p.published_at)
        if any(lang == p.lang and window["lo"] <= at <= window["hi"] for lang, at in self.new_short_posts):
            return None
        return self.near[n], posts

    def stored(self, p: Prepared, story_id: int, joined: bool) -> None:
        """Record an article the batch stored (``joined``: into an existing story)."""
        self.written_urls.add(p.url_hash)
        self.written_contents.add(p.content_hash)
        self.written_bands.update(p.band_keys)
        if joined:
            self.joined_stories.add(story_id)
        elif len(p.text) <= SHORT_POST_MAX_CHARS:  # models.articles.SHORT_POST_SQL
            self.new_short_posts.append((p.lang, p.published_at))

    def url_row(self, url_hash: str) -> Any:
        """The stored row at this URL hash, None when there is none, ``_LIVE`` when unsure."""
        return _LIVE if self.stale or url_hash in self.written_urls else self.by_url.get(url_hash)

    def content_rows(self, content_hash: str) -> Any:
        """The first stored rows with this content hash, or ``_LIVE`` when unsure."""
        return _LIVE if self.stale or content_hash in self.written_contents else self.by_content.get(content_hash, [])


_LIVE: Any = object()  # "ask the database": the batch's answer may be out of date


@functools.cache
def _statements(dialect: str) -> dict[str, Any]:
    """Statements built once per dialect: SQLAlchemy then reuses their compiled form (building and
    compiling a 22-column INSERT per article cost more than running it)."""
    from pipeline.upsert import insert_for_dialect

    return {
        "by_url": select(Article.id, Article.content_hash, Article.story_id, Article.flags, Article.extra)
        .where(Article.url_hash == bindparam("h")),
        "by_content": select(Article.id, Article.story_id, Article.outlet_id, Article.url, Article.canonical_url,
                             Article.title)
        .where(Article.content_hash == bindparam("c")).order_by(Article.id).limit(SAME_CONTENT_ROWS),
        "by_urls": select(Article.url_hash, Article.id, Article.content_hash, Article.story_id, Article.flags,
                          Article.extra).where(Article.url_hash.in_(bindparam("hs", expanding=True))),
        "by_contents": _by_contents_statement(),
        "insert": insert_for_dialect(dialect, Article).on_conflict_do_nothing(index_elements=["url_hash"])
        .returning(Article.id),
        "set_story": update(Article).where(Article.id == bindparam("b_article")).values(story_id=bindparam("b_story"))
        .execution_options(synchronize_session=False),
    }


def store_prepared(session: Session, p: Prepared, settings: Settings, info: SourceInfo,
                   known: BatchLookups | None = None) -> ProcessResult:
    """Dedupe and store a prepared item (the database part of the pipeline). ``known``: the batch's
    lookups (``ingest_items``); without it, each lookup is a query."""
    sql = _statements(session.get_bind().dialect.name)
    conn = session.connection()
    existing: Any = known.url_row(p.url_hash) if known is not None else _LIVE
    if existing is _LIVE:
        existing = conn.execute(sql["by_url"], {"h": p.url_hash}).first()
    if existing is not None:
        if existing.content_hash == p.content_hash:
            _refresh_digest(session, existing, p)
            return ProcessResult(DUPLICATE, p.url, reason="same_url: already stored with the same content",
                                 article_id=existing.id, story_id=existing.story_id)
        if known is not None:
            known.written_urls.add(p.url_hash)
            known.written_contents.update((existing.content_hash, p.content_hash))
            known.stale = True  # its band keys change: near-duplicate answers read before may not hold
        return _update(session, existing, p, settings)

    flags = list(p.flags)
    story_id: int | None = None
    absorb: dedupe.AbsorbLookup | None = None
    choice: dedupe.StoryChoice | None = None
    same: Any = known.content_rows(p.content_hash) if known is not None else _LIVE
    if same is _LIVE:
        same = conn.execute(sql["by_content"], {"c": p.content_hash}).all()
    suspect = False
    for row in same:
        # Same outlet: by id when both are known, by host otherwise (imports of unregistered sources).
        if (row.outlet_id == info.outlet_id if row.outlet_id is not None and info.outlet_id is not None
                else host_of(row.canonical_url) == host_of(p.canonical_url)):
            if suspect_same_text(row.title, p.title):
                suspect = True
                p.extra["same_text_as"] = {"article_id": row.id, "url": row.url}
                continue
            reason = f"same_content: same text already stored from this outlet at {row.url}"
            return ProcessResult(DUPLICATE, p.url, reason=reason, article_id=row.id, story_id=row.story_id)
    if suspect:
        # Two different articles of one outlet gave the same text: the extraction (a comment thread,
        # a shared boilerplate block) is the likely culprit. Keep this one, on its own story, flagged.
        flags.append(SUSPECT_EXTRACTION)
        log.warning("same text as article %s under another headline at %s: extraction suspected",
                    p.extra["same_text_as"]["article_id"], p.url)
    elif same:
        story_id = same[0].story_id
        flags.append("exact_repost")
    else:
        if _absorbs(p):
            absorb = dedupe.AbsorbLookup(p.lang, p.published_at)
        answer = known.near_answer(p) if known is not None else None
        if answer is not None:  # read with the batch's other items, still valid
            band_rows = answer[0]
            if absorb is not None:
                absorb.rows = answer[1]
        else:
            band_rows = dedupe.near_candidates(session, p.fingerprint, p.band_keys, absorb=absorb)
        # The story join rule: verified against the candidate stories' representatives only.
        piece = dedupe.StoryPiece(p.match_text, p.lang, p.fingerprint)
        choice = dedupe.find_story(session, piece, band_rows)
        if choice.match is not None:
            match = choice.match
            story_id = match.story_id
            flags.append("headline_repost" if match.rule == "headline" else "near_repost")
            p.extra["near_duplicate_of"] = {"article_id": match.article_id, "jaccard": round(match.jaccard, 3),
                                            "containment": round(match.containment, 3)}

    if session.get_bind().dialect.name == "postgresql":
        result = _store_new_pg(session, p, settings, info, known, story_id, flags, absorb)
        return _after_store(session, p, result, choice, known)
    snapshot_id = store_snapshot(session, p.snapshot, settings=settings, content_type=p.snapshot_type,
                                 encoding=p.snapshot_encoding)
    now = utcnow()
    inserted = conn.execute(sql["insert"], {
        "source_id": info.source_id, "outlet_id": info.outlet_id, "story_id": story_id, "url": p.url,
        "canonical_url": p.canonical_url, "url_hash": p.url_hash, "title": p.title, "text": p.text,
        "match_text": p.match_text, "lang": p.lang, "byline": p.byline, "source_line": p.source_line,
        "published_at": p.published_at, "published_at_missing": p.published_at_missing, "fetched_at": p.fetched_at,
        "stored_at": now, "snapshot_id": snapshot_id, "content_hash": p.content_hash,
        "fingerprint": p.fingerprint.to_bytes(), "metrics": p.metrics, "flags": flags, "extra": p.extra,
    }).scalar_one_or_none()
    if known is not None:
        known.written_urls.add(p.url_hash)
        known.written_contents.add(p.content_hash)
    if inserted is None:
        return ProcessResult(DUPLICATE, p.url, reason="same_url: stored concurrently by another worker")
    article_id = int(inserted)
    if known is not None:
        known.stored(p, story_id or 0, joined=story_id is not None)
    dedupe.store_bands(session, article_id, p.band_keys)
    is_new = story_id is None
    if story_id is None:
        story_id = stories.create_story(session, article_id=article_id, title=p.title, lang=p.lang,
                                        outlet_id=info.outlet_id, seen_at=p.published_at)
        conn.execute(sql["set_story"], {"b_article": article_id, "b_story": story_id})
    else:
        stories.add_to_story(session, story_id, article_id=article_id, outlet_id=info.outlet_id,
                             seen_at=p.published_at, title=p.title)
    _absorb(session, p, story_id, known, absorb)
    result = ProcessResult(STORED, p.url, article_id=article_id, story_id=story_id, is_new_story=is_new, flags=flags)
    return _after_store(session, p, result, choice, known)


def _after_store(session: Session, p: Prepared, result: ProcessResult, choice: dedupe.StoryChoice | None,
                 known: BatchLookups | None) -> ProcessResult:
    """The story side of a stored piece: a new story's first piece is its representative (its keys
    are stored); a piece published before its story's first publisher becomes a representative
    too; stories the piece showed to be one are merged (recorded, reversible)."""
    if result.outcome != STORED or result.article_id is None or result.story_id is None:
        return result
    match = choice.match if choice is not None else None
    if result.is_new_story or (match is not None and p.published_at < match.first_seen_at):
        stories.add_story_keys(session, result.story_id, result.article_id,
                               dedupe.StoryPiece(p.match_text, p.lang, p.fingerprint))
    if choice is not None and choice.merge:
        # A story absorbed into this one meanwhile (``_absorb``) is gone: nothing left to merge.
        live = stories.live_stories(session, choice.merge)
        if live:
            stories.merge_stories(session, result.story_id, live, kind="auto_merge",
                                  reason=f"article #{result.article_id} verified against both")
            if known is not None:
                known.stale = True  # articles changed story: the batch's rows say otherwise
    return result


def _refresh_digest(session: Session, existing: Any, p: Prepared) -> None:
    """The same text from another input (new selectors, a new version of the code): keep this
    input's digest, so that importing it again skips extraction (layer 0)."""
    digest = p.extra.get("input_digest")
    if digest and (existing.extra or {}).get("input_digest") != digest:
        session.execute(update(Article).where(Article.id == existing.id)
                        .values(extra=dict(existing.extra or {}) | {"input_digest": digest})
                        .execution_options(synchronize_session=False))


def _absorbs(p: Prepared) -> bool:
    """A full article: it folds in the short posts (Weibo 转发) crawled before it that carry its
    headline (each repost has its own headline, so each gets the chance). A piece without a
    headline of its own (a social post: its "headline" is its opening) absorbs nothing: a court
    account's next post carries most of the previous one's opening."""
    return (p.fingerprint.size >= dedupe.CONTAINMENT_MIN_SHINGLES and "title_missing" not in p.flags
            and not p.text.startswith(p.title))  # a feed that fills "title" with the post's opening


def _absorb(session: Session, p: Prepared, story_id: int, known: BatchLookups | None,
            absorb: dedupe.AbsorbLookup | None) -> None:
    """Absorb the short posts that carry the article's headline; ``absorb``: the candidates when
    the near-duplicate lookup read them (nothing of this item's own writes can change them: its
    new story did not exist then, and its own story's row is dropped)."""
    if _absorbs(p):
        headline = p.match_text.split("\n", 1)[0]
        rows = absorb.rows if absorb is not None else None
        if dedupe.absorb_short_posts(session, story_id, headline, p.lang, p.published_at, rows):
            stories.recount_story(session, story_id)
            if known is not None:
                known.stale = True  # articles changed story: the batch's rows say otherwise


_ARTICLE_COLUMNS = (
    "source_id", "outlet_id", "url", "canonical_url", "url_hash", "title", "text", "match_text", "lang", "byline",
    "source_line", "published_at", "published_at_missing", "fetched_at", "stored_at", "content_hash",
    "fingerprint", "metrics", "flags", "extra",
)
_SNAPSHOT_COLUMNS = ("sha256", "content_type", "encoding", "size_bytes", "compression", "data", "path", "created_at")
_STORY_COLUMNS = ("title", "lang", "first_outlet_id", "first_seen_at", "last_seen_at", "article_count",
                  "outlet_count", "created_at", "updated_at")


@functools.cache
def _pg_store_statement(new_story: bool) -> Any:
    """PostgreSQL: the snapshot, the article, its band keys and its story (``new_story``: a new
    one, else the existing one's count, ``stories.add_to_story``) in one statement of
    data-modifying CTEs, where they were four to five round trips.

    Each part keeps its own semantics: the snapshot is ``ON CONFLICT (sha256) DO NOTHING`` (an
    existing one is read in the same statement), the article ``ON CONFLICT (url_hash) DO NOTHING``,
    and the bands and the story are inserted only from the article's RETURNING row, so an article
    stored concurrently by another worker leaves no bands and no story behind. The new story's id
    comes from its sequence before the article row is written, so the article carries it at once
    (the foreign key is checked at the end of the statement, when the story row exists)."""
    from sqlalchemy import BigInteger
    from sqlalchemy.dialects.postgresql import ARRAY
    from sqlalchemy.dialects.postgresql import insert as pg_insert

    from models import FingerprintBand, Snapshot, Story

    snap_t, art_t, story_t = Snapshot.__table__, Article.__table__, Story.__table__
    sha = bindparam("s_sha256", type_=snap_t.c.sha256.type)
    snap = (
        pg_insert(Snapshot)
        .values({snap_t.c[c]: sha if c == "sha256" else bindparam(f"s_{c}", type_=snap_t.c[c].type)
                 for c in _SNAPSHOT_COLUMNS})
        .on_conflict_do_nothing(index_elements=["sha256"])
        .returning(Snapshot.id)
        .cte("snap")
    )
    # A snapshot committed by another worker after this statement began is invisible to the
    # second subquery: snapshot_id comes back NULL and the caller sets it in a second statement.
    snapshot_id = func.coalesce(select(snap.c.id).scalar_subquery(),
                                select(Snapshot.id).where(Snapshot.sha256 == sha).scalar_subquery())
    story_id = (func.nextval(func.pg_get_serial_sequence("stories", "id")) if new_story
                else bindparam("a_story_id", type_=art_t.c.story_id.type))
    art = (
        pg_insert(Article)
        .values({art_t.c[c]: bindparam(f"a_{c}", type_=art_t.c[c].type) for c in _ARTICLE_COLUMNS}
                | {art_t.c.snapshot_id: snapshot_id, art_t.c.story_id: story_id})
        .on_conflict_do_nothing(index_elements=["url_hash"])
        .returning(Article.id, Article.story_id, Article.snapshot_id)
        .cte("art")
    )
    bands = (
        pg_insert(FingerprintBand)
        .from_select(["band_key", "article_id"],
                     select(func.unnest(bindparam("keys", type_=ARRAY(BigInteger()))), art.c.id))
        .on_conflict_do_nothing(index_elements=["band_key", "article_id"])
        .cte("bands")
    )
    ctes = [bands]
    if not new_story:  # count the article in its story (stories.add_to_story) from the RETURNING row
        ctes.append(stories._add_statement(select(art.c.story_id).scalar_subquery(),
                                           select(art.c.id).scalar_subquery()).cte("counted"))
    else:
        story = pg_insert(Story).from_select(
            ["id", "first_article_id", *_STORY_COLUMNS],
            select(art.c.story_id, art.c.id,
                   *[bindparam(f"st_{c}", type_=story_t.c[c].type) for c in _STORY_COLUMNS]),
        ).cte("story")
        ctes.append(story)
    return select(art.c.id, art.c.story_id, art.c.snapshot_id).add_cte(*ctes)


def _store_new_pg(session: Session, p: Prepared, settings: Settings, info: SourceInfo, known: BatchLookups | None,
                  story_id: int | None, flags: list[str], absorb: dedupe.AbsorbLookup | None) -> ProcessResult:
    """``store_prepared``'s writes on PostgreSQL: one round trip for snapshot, article, bands and
    its story (a new one, or the count of an existing one)."""
    from pipeline.snapshots import snapshot_id_by_sha, snapshot_row

    conn = session.connection()
    now = utcnow()
    snap = snapshot_row(p.snapshot, settings=settings, content_type=p.snapshot_type, encoding=p.snapshot_encoding)
    params: dict[str, Any] = {f"s_{c}": snap[c] for c in _SNAPSHOT_COLUMNS}
    params.update({
        "a_source_id": info.source_id, "a_outlet_id": info.outlet_id, "a_url": p.url,
        "a_canonical_url": p.canonical_url, "a_url_hash": p.url_hash, "a_title": p.title, "a_text": p.text,
        "a_match_text": p.match_text, "a_lang": p.lang, "a_byline": p.byline, "a_source_line": p.source_line,
        "a_published_at": p.published_at, "a_published_at_missing": p.published_at_missing,
        "a_fetched_at": p.fetched_at, "a_stored_at": now, "a_content_hash": p.content_hash,
        "a_fingerprint": p.fingerprint.to_bytes(), "a_metrics": p.metrics, "a_flags": flags, "a_extra": p.extra,
        "keys": sorted(set(p.band_keys)),
    })
    is_new = story_id is None
    if story_id is None:
        params.update({
            "st_title": p.title[:2000] or "(untitled)", "st_lang": p.lang, "st_first_outlet_id": info.outlet_id,
            "st_first_seen_at": p.published_at, "st_last_seen_at": p.published_at, "st_article_count": 1,
            "st_outlet_count": 1, "st_created_at": now, "st_updated_at": now,
        })
    else:
        params["a_story_id"] = story_id
        params.update(stories.add_params(story_id=story_id, article_id=None, outlet_id=info.outlet_id,
                                         seen_at=p.published_at, title=p.title))
    row = conn.execute(_pg_store_statement(is_new), params).first()
    if known is not None:
        known.written_urls.add(p.url_hash)
        known.written_contents.add(p.content_hash)
    if row is None:
        return ProcessResult(DUPLICATE, p.url, reason="same_url: stored concurrently by another worker")
    article_id, story_id = int(row.id), int(row.story_id)
    if known is not None:
        known.stored(p, story_id, joined=not is_new)
    if row.snapshot_id is None:  # stored by another worker after the statement began: read it now
        conn.execute(update(Article).where(Article.id == article_id)
                     .values(snapshot_id=snapshot_id_by_sha(session, snap["sha256"]))
                     .execution_options(synchronize_session=False))
    _absorb(session, p, story_id, known, absorb)
    return ProcessResult(STORED, p.url, article_id=article_id, story_id=story_id, is_new_story=is_new, flags=flags)


def _update(session: Session, existing: Any, p: Prepared, settings: Settings) -> ProcessResult:
    """Same URL, new content: a corrected or edited article. Keep the row (and its story), refresh it."""
    snapshot_id = store_snapshot(session, p.snapshot, settings=settings, content_type=p.snapshot_type,
                                 encoding=p.snapshot_encoding)
    kept = {f for f in (existing.flags or []) if f in ("exact_repost", "near_repost")}
    flags = sorted(set(p.flags) | kept | {"edited"})
    extra = dict(existing.extra or {}) | p.extra
    extra["revisions"] = int(extra.get("revisions", 0)) + 1
    session.execute(
        update(Article).where(Article.id == existing.id).values(
            title=p.title, text=p.text, match_text=p.match_text, lang=p.lang, byline=p.byline,
            source_line=p.source_line, content_hash=p.content_hash, fingerprint=p.fingerprint.to_bytes(),
            snapshot_id=snapshot_id, fetched_at=p.fetched_at, flags=flags, extra=extra, metrics=p.metrics,
        ).execution_options(synchronize_session=False)
    )
    dedupe.replace_bands(session, existing.id, p.band_keys)
    stories.refresh_rep_keys(session, existing.id)
    return ProcessResult(UPDATED, p.url, reason="content changed", article_id=existing.id,
                         story_id=existing.story_id, flags=flags)


# Items per transaction. A commit costs about as much as storing one article on SQLite (WAL); 50
# items keep a transaction well under a second, so another worker never waits long for the lock.
BATCH_SIZE = 50
# Batches prepared ahead of the one being stored, on a server database. The pure part of the
# pipeline (extraction, normalization, fingerprints) runs on a second thread while the storing
# thread waits for the server: a database call releases the interpreter lock, so the next batch's
# extraction overlaps the round trips of this one instead of following them. Order is kept:
# batches are stored one after the other, in item order, by the calling thread.
# Measured (ingest_items with prepare_ahead 0 and 2 alternately, 1,500 bench pages, 3 rounds,
# 2 cores, server on the same machine): PostgreSQL 107-118 articles/s with it against 107-113
# without; SQLite 110-115 with it against 118-171 without, because SQLite's work runs in this
# process and the two threads then only trade the interpreter lock. So SQLite does not use it.
# The gain grows with the round-trip time to a server on another machine.
PREPARE_AHEAD = 2


@dataclass
class _Failed:
    """An item whose preparation raised something other than :class:`Dropped` (a bug): an error."""

    url: str
    message: str


_Work = tuple[SourceInfo, "Prepared | ProcessResult | _Failed"]


def ingest_items(items: Iterable[RawItem], *, engine: Engine, settings: Settings, bus: EventBus | None = None,
                 now: datetime | None = None, batch_size: int = BATCH_SIZE,
                 prepare_ahead: int | None = None) -> IngestStats:
    """Store ``items``, publish ``ArticleStored`` for each after its commit, count every outcome.

    Items go in batches of ``batch_size`` per transaction. When a batch fails (a bug on one item,
    a lock timeout), it is rolled back and its items are redone one transaction each, so a bad item
    costs only itself: it is counted as an error with its message, the others are stored.

    ``prepare_ahead``: batches extracted ahead on a helper thread (default ``PREPARE_AHEAD`` on a
    server database, 0 on SQLite); 0 does all the work on the calling thread. The results are the
    same either way. If ``items`` raises (a reader giving up on a bad file), the batches already
    read are stored before the error goes on.
    """
    from models.db import session_factory
    from presswatch.events import bus as default_bus

    bus = bus or default_bus
    stats = IngestStats()
    lookup = SourceLookup()
    factory = session_factory(engine)
    started = time.monotonic()

    def store(work: list[_Work]) -> None:
        _store_batch(work, factory, settings, stats, bus)

    batches = (
        (batch, infos, _unchanged(factory, batch, infos, settings))
        for batch in _chunks(items, max(1, batch_size))
        for infos in (lookup.get_all(factory, batch),)
    )
    if prepare_ahead is None:
        prepare_ahead = 0 if engine.dialect.name == "sqlite" else PREPARE_AHEAD
    if prepare_ahead <= 0:
        for batch, infos, known in batches:
            store(_prepare_batch(batch, infos, settings, now, known))
    else:
        from collections import deque
        from concurrent.futures import Future, ThreadPoolExecutor

        normalize.warm_up()  # lazily built converters and models: built once, here, not by two threads at once
        pending: deque[Future[list[_Work]]] = deque()
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="pipeline-prepare") as pool:
            try:
                for batch, infos, known in batches:
                    pending.append(pool.submit(_prepare_batch, batch, infos, settings, now, known))
                    if len(pending) > prepare_ahead:
                        store(pending.popleft().result())
                while pending:
                    store(pending.popleft().result())
            except Exception:
                while pending:  # what was read before the error is stored, not dropped
                    store(pending.popleft().result())
                raise
            finally:  # interrupted (Ctrl-C): nothing more is prepared
                for future in pending:
                    future.cancel()
    stats.elapsed_seconds = time.monotonic() - started
    return stats


def _chunks(items: Iterable[RawItem], size: int) -> Iterable[list[RawItem]]:
    """``items`` in lists of ``size``. When ``items`` raises, the part-filled list is yielded
    first and the error comes on the next step: what was read is stored before the run stops."""
    batch: list[RawItem] = []
    try:
        for item in items:
            batch.append(item)
            if len(batch) >= size:
                yield batch
                batch = []
    except Exception:
        if batch:
            yield batch
        raise
    if batch:
        yield batch


@dataclass
class _Unchanged:
    """:func:`_unchanged`'s answer for a batch: the items already stored from the same input (by
    position), and the input digest of the others (computed once, stored with them)."""

    results: dict[int, ProcessResult] = field(default_factory=dict)
    digests: dict[int, str] = field(default_factory=dict)


def _unchanged(factory: Any, batch: list[RawItem], infos: list[SourceInfo], settings: Settings) -> _Unchanged:
    """Layer 0 of the module docstring: one query for the batch's URLs; an item whose URL is stored
    with the same input digest is a duplicate, and is not extracted."""
    out = _Unchanged()
    hashes: dict[int, str] = {}
    for n, (item, info) in enumerate(zip(batch, infos, strict=True)):
        if item.status >= 400:
            continue
        try:
            h = url_hash(_canonical(item, info))
            out.digests[n] = input_digest(item, settings, info)
        except Exception:  # a bad item is reported by prepare(), where it costs only itself
            continue
        hashes[n] = h
    if not hashes:
        return out
    with factory() as session:
        stored = {row.url_hash: row for row in session.execute(
            _statements(session.get_bind().dialect.name)["by_urls"], {"hs": sorted(set(hashes.values()))})}
    for n, h in hashes.items():
        row = stored.get(h)
        if row is not None and (row.extra or {}).get("input_digest") == out.digests[n]:
            out.results[n] = ProcessResult(
                DUPLICATE, batch[n].url, reason="same_url: already stored from the same input (not extracted again)",
                article_id=row.id, story_id=row.story_id)
    return out


def _prepare_batch(batch: list[RawItem], infos: list[SourceInfo], settings: Settings,
                   now: datetime | None, known: _Unchanged | None = None) -> list[_Work]:
    """The pure part of a batch (no database): each item prepared, dropped with its reason, failed,
    or, when ``known`` says it is stored from the same input already, a duplicate."""
    known = known or _Unchanged()
    work: list[_Work] = []
    for n, (item, info) in enumerate(zip(batch, infos, strict=True)):
        if n in known.results:
            work.append((info, known.results[n]))
            continue
        try:
            work.append((info, prepare(item, settings, info=info, now=now, digest=known.digests.get(n))))
        except Dropped as dropped:
            work.append((info, ProcessResult(DROPPED, item.url, reason=dropped.reason)))
        except Exception as exc:
            url = getattr(item, "url", "?")
            log.exception("pipeline failed on %s", url)
            work.append((info, _Failed(url, f"{type(exc).__name__}: {exc}"[:300])))
    return work


def _store_batch(work: list[_Work], factory: Any, settings: Settings, stats: IngestStats, bus: EventBus) -> None:
    """Store one prepared batch in one transaction, then count it and publish its events."""
    results: list[ProcessResult | _Failed] = []
    try:
        with factory.begin() as session:
            # The batch's lookups go in two queries, not two per item.
            known = BatchLookups.fetch(session, [p for _, p in work if isinstance(p, Prepared)])
            for info, p in work:
                results.append(store_prepared(session, p, settings, info, known) if isinstance(p, Prepared) else p)
    except Exception:
        if len(work) > 1:
            log.warning("a batch of %d items failed; redoing them one by one", len(work))
            for one in work:
                _store_batch([one], factory, settings, stats, bus)
            return
        p = work[0][1]
        log.exception("pipeline failed on %s", p.url)
        exc = sys.exc_info()[1]
        stats.add_error(p.url, f"{type(exc).__name__}: {exc}"[:300])
        return
    for result in results:
        if isinstance(result, _Failed):
            stats.add_error(result.url, result.message)
            continue
        stats.add(result)
        if result.outcome == DROPPED:
            log.info("dropped %s: %s", result.url, result.reason)
        event = result.event
        if event is not None:
            bus.publish(event)
