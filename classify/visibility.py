"""Which crawled pieces a scope sees, and the watch terms that made them its business.

Crawled coverage is public, but each organization's views show what concerns it: a piece is
visible to a scope when one of the scope's watch queries matches it, or when an alert of the scope
names it (the alert's own piece or one of its story's pieces). An operator (superuser) sees all.
Everything else answers "not found", exactly like a piece that does not exist, so one
organization cannot learn what another watches. The web page, its snapshot download and the API
call this one function.

Lists (the coverage stream, ``classify.stream``) cannot run every watch query on every stored
piece, so the same rule is kept as an index: ``article_matches`` holds (piece, watch query, its unit) for
each enabled owned watch query matching the piece, written by :func:`index_articles` when a piece is
classified and by :func:`reindex` when watch queries change; :func:`visible_condition` is the SQL
form of :func:`article_visible` over that index and the alerts table.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import ColumnElement, delete, exists, insert, or_, select, true
from sqlalchemy.orm import Session

from classify.query import Query, QuerySyntaxError, parse_query, prepare
from models import Alert, Article, ArticleMatch, WatchQuery
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


def article_visible(session: Session, article: Article, scope: Scope) -> bool:
    if scope.superuser:
        return True
    names_it = [Alert.article_id == article.id]
    if article.story_id is not None:
        names_it.append(Alert.story_id == article.story_id)
    alert_ids = select(Alert.id).where(scope.where(Alert.unit_id), or_(*names_it)).limit(1)
    if session.scalar(alert_ids) is not None:
        return True
    doc = _doc(article)
    for row in _scope_queries(session, scope):
        try:
            if parse_query(row.query).matches(doc):
                return True
        except QuerySyntaxError:
            continue
    return False


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
    """Rebuild the whole index (after a watch query was added, changed, enabled or disabled)."""
    queries = owned_queries(session)
    session.execute(delete(ArticleMatch))
    written, last = 0, 0
    while True:
        chunk = list(session.scalars(select(Article).where(Article.id > last).order_by(Article.id).limit(batch)))
        if not chunk:
            return written
        written += index_articles(session, chunk, queries)
        last = chunk[-1].id
        session.expunge_all()


def visible_condition(scope: Scope) -> ColumnElement[bool]:
    """SQL: the ``articles`` row is visible to ``scope`` (and its focus), as :func:`article_visible`
    decides: an indexed watch-query match of one of its units, or an alert of its units naming the
    piece or its story."""
    if scope.superuser and scope.focus_ids is None:
        return true()
    alerts = select(Alert.id).where(scope.where(Alert.unit_id))
    return or_(
        exists().where(ArticleMatch.article_id == Article.id, scope.where(ArticleMatch.unit_id)),
        Article.story_id.in_(alerts.with_only_columns(Alert.story_id).where(Alert.story_id.is_not(None))),
        Article.id.in_(alerts.with_only_columns(Alert.article_id).where(Alert.article_id.is_not(None))),
    )
