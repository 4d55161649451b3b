"""The coverage stream: the pieces a scope sees, filtered, sorted and paged (the web page ``/stream``
and the API share this module).

One filter object (:class:`StreamFilter`) is parsed from the URL contract's query parameters by
:func:`parse_params`, which reports each bad value as a :class:`FieldError` (field, message,
position for a watch-query syntax error) instead of failing. :func:`query_stream` answers one page:

- always restricted to what the scope sees (``classify.visibility.visible_condition``: the indexed
  watch-query matches of its units and the alerts of its units), and to the ``unit`` narrowed
  inside it;
- a time window (24 h / 3 d / 7 d / 30 d back from now, or whole days ``from`` .. ``to`` in the
  user's time zone), sentiment, risk at or above a level, topic, outlet tier, outlet, channel
  (own channel, social, news: as the dashboard counts them; or came through a feed), language, one
  watch query of the scope, tag, unread, and free text in the watch-query language;
- sorted by time, risk or spread (the story's article count), newest first within equal keys;
- one row per piece, or one row per story (``stories``): the story's newest matching piece with
  the number of its matching pieces folded into it;
- keyset pagination: the cursor is the last row's sort key, opaque to callers, so a page never
  repeats or skips a row already listed when new pieces arrive between requests.

For another face (the API): ``parsed = parse_params(session, scope, query_params, user_timezone)``;
report ``parsed.errors``; when ``parsed.runnable``, ``query_stream(session, scope, parsed.filter,
cursor=parsed.cursor, user_id=..., parsed_query=parsed.parsed_query)`` gives the page and its
``next_cursor`` (pass it back as ``cursor``), ``count_stream`` the count, ``export_items`` the rows
to export.

Free text is matched with the watch-query language itself (``classify.query``, which SQL cannot
express: diacritic folding, CJK substrings, NEAR), over the pieces of the window that pass every
other filter, at most :data:`MAX_TEXT_SCAN` of them; a wider window reports so and asks for a
narrower one instead of answering slowly.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any

from sqlalchemy import ColumnElement, and_, case, exists, func, literal, not_, or_, select, text, tuple_, type_coerce
from sqlalchemy.orm import Session

from classify.query import Query, QuerySyntaxError, parse_query
from classify.visibility import visible_condition
from models import Article, ArticleMatch, ArticleTag, Classification, Outlet, Source, Story, Unit, WatchQuery, utcnow
from models.enums import RISK_LEVELS, OutletChannel, OutletTier, SourceKind, enum_values
from models.scope import Scope, subtree_ids
from models.stream import StreamRead, StreamReadMarker
from presswatch.i18n import N_, zone

SINCE: dict[str, timedelta] = {"24h": timedelta(hours=24), "3d": timedelta(days=3), "7d": timedelta(days=7),
                               "30d": timedelta(days=30)}
DEFAULT_SINCE = "24h"
SENTIMENTS = ("negative", "neutral", "positive")
CHANNELS = ("news", "feed", "social", "own")
SORTS = ("time", "risk", "spread")
TIERS: tuple[str, ...] = tuple(enum_values(OutletTier))
SOCIAL_CHANNELS = (OutletChannel.WECHAT.value, OutletChannel.WEIBO.value, OutletChannel.SOCIAL.value)
PAGE_SIZE = 50
MAX_PAGE_SIZE = 500
MAX_TEXT_SCAN = 20_000  # pieces free text is matched against per request
COUNT_CAP = 1_000  # "more than 1,000" beyond this: counting further costs more than it tells
MAX_RANGE_DAYS = 366

# Names shown for the channel and tier values (templates write {{ _(value) }}; exports use these).
# (the dashboard's names for news / social / own)
CHANNEL_LABELS = {"news": N_("News media"), "feed": N_("Feed"), "social": N_("Social media"),
                  "own": N_("Own channels")}
TIER_LABELS = {"central": N_("Central"), "provincial": N_("Provincial"), "prefecture": N_("Prefecture"),
               "county": N_("County"), "own_channel": N_("Own channel"), "other": N_("Other")}
SINCE_LABELS = {"24h": N_("24 hours"), "3d": N_("3 days"), "7d": N_("7 days"), "30d": N_("30 days")}
SORT_LABELS = {"time": N_("Newest"), "risk": N_("Risk"), "spread": N_("Spread")}

_LANG_RE = re.compile(r"[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})?$")
_TAG_RE = re.compile(r"[^\s<>\"'&]{1,64}$")
PARAMS = ("since", "from", "to", "sentiment", "risk", "topic", "tier", "outlet", "channel", "lang", "unit",
          "query", "q", "sort", "stories", "tag", "unread")


@dataclass(frozen=True)
class FieldError:
    """A parameter that could not be used: ``message`` is a catalog message id (with ``args``);
    ``position`` is the 0-based character of a free-text syntax error."""

    param: str
    message: str
    value: str = ""
    position: int | None = None
    args: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class StreamFilter:
    since: str | None = DEFAULT_SINCE
    date_from: date | None = None
    date_to: date | None = None
    timezone: str = "UTC"
    sentiment: str | None = None
    risk: str | None = None
    topic: str | None = None
    tier: str | None = None
    outlet: int | None = None
    channel: str | None = None
    lang: str | None = None
    unit: int | None = None
    query: int | None = None
    q: str | None = None
    sort: str = "time"
    stories: bool = False
    tag: str | None = None
    unread: bool = False

    def window(self, now: datetime | None = None) -> tuple[datetime | None, datetime | None]:
        """[start, end) in UTC: custom whole days in the filter's time zone, else back from now."""
        if self.date_from is not None or self.date_to is not None:
            tz = zone(self.timezone)
            start = (datetime.combine(self.date_from, time(0), tzinfo=tz) if self.date_from else None)
            end = (datetime.combine(self.date_to + timedelta(days=1), time(0), tzinfo=tz) if self.date_to else None)
            return start, end
        now = now or utcnow()
        return now - SINCE[self.since or DEFAULT_SINCE], None

    def to_params(self) -> dict[str, str]:
        """The URL contract's parameters for this filter (no cursor, defaults left out)."""
        out: dict[str, str] = {}
        if self.date_from is not None or self.date_to is not None:
            if self.date_from:
                out["from"] = self.date_from.isoformat()
            if self.date_to:
                out["to"] = self.date_to.isoformat()
        elif self.since and self.since != DEFAULT_SINCE:
            out["since"] = self.since
        for name in ("sentiment", "risk", "topic", "tier", "outlet", "channel", "lang", "unit", "query", "q",
                     "tag"):
            value = getattr(self, name)
            if value is not None and value != "":
                out[name] = str(value)
        if self.sort != "time":
            out["sort"] = self.sort
        if self.stories:
            out["stories"] = "1"
        if self.unread:
            out["unread"] = "1"
        return out


@dataclass(frozen=True)
class ParsedStream:
    filter: StreamFilter
    errors: tuple[FieldError, ...] = ()
    cursor: tuple[Any, ...] | None = None
    parsed_query: Query | None = None

    @property
    def runnable(self) -> bool:
        """False when the free text could not be parsed: listing everything instead of what was asked
        for would mislead, so callers show the error and no pieces. Other bad values are only left out."""
        return not any(e.param == "q" for e in self.errors)


def _int(value: str) -> int | None:
    try:
        number = int(value)
    except ValueError:
        return None
    return number if 0 < number < 2**31 else None


def parse_params(session: Session, scope: Scope, params: Mapping[str, str], timezone: str = "UTC") -> ParsedStream:
    """The URL contract's query parameters as a :class:`StreamFilter`; each unusable value is left
    out of the filter and reported (a unit, watch query or outlet outside the scope reads as
    unknown, exactly like one that does not exist)."""
    errors: list[FieldError] = []
    kw: dict[str, Any] = {"timezone": timezone}

    def get(name: str) -> str:
        return (params.get(name) or "").strip()

    def bad(name: str, message: str, **args: Any) -> None:
        errors.append(FieldError(name, message, get(name), args=args))

    since = get("since")
    if since:
        if since in SINCE:
            kw["since"] = since
        else:
            bad("since", N_("Unknown time window; use one of {choices}."), choices=", ".join(SINCE))
    for name, key in (("from", "date_from"), ("to", "date_to")):
        raw = get(name)
        if raw:
            try:
                kw[key] = date.fromisoformat(raw)
            except ValueError:
                bad(name, N_("Not a date; write it as YYYY-MM-DD."))
    if kw.get("date_from") and kw.get("date_to"):
        if kw["date_to"] < kw["date_from"]:
            bad("to", N_("The end date is before the start date."))
            kw.pop("date_to")
        elif (kw["date_to"] - kw["date_from"]).days > MAX_RANGE_DAYS:
            bad("from", N_("At most {days} days at once."), days=MAX_RANGE_DAYS)
            kw.pop("date_from")
    for name, choices in (("sentiment", SENTIMENTS), ("risk", RISK_LEVELS), ("tier", TIERS),
                          ("channel", CHANNELS), ("sort", SORTS)):
        raw = get(name)
        if raw:
            if raw in choices:
                kw[name] = raw
            else:
                bad(name, N_("Unknown value; use one of {choices}."), choices=", ".join(choices))
    topic = get("topic")
    if topic:
        from classify.taxonomy import topic_keys

        if topic in topic_keys():
            kw["topic"] = topic
        else:
            bad("topic", N_("Unknown topic."))
    lang = get("lang")
    if lang:
        if _LANG_RE.match(lang):
            kw["lang"] = lang
        else:
            bad("lang", N_("Not a language code (zh, vi, en, zh-CN...)."))
    tag = get("tag")
    if tag:
        if _TAG_RE.match(tag):
            kw["tag"] = tag
        else:
            bad("tag", N_("Not a tag."))
    outlet = get("outlet")
    if outlet:
        outlet_id = _int(outlet)
        if outlet_id is not None and session.get(Outlet, outlet_id) is not None:
            kw["outlet"] = outlet_id
        else:
            bad("outlet", N_("Unknown outlet."))
    unit = get("unit")
    if unit:
        unit_id = _int(unit)
        visible = scope.visible_ids
        known = unit_id is not None and session.get(Unit, unit_id) is not None
        if known and (visible is None or unit_id in visible):
            kw["unit"] = unit_id
        else:
            bad("unit", N_("Unknown unit."))
    query = get("query")
    if query:
        query_id = _int(query)
        row = session.get(WatchQuery, query_id) if query_id is not None else None
        if row is not None and session.scalar(select(WatchQuery.id).where(
                WatchQuery.id == row.id, scope.where(WatchQuery.unit_id))) is not None:
            kw["query"] = row.id
        else:
            bad("query", N_("Unknown watch query."))
    parsed_query: Query | None = None
    q = params.get("q") or ""
    if q.strip():
        try:
            parsed_query = parse_query(q)
            kw["q"] = q
        except QuerySyntaxError as exc:
            errors.append(FieldError("q", N_("Syntax error at position {position}: {reason}"), q,
                                     position=exc.position, args={"position": exc.position + 1,
                                                                  "reason": exc.reason}))
    kw["stories"] = get("stories") in ("1", "true", "on", "yes")
    kw["unread"] = get("unread") in ("1", "true", "on", "yes")
    stream_filter = StreamFilter(**kw)
    cursor = None
    raw_cursor = get("cursor")
    if raw_cursor:
        cursor = decode_cursor(raw_cursor, stream_filter)
        if cursor is None:
            errors.append(FieldError("cursor", N_("This page link is out of date; showing the first page."),
                                     raw_cursor))
    return ParsedStream(stream_filter, tuple(errors), cursor, parsed_query)


# -- cursors ---------------------------------------------------------------------------------


def _cursor_kind(f: StreamFilter) -> str:
    return f"{f.sort}:{int(f.stories)}"


def encode_cursor(f: StreamFilter, key: Sequence[Any]) -> str:
    values = [v.isoformat() if isinstance(v, datetime) else v for v in key]
    raw = json.dumps([_cursor_kind(f), *values], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(token: str, f: StreamFilter) -> tuple[Any, ...] | None:
    """The sort key a cursor carries, or None when it is malformed or made for another sort."""
    try:
        data = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    except (ValueError, binascii.Error, UnicodeDecodeError):
        return None
    if not isinstance(data, list) or not data or data[0] != _cursor_kind(f):
        return None
    values = data[1:]
    expected = 2 if f.sort == "time" else 3
    if len(values) != expected:
        return None
    try:
        when = datetime.fromisoformat(values[-2])
        if when.tzinfo is None:
            return None
        ident = int(values[-1])
        lead = [int(values[0])] if expected == 3 else []
    except (TypeError, ValueError):
        return None
    return (*lead, when, ident)


# -- the query -------------------------------------------------------------------------------


_RISK_RANK = {level: i for i, level in enumerate(RISK_LEVELS)}


def risk_rank_expr() -> ColumnElement[int]:
    return case(_RISK_RANK, value=Classification.risk_level, else_=-1)


def channel_expr() -> ColumnElement[str]:
    """The piece's outlet channel, as the dashboard and digests count them
    (``alerts.digest.builder.channel_of``): its own channel (tier own_channel), else social media
    (WeChat, Weibo, other social), else news."""
    return case(
        (func.coalesce(Outlet.tier, "") == OutletTier.OWN_CHANNEL.value, literal("own")),
        (func.coalesce(Outlet.channel, "").in_(SOCIAL_CHANNELS), literal("social")),
        else_=literal("news"),
    )


def _channel_condition(channel: str) -> ColumnElement[bool]:
    """``feed`` is how a piece came (a feed source), across outlet channels; the others are
    :func:`channel_expr`."""
    if channel == "feed":
        return Source.kind == SourceKind.FEED.value
    return channel_expr() == channel


def _topic_condition(session: Session, topic: str) -> ColumnElement[bool]:
    if session.get_bind().dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import JSONB

        return type_coerce(Classification.topics, JSONB).contains([{"name": topic}])
    each = func.json_each(Classification.topics).table_valued("value")
    return exists(select(literal(1)).select_from(each).where(func.json_extract(each.c.value, "$.name") == topic))


def within_unit(session: Session, scope: Scope, unit: int | None) -> Scope:
    """``scope`` narrowed to ``unit``'s subtree (what that unit sees of what the scope sees)."""
    return _narrowed(session, scope, unit)


def _narrowed(session: Session, scope: Scope, unit: int | None) -> Scope:
    if unit is None:
        return scope
    ids = subtree_ids(session, [unit])
    visible = scope.visible_ids
    if visible is not None:
        ids = ids & visible
    return dataclasses.replace(scope, focus=unit, focus_ids=frozenset(ids))


ALL_JOINS = frozenset({"classification", "outlet", "source", "story"})


def _needed(f: StreamFilter) -> frozenset[str]:
    """The tables the filter's conditions and sort read: joining only those lets the planner walk
    the time index with a few lookups per piece (a join it cannot prove unused it must perform)."""
    need = set()
    if f.sentiment or f.risk or f.topic or f.sort == "risk":
        need.add("classification")
    if f.tier or (f.channel and f.channel != "feed"):
        need.add("outlet")
    if f.channel == "feed":
        need.add("source")
    if f.sort == "spread":
        need.add("story")
    return frozenset(need)


def _joined(stmt: Any, need: frozenset[str] = ALL_JOINS) -> Any:
    if "classification" in need:
        stmt = stmt.outerjoin(Classification, and_(Classification.article_id == Article.id,
                                                   Classification.is_current.is_(True)))
    if "outlet" in need:
        stmt = stmt.outerjoin(Outlet, Outlet.id == Article.outlet_id)
    if "source" in need:
        stmt = stmt.outerjoin(Source, Source.id == Article.source_id)
    if "story" in need:
        stmt = stmt.outerjoin(Story, Story.id == Article.story_id)
    return stmt


def _read_marker(session: Session, user_id: int | None) -> datetime | None:
    if user_id is None:
        return None
    return session.scalar(select(StreamReadMarker.read_before).where(StreamReadMarker.user_id == user_id))


def conditions(session: Session, scope: Scope, f: StreamFilter, *, user_id: int | None = None,
               now: datetime | None = None) -> list[ColumnElement[bool]]:
    """Every SQL condition of the filter except free text (over articles joined as in :func:`_joined`)."""
    view = _narrowed(session, scope, f.unit)
    start, end = f.window(now)
    conds: list[ColumnElement[bool]] = [visible_condition(view)]
    if start is not None:
        conds.append(Article.published_at >= start)
    if end is not None:
        conds.append(Article.published_at < end)
    if start is None and end is None:
        conds.append(Article.published_at.is_not(None))
    if f.sentiment:
        conds.append(Classification.sentiment == f.sentiment)
    if f.risk:
        conds.append(Classification.risk_level.in_(RISK_LEVELS[RISK_LEVELS.index(f.risk):]))
    if f.topic:
        conds.append(_topic_condition(session, f.topic))
    if f.tier:
        conds.append(Outlet.tier == f.tier)
    if f.outlet is not None:
        conds.append(Article.outlet_id == f.outlet)
    if f.channel:
        conds.append(_channel_condition(f.channel))
    if f.lang:
        conds.append(or_(Article.lang == f.lang, Article.lang.like(f.lang.replace("_", "") + "-%")))
    if f.query is not None:
        conds.append(exists().where(ArticleMatch.article_id == Article.id, ArticleMatch.watch_query_id == f.query))
    if f.tag:
        conds.append(exists().where(ArticleTag.article_id == Article.id, ArticleTag.tag == f.tag,
                                    view.where(ArticleTag.unit_id)))
    if f.unread and user_id is not None:
        marker = _read_marker(session, user_id)
        if marker is not None:
            conds.append(Article.stored_at > marker)
        conds.append(not_(exists().where(StreamRead.user_id == user_id, StreamRead.article_id == Article.id)))
    return conds


class TextScanTooWide(Exception):
    """Free text over more pieces than :data:`MAX_TEXT_SCAN`: a narrower window is needed."""


def text_matches(session: Session, conds: list[ColumnElement[bool]], query: Query,
                 need: frozenset[str] = ALL_JOINS) -> list[int]:
    """Ids of the pieces passing ``conds`` that the free-text query matches (in Python: the
    watch-query language's own matching)."""
    from classify.query import PreparedDoc

    stmt = _joined(select(Article.id, Article.title, Article.text, Article.lang, Source.key, Outlet.name)
                   .select_from(Article), need | {"outlet", "source"}).where(*conds).limit(MAX_TEXT_SCAN + 1)
    rows = session.execute(stmt).all()
    if len(rows) > MAX_TEXT_SCAN:
        raise TextScanTooWide()
    out = []
    for article_id, title, body, lang, source_key, outlet_name in rows:
        source = " ".join(s for s in (source_key, outlet_name) if s)
        if query.matches(PreparedDoc({"title": title or "", "text": body or "", "lang": lang or "",
                                      "source": source})):
            out.append(article_id)
    return out


@dataclass
class StreamItem:
    article_id: int
    title: str
    url: str
    lang: str
    published_at: datetime | None
    stored_at: datetime | None
    outlet_id: int | None
    outlet_name: str
    tier: str | None
    channel: str
    sentiment: str | None
    risk_level: str | None
    risk_score: float | None
    topics: list[str]
    story_id: int | None
    story_articles: int
    story_outlets: int
    folded: int = 1  # pieces of the story in this view (one row per story)
    unread: bool = True
    tags: list[str] = field(default_factory=list)


@dataclass
class StreamPage:
    items: list[StreamItem]
    next_cursor: str | None
    total: int | None  # None: not counted (free text too wide)
    total_capped: bool
    errors: tuple[FieldError, ...] = ()
    filter: StreamFilter = field(default_factory=StreamFilter)


def _order(f: StreamFilter) -> tuple[list[Any], list[Any]]:
    """(sort columns, their descending ORDER BY) for the filter's time or spread sort."""
    lead = [func.coalesce(Story.article_count, 1)] if f.sort == "spread" else []
    cols = [*lead, Article.published_at, Article.id]
    return cols, [c.desc() for c in cols]


def _cursor_values(cursor: tuple[Any, ...]) -> Any:
    # Typed binds: SQLite compares stored time text, so the time must be written as the column writes it.
    return tuple_(*(literal(v, Article.published_at.type) if isinstance(v, datetime) else literal(v)
                    for v in cursor))


def _key_columns(f: StreamFilter) -> list[Any]:
    cols, _ = _order(f)
    return cols


def _scan(session: Session, conds: list[ColumnElement[bool]], f: StreamFilter, cursor: tuple[Any, ...] | None,
          want: int) -> list[tuple[tuple[Any, ...], int, int | None]]:
    """Up to ``want`` rows passing ``conds`` after ``cursor`` in the sort order: (sort key, id, story id).

    Sorting by risk walks the levels from the highest down, each in time order: every step is an
    index walk newest-first that stops at the page's end, instead of ranking the whole window."""
    out: list[tuple[tuple[Any, ...], int, int | None]] = []
    if f.sort == "risk":
        floor = RISK_LEVELS.index(f.risk) if f.risk else -1
        for rank in range(len(RISK_LEVELS) - 1, floor - 1, -1):
            if cursor is not None and rank > cursor[0]:
                continue
            level = (Classification.risk_level == RISK_LEVELS[rank] if rank >= 0
                     else Classification.risk_level.is_(None))  # not classified
            stmt = _joined(select(Article.published_at, Article.id, Article.story_id).select_from(Article),
                           _needed(f)).where(*conds, level)
            if cursor is not None and rank == cursor[0]:
                stmt = stmt.where(tuple_(Article.published_at, Article.id) < _cursor_values(cursor[1:]))
            rows = session.execute(stmt.order_by(Article.published_at.desc(), Article.id.desc())
                                   .limit(want - len(out))).all()
            out += [((rank, when, ident), ident, story) for when, ident, story in rows]
            if len(out) >= want:
                break
        return out
    cols, order = _order(f)
    stmt = _joined(select(*cols, Article.story_id).select_from(Article), _needed(f)).where(*conds)
    if cursor is not None:
        stmt = stmt.where(tuple_(*cols) < _cursor_values(cursor))
    for row in session.execute(stmt.order_by(*order).limit(want)):
        key = tuple(row[:len(cols)])
        out.append((key, int(key[-1]), row[len(cols)]))
    return out


def _story_members(session: Session, conds: list[ColumnElement[bool]], f: StreamFilter,
                   story_ids: set[int]) -> tuple[dict[int, tuple[Any, ...]], dict[int, int]]:
    """For these stories, the sort key of each one's first piece (in the sort order) among the pieces
    passing ``conds``, and how many pieces pass."""
    cols = [risk_rank_expr(), Article.published_at, Article.id] if f.sort == "risk" else _key_columns(f)
    best: dict[int, tuple[Any, ...]] = {}
    counts: dict[int, int] = {}
    stmt = _joined(select(*cols, Article.story_id).select_from(Article), _needed(f)).where(
        *conds, Article.story_id.in_(sorted(story_ids)))
    for row in session.execute(stmt):
        key, story = tuple(row[:len(cols)]), int(row[len(cols)])
        counts[story] = counts.get(story, 0) + 1
        if story not in best or key > best[story]:
            best[story] = key
    return best, counts


def query_stream(session: Session, scope: Scope, f: StreamFilter, *, cursor: tuple[Any, ...] | None = None,
                 limit: int = PAGE_SIZE, user_id: int | None = None, parsed_query: Query | None = None,
                 now: datetime | None = None, count: bool = False) -> StreamPage:
    """One page of the stream for ``scope`` (see the module docstring). ``count`` adds
    :func:`count_stream` (which the web page fetches separately, after the list)."""
    limit = max(1, min(limit, MAX_PAGE_SIZE))
    conds, errors = _all_conditions(session, scope, f, user_id=user_id, parsed_query=parsed_query, now=now)
    folded: dict[int, int] = {}
    if f.stories:
        # One row per story: a piece is listed when it is its story's first in the sort order among the
        # pieces passing the filter (the story's other pieces are folded into it, counted).
        picked: list[tuple[tuple[Any, ...], int, int | None]] = []
        batch_size = max(2 * limit, 100)
        position = cursor
        while len(picked) <= limit:
            batch = _scan(session, conds, f, position, batch_size)
            if not batch:
                break
            stories = {s for _, _, s in batch if s is not None}
            best, counts = _story_members(session, conds, f, stories) if stories else ({}, {})
            for key, ident, story in batch:
                if story is None or best.get(story) == key:
                    picked.append((key, ident, story))
                    folded[ident] = counts.get(story, 1) if story is not None else 1
                    if len(picked) > limit:
                        break
            position = batch[-1][0]
            if len(batch) < batch_size:
                break
        rows = picked
    else:
        rows = _scan(session, conds, f, cursor, limit + 1)
    more = len(rows) > limit
    rows = rows[:limit]
    items = _items(session, scope, [ident for _, ident, _ in rows], user_id, f.unit)
    for item in items:
        item.folded = folded.get(item.article_id, 1)
    next_cursor = encode_cursor(f, rows[-1][0]) if more and rows else None
    total: int | None = None
    capped = False
    if count and not any(e.param == "q" for e in errors):
        total, capped = _count(session, conds, f)
    return StreamPage(items, next_cursor, total, capped, tuple(errors), f)


def _no_jit(session: Session) -> None:
    """PostgreSQL's JIT compiles a plan whose cost counts the whole window although LIMIT stops it
    after a page: 60+ ms of compiling for a 2 ms walk (seen with EXPLAIN ANALYZE at 1M pieces).
    Off for this transaction only."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SET LOCAL jit = off"))


def _all_conditions(session: Session, scope: Scope, f: StreamFilter, *, user_id: int | None,
                    parsed_query: Query | None, now: datetime | None) -> tuple[list[ColumnElement[bool]],
                                                                               list[FieldError]]:
    errors: list[FieldError] = []
    _no_jit(session)
    conds = conditions(session, scope, f, user_id=user_id, now=now)
    if f.q:
        query = parsed_query or parse_query(f.q)
        try:
            ids = text_matches(session, conds, query, _needed(f))
        except TextScanTooWide:
            errors.append(FieldError("q", N_("Free text searches at most {n} pieces at once; choose a shorter "
                                             "time window or more filters."), f.q, args={"n": MAX_TEXT_SCAN}))
            ids = []
        conds.append(Article.id.in_(ids) if ids else literal(False))
    return conds, errors


def _count(session: Session, conds: list[ColumnElement[bool]], f: StreamFilter) -> tuple[int, bool]:
    base = _joined(select(Article.id).select_from(Article), _needed(f)).where(*conds).limit(COUNT_CAP + 1)
    total = int(session.scalar(select(func.count()).select_from(base.subquery())) or 0)
    return min(total, COUNT_CAP), total > COUNT_CAP


def count_stream(session: Session, scope: Scope, f: StreamFilter, *, user_id: int | None = None,
                 parsed_query: Query | None = None, now: datetime | None = None) -> tuple[int | None, bool]:
    """How many pieces pass the filter (up to :data:`COUNT_CAP`; the flag says "more than");
    None when free text could not be searched."""
    conds, errors = _all_conditions(session, scope, f, user_id=user_id, parsed_query=parsed_query, now=now)
    if errors:
        return None, False
    return _count(session, conds, f)


def _items(session: Session, scope: Scope, ids: list[int], user_id: int | None,
           unit: int | None = None) -> list[StreamItem]:
    """The rows of these pieces, in this order, with read state and the scope's tags."""
    if not ids:
        return []
    stmt = _joined(select(Article.id, Article.title, Article.url, Article.lang, Article.published_at,
                          Article.stored_at, Article.outlet_id, Outlet.name, Outlet.tier, channel_expr(),
                          Classification.sentiment, Classification.risk_level, Classification.risk_score,
                          Classification.topics, Article.story_id, Story.article_count, Story.outlet_count)
                   .select_from(Article)).where(Article.id.in_(ids))
    by_id: dict[int, StreamItem] = {}
    for row in session.execute(stmt):
        (article_id, title, url, lang, published, stored, outlet_id, outlet_name, tier, channel, sentiment,
         risk, risk_score, topics, story_id, story_articles, story_outlets) = row
        if article_id in by_id:
            continue
        by_id[article_id] = StreamItem(
            article_id=article_id, title=title or "", url=url or "", lang=lang or "", published_at=published,
            stored_at=stored, outlet_id=outlet_id, outlet_name=outlet_name or "",
            tier=str(tier) if tier else None, channel=str(channel), sentiment=str(sentiment) if sentiment else None,
            risk_level=str(risk) if risk else None, risk_score=risk_score,
            topics=[str(t.get("name")) for t in topics or [] if isinstance(t, dict) and t.get("name")],
            story_id=story_id, story_articles=int(story_articles or 1), story_outlets=int(story_outlets or 1))
    marker = _read_marker(session, user_id)
    read_ids: set[int] = set()
    if user_id is not None:
        read_ids = set(session.scalars(select(StreamRead.article_id).where(StreamRead.user_id == user_id,
                                                                           StreamRead.article_id.in_(ids))))
    view = _narrowed(session, scope, unit)
    tags: dict[int, list[str]] = {}
    for article_id, tag in session.execute(select(ArticleTag.article_id, ArticleTag.tag).where(
            ArticleTag.article_id.in_(ids), view.where(ArticleTag.unit_id)).order_by(ArticleTag.tag)):
        if tag not in tags.setdefault(article_id, []):
            tags[article_id].append(tag)
    out = []
    for article_id in ids:
        item = by_id.get(article_id)
        if item is None:
            continue
        item.unread = article_id not in read_ids and not (
            marker is not None and item.stored_at is not None and item.stored_at <= marker)
        item.tags = tags.get(article_id, [])
        out.append(item)
    return out


def visible_ids(session: Session, scope: Scope, ids: Sequence[int]) -> list[int]:
    """The ids among ``ids`` of pieces the scope sees (bulk actions act on these only)."""
    wanted = sorted({int(i) for i in ids})
    if not wanted:
        return []
    stmt = select(Article.id).where(Article.id.in_(wanted), visible_condition(scope)).order_by(Article.id)
    return list(session.scalars(stmt))


def export_items(session: Session, scope: Scope, f: StreamFilter, *, ids: Sequence[int] = (),
                 user_id: int | None = None, parsed_query: Query | None = None, limit: int = 5000) -> list[StreamItem]:
    """The pieces to export: the selected ones (those visible), else the filter's first ``limit``."""
    if ids:
        chosen = visible_ids(session, scope, ids)
        items = _items(session, scope, chosen, user_id)
        return sorted(items, key=lambda i: (i.published_at is None, -(i.published_at.timestamp()
                                                                      if i.published_at else 0)))
    out: list[StreamItem] = []
    cursor = None
    plain = dataclasses.replace(f, stories=False)
    while len(out) < limit:
        page = query_stream(session, scope, plain, cursor=cursor, limit=min(MAX_PAGE_SIZE, limit - len(out)),
                            user_id=user_id, parsed_query=parsed_query)
        out += page.items
        if page.next_cursor is None:
            break
        cursor = decode_cursor(page.next_cursor, plain)
    return out


