"""Watch queries managed in the admin pages: list, a syntax check that says where the problem is,
the pieces a query would have matched over the last days, add and edit (scoped, audited).

A query's hits are counted on the same document :mod:`classify.visibility` uses (title, text,
language; each piece read once for all queries, which a :class:`classify.query.QuerySet` narrows
to those whose words it contains), over the newest ``MAX_SCANNED`` pieces stored in the window,
so the page says what saving the query would make the organization see.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from accounts.audit import Actor, record_saved
from classify.query import PreparedDoc, Query, QuerySet, QuerySyntaxError, parse_query, prepare
from models import Article, Unit, WatchQuery
from models.scope import Scope
from presswatch.i18n import N_, Refusal

PURPOSES = ("org", "official", "topic", "watch")
MAX_SCANNED = 20_000


class WatchQueryError(Refusal):
    pass


class WatchQueryNotFound(WatchQueryError):
    pass


@dataclass(frozen=True)
class Check:
    """The syntax check: ``ok``, else the reason and the 0-based position of the problem."""

    text: str
    ok: bool
    reason: str = ""
    position: int | None = None
    terms: tuple[str, ...] = ()

    @property
    def before(self) -> str:
        return self.text[: self.position] if self.position is not None else self.text

    @property
    def after(self) -> str:
        return self.text[self.position:] if self.position is not None else ""


def check_query(text: str) -> Check:
    try:
        query = parse_query(text)
    except QuerySyntaxError as exc:
        return Check(text, False, exc.reason, min(max(exc.position, 0), len(text)))
    return Check(text, True, terms=tuple(query.terms()))


@dataclass
class Hits:
    since: datetime
    scanned: int = 0
    count: int = 0
    rows: list[tuple[int, str, list[str]]] = field(default_factory=list)  # newest hits: id, title, terms


def _recent_docs(session: Session, since: datetime) -> Iterator[tuple[int, str, PreparedDoc]]:
    """(article id, title, prepared document) of the newest pieces stored since ``since``."""
    rows = session.execute(select(Article.id, Article.title, Article.text, Article.lang)
                           .where(Article.stored_at >= since).order_by(Article.id.desc()).limit(MAX_SCANNED))
    for article_id, title, text, lang in rows:
        yield article_id, title or "", prepare({"title": title or "", "text": text or "", "source": "",
                                                "lang": lang or ""})


def query_hits(session: Session, query: Query, since: datetime, *, keep: int = 10) -> Hits:
    out = Hits(since=since)
    for article_id, title, doc in _recent_docs(session, since):
        out.scanned += 1
        if query.matches(doc):
            out.count += 1
            if len(out.rows) < keep:
                out.rows.append((article_id, title, query.explain(doc)))
    return out


def hit_counts(session: Session, queries: Mapping[int, Query], since: datetime) -> dict[int, int]:
    """Hits per query over the same pieces, each piece read and prepared once (the list page)."""
    counts = dict.fromkeys(queries, 0)
    if not queries:
        return counts
    compiled = QuerySet({str(key): query for key, query in queries.items()})
    for _id, _title, doc in _recent_docs(session, since):
        for name in compiled.candidates(doc):
            if compiled.queries[name].matches(doc):
                counts[int(name)] += 1
    return counts


def list_queries(session: Session, scope: Scope) -> Sequence[WatchQuery]:
    return session.scalars(select(WatchQuery).where(scope.where(WatchQuery.unit_id))
                           .order_by(WatchQuery.priority.desc(), WatchQuery.name)).all()


def get_query(session: Session, scope: Scope, query_id: int) -> WatchQuery:
    row = session.get(WatchQuery, query_id)
    if row is None or not scope.contains(row.unit_id) or not scope.can("admin", row.unit_id):
        raise WatchQueryNotFound(N_("Unknown watch query."))
    return row


def _snapshot(row: WatchQuery) -> dict[str, object]:
    return {"name": row.name, "query": row.query, "purpose": row.purpose, "enabled": row.enabled,
            "priority": row.priority, "unit_id": row.unit_id}


def save_query(session: Session, actor: Actor, scope: Scope, *, name: str, text: str, purpose: str, enabled: bool,
               priority: int, unit_code: str, query_id: int | None = None) -> WatchQuery:
    unit = session.scalar(select(Unit).where(Unit.code == unit_code)) if unit_code else None
    if unit is None or not scope.can("admin", unit.id):
        raise WatchQueryError(N_("Choose one of your units."))
    name = name.strip()
    if not name:
        raise WatchQueryError(N_("Give the query a name."))
    if purpose not in PURPOSES:
        raise WatchQueryError(N_("Unknown purpose '{purpose}'."), purpose=purpose)
    check = check_query(text)
    if not check.ok:
        raise WatchQueryError(N_("The query does not parse: {reason} (at character {position})."),
                              reason=check.reason, position=(check.position or 0) + 1)
    clash = session.scalar(select(WatchQuery.id).where(WatchQuery.name == name))
    if query_id is None:
        if clash is not None:
            raise WatchQueryError(N_("A watch query named '{name}' exists already."), name=name)
        row = WatchQuery(name=name, query=text)
        session.add(row)
        before = None
    else:
        row = get_query(session, scope, query_id)
        if clash is not None and clash != row.id:
            raise WatchQueryError(N_("A watch query named '{name}' exists already."), name=name)
        before = _snapshot(row)
    row.name, row.query, row.purpose, row.enabled, row.priority = name, text, purpose, enabled, priority
    row.unit_id = unit.id
    session.flush()
    record_saved(session, actor, "watch_query", object_type="watch_query", object_id=row.name, unit_id=row.unit_id,
                 before=before, after=_snapshot(row))
    return row
