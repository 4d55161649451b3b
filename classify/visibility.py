"""Which crawled pieces a scope sees, and the watch terms that made them its business.

Crawled coverage is public, but each organization's views show what concerns it: a piece is
visible to a scope when one of the scope's watch queries matches it, or when an alert of the scope
names it (the alert's own piece or one of its story's pieces). An operator (superuser) sees all.
Everything else answers "not found", exactly like a piece that does not exist, so one
organization cannot learn what another watches. The web page, its snapshot download and the API
call this one function.
"""

from __future__ import annotations

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from classify.query import QuerySyntaxError, parse_query
from models import Alert, Article, WatchQuery
from models.scope import Scope


def _doc(article: Article) -> dict[str, str]:
    return {"title": article.title or "", "text": article.text or "", "source": "", "lang": article.lang or ""}


article_doc = _doc  # the document a watch query is matched against (classify.watch_admin counts hits on it)


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
