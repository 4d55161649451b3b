"""Which crawled pieces a scope sees, and the watch terms that made them its business.

Crawled coverage is public, but each organization's views show what concerns it: a piece is
visible to a scope when one of the scope's watch queries matches it, when an alert of the scope
names it (the alert's own piece or one of its story's pieces), when it was published on one of
the scope's own channels (an outlet of its units), or when one of its units registered it as its
published work (the quota board's evidence). A story is visible when one of its pieces is
(any of them), and then all its pieces (reposts) are. An operator (superuser) sees all.
Everything else answers "not found", exactly like a piece that does not exist, so one
organization cannot learn what another watches.

One decision, one SQL condition: :func:`visible_condition`. The article page, its snapshot and
feedback (:func:`article_visible`), the story page and its split / merge (:func:`story_visible`),
the coverage stream (``classify.stream``), the dashboard (``alerts.overview``) and the API all
use it, so a count on one face is the count on another. Running every watch query on every stored
piece is unaffordable, so watch-query matches are kept as an index: ``article_matches`` holds
(piece, watch query, its unit) for each enabled owned watch query matching the piece, written by
:func:`index_articles` when a piece is classified and by :func:`reindex` when watch queries change
(the service's ``stream-index`` job, every minute; ``presswatch classify --reindex``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import ColumnElement, and_, delete, exists, insert, literal, or_, select, true
from sqlalchemy.orm import Session, aliased

from classify.query import Query, QuerySyntaxError, parse_query, prepare
from models import Alert, Article, ArticleMatch, Outlet, Story, WatchQuery
from models.scope import Scope


def _doc(article: Article) -> dict[str, str]:
    return {"title": article.title or "", "text": article.text or "", "source": "", "lang": article.lang or ""}


def _scope_queries(session: Session, scope: Scope) -> list[WatchQuery]:
    return list(session.scalars(select(WatchQuery).where(WatchQuery.enabled.is_(True), scope.where(WatchQuery.unit_id))
                                .order_by(WatchQuery.priority.desc(), WatchQuery.id)))


def matched_watch_terms(session: Session, article: Article, scope: Scope) -> list[str]:
    """The terms of the scope's watch queries that match ``article`` (for highlighting), in order."""
    terms: list[str] = []
    doc = _doc(article)
    for row in _scope_queries(session, scope):
        try:
            terms += parse_query(row.query).explain(doc)
        except QuerySyntaxError:
            continue  # a broken query is reported where it is edited; it never hides or shows a piece
    # A term's label keeps the query's spelling ("儋州法院" in quotes, 执行* as a prefix): show the words.
    words = (t.strip().strip('"').rstrip("*").strip() for t in terms)
    return list(dict.fromkeys(w for w in words if w))


def owned_queries(session: Session) -> list[tuple[int, int, Query]]:
    """(query id, unit id, parsed query) of every enabled watch query owned by a unit."""
    out: list[tuple[int, int, Query]] = []
    for query_id, unit_id, text in session.execute(select(WatchQuery.id, WatchQuery.unit_id, WatchQuery.query).where(
            WatchQuery.enabled.is_(True), WatchQuery.unit_id.is_not(None)).order_by(WatchQuery.id)):
        try:
            out.append((query_id, int(unit_id or 0), parse_query(text)))
        except QuerySyntaxError:
            continue
    return out


def index_articles(session: Session, articles: Sequence[Article],
                   queries: list[tuple[int, int, Query]] | None = None) -> int:
    """Write these pieces' ``article_matches`` rows afresh (a piece edited in place may match other
    queries now). Returns the number of rows written. The caller commits."""
    ids = [a.id for a in articles if a.id is not None]
    if not ids:
        return 0
    queries = owned_queries(session) if queries is None else queries
    session.execute(delete(ArticleMatch).where(ArticleMatch.article_id.in_(ids)))
    rows: list[dict[str, int]] = []
    for article in articles:
        doc = prepare(_doc(article))
        rows += [{"article_id": article.id, "watch_query_id": query_id, "unit_id": unit_id}
                 for query_id, unit_id, query in queries if query.matches(doc)]
    if rows:
        session.execute(insert(ArticleMatch), rows)
    return len(rows)


def reindex(session: Session, batch: int = 2000) -> int:
    """Rebuild the whole index (after a watch query was added, changed, enabled or disabled) and
    remember which queries it was built from (:func:`reindex_if_queries_changed`)."""
    queries = owned_queries(session)
    fingerprint = queries_fingerprint(session)
    session.execute(delete(ArticleMatch))
    written, last = 0, 0
    while True:
        chunk = list(session.scalars(select(Article).where(Article.id > last).order_by(Article.id).limit(batch)))
        if not chunk:
            break
        written += index_articles(session, chunk, queries)
        last = chunk[-1].id
        session.expunge_all()
    _remember(session, fingerprint)
    return written


# The watch queries the index was last built from, as a fingerprint in the alert_cursors table.
INDEX_CURSOR = "stream-index"


def fingerprint(rows: Sequence[Sequence[Any]]) -> int:
    """A 31-bit digest of (id, query, unit id, enabled) rows (the migration writes the same)."""
    import json
    import zlib

    data = [[int(i), str(q), int(u) if u is not None else None, bool(e)] for i, q, u, e in rows]
    return zlib.crc32(json.dumps(data, ensure_ascii=False).encode()) & 0x7FFFFFFF


def queries_fingerprint(session: Session) -> int:
    return fingerprint(session.execute(select(WatchQuery.id, WatchQuery.query, WatchQuery.unit_id,
                                              WatchQuery.enabled).order_by(WatchQuery.id)).all())


def _remember(session: Session, value: int) -> None:
    from models import AlertCursor

    cursor = session.get(AlertCursor, INDEX_CURSOR)
    if cursor is None:
        session.add(AlertCursor(name=INDEX_CURSOR, position=value))
    else:
        cursor.position = value
    session.flush()


def reindex_if_queries_changed(session: Session) -> int | None:
    """Rebuild the index when the watch queries changed since it was built (an admin saved one on
    the web, a file was loaded); None when they did not. The service runs this every minute."""
    from models import AlertCursor

    cursor = session.get(AlertCursor, INDEX_CURSOR)
    if cursor is not None and cursor.position == queries_fingerprint(session):
        return None
    return reindex(session)


def _seen_stories(scope: Scope) -> Any:
    """SQL: the ids of the stories an alert of the scope makes visible (the alert's story, the story it
    was merged into, a story an analyst split from it, the story of the alert's piece)."""
    from sqlalchemy import union

    from models import StoryDecision

    scoped = select(Alert.id).where(scope.where(Alert.unit_id))
    alert_stories = scoped.with_only_columns(Alert.story_id).where(Alert.story_id.is_not(None))
    alert_pieces = scoped.with_only_columns(Alert.article_id).where(Alert.article_id.is_not(None))
    member = aliased(Article)
    return union(
        alert_stories,
        select(Story.merged_into_id).where(Story.id.in_(alert_stories), Story.merged_into_id.is_not(None)),
        select(StoryDecision.other_story_id).where(StoryDecision.kind == "split", StoryDecision.undone_at.is_(None),
                                                   StoryDecision.story_id.in_(alert_stories)),
        select(member.story_id).where(member.id.in_(alert_pieces), member.story_id.is_not(None)),
    )


def _own_outlets(scope: Scope) -> Any:
    """SQL: the outlets that belong to the scope's units (its own channels)."""
    return select(Outlet.id).where(Outlet.unit_id.is_not(None), scope.where(Outlet.unit_id))


def _registered(scope: Scope) -> Any:
    """SQL: the crawled pieces the scope's units registered as their published work (the quota
    board's evidence, linked to the article page)."""
    from models import Registration

    return select(Registration.article_id).where(Registration.article_id.is_not(None),
                                                 scope.where(Registration.unit_id))


def _story_has_seen_piece(scope: Scope, story_id: Any) -> ColumnElement[bool]:
    """SQL: one of the pieces of story ``story_id`` (a column or a value) matches a watch query of the
    scope's units, was published on one of its own channels or was registered by one of its units.
    Every piece counts."""
    member = aliased(Article)
    match = aliased(ArticleMatch)
    matched = exists(select(match.article_id).where(match.article_id == member.id, scope.where(match.unit_id)))
    # "between x and x", not "= x": with an equality PostgreSQL may hash the subquery, reading every
    # matched piece of the organization up front (0.6 s at 1M pieces) where a page needs a few
    # index probes per listed piece; a range keeps the probe (ix_articles_story_id).
    return exists(select(member.id).where(member.story_id >= story_id, member.story_id <= story_id,
                                          or_(matched, member.outlet_id.in_(_own_outlets(scope)),
                                              member.id.in_(_registered(scope)))))


def visible_condition(scope: Scope) -> ColumnElement[bool]:
    """SQL: the ``articles`` row is visible to ``scope`` (and its focus). This is THE decision: the
    article page (:func:`article_visible`), the story page (:func:`story_visible`), the coverage
    stream, the dashboard (``alerts.overview``) and the API all use it. A piece is visible when a
    watch query of the scope's units matches it (the ``article_matches`` index), an alert of the
    scope names it, it was published on one of the scope's own channels (an outlet of its units),
    one of its units registered it (``registrations``: the quota board's evidence), or its story is
    visible (an alert names the story, a story merged into it, the story it was
    split from, or one of its pieces; or one of its pieces matches or is on an own channel)."""
    if scope.superuser and scope.focus_ids is None:
        return true()
    alert_pieces = select(Alert.article_id).where(scope.where(Alert.unit_id), Alert.article_id.is_not(None))
    return or_(
        exists().where(ArticleMatch.article_id >= Article.id, ArticleMatch.article_id <= Article.id,  # (as above)
                       scope.where(ArticleMatch.unit_id)),
        Article.id.in_(alert_pieces),
        Article.outlet_id.in_(_own_outlets(scope)),
        Article.id.in_(_registered(scope)),
        Article.story_id.in_(_seen_stories(scope)),
        and_(Article.story_id.is_not(None), _story_has_seen_piece(scope, Article.story_id)),
    )


def article_visible(session: Session, article: Article, scope: Scope) -> bool:
    """The scope sees the piece (:func:`visible_condition`, asked for this one row). An operator
    (superuser) sees every piece on its page, whatever its focus."""
    if scope.superuser:
        return True
    return session.scalar(select(Article.id).where(Article.id == article.id, visible_condition(scope))) is not None


def live_story_id(session: Session, story_id: int) -> int | None:
    """The story ``story_id`` is now part of (itself, or the story it was merged into); None if none."""
    seen: set[int] = set()
    current: int | None = story_id
    while current is not None and current not in seen:
        seen.add(current)
        merged = session.execute(select(Story.merged_into_id).where(Story.id == current)).first()
        if merged is None:
            return None
        if merged[0] is None:
            return current
        current = merged[0]
    return None


def story_visible(session: Session, story_id: int, scope: Scope) -> bool:
    """The scope sees the story: an alert of the scope names it, a story merged into it, the story
    an analyst split it from, or one of its pieces; or one of its pieces (any of them, however long
    the story) is visible (:func:`visible_condition`). Another organization's story is "not found"."""
    if session.get(Story, story_id) is None:
        return False
    if scope.superuser:
        return True
    # visible_condition's story clauses for this one story (an alerted piece makes its story a seen one).
    seen = or_(literal(story_id).in_(_seen_stories(scope)), _story_has_seen_piece(scope, literal(story_id)))
    return bool(session.scalar(select(seen)))
