"""Stories: one piece and all its reposts (转载), with its first publisher and spread over time.

``story_spread`` is the one place that answers "how fast is this spreading": the risk score and
the digest read it; ``presswatch stories`` prints it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Integer, bindparam, case, func, insert, select, update
from sqlalchemy.orm import Session

from accounts.audit import Actor, as_actor
from models import Article, Outlet, Story, UTCDateTime, utcnow
from models.scope import Scope


def create_story(session: Session, *, article_id: int, title: str, lang: str, outlet_id: int | None,
                 seen_at: datetime) -> int:
    now = utcnow()
    story_id = session.connection().execute(_INSERT_STORY, {
        "title": title[:2000] or "(untitled)", "lang": lang, "first_article_id": article_id,
        "first_outlet_id": outlet_id, "first_seen_at": seen_at, "last_seen_at": seen_at,
        "article_count": 1, "outlet_count": 1, "created_at": now, "updated_at": now,
    }).scalar_one()
    return int(story_id)


_INSERT_STORY = insert(Story).returning(Story.id)


def _outlet_count_expr() -> Any:
    """Distinct outlets carrying the story; articles of unknown outlet count as one more."""
    distinct = (
        select(func.count(func.distinct(Article.outlet_id)))
        .where(Article.story_id == Story.id).correlate(Story).scalar_subquery()
    )
    unknown = (
        select(func.count()).where(Article.story_id == Story.id, Article.outlet_id.is_(None))
        .correlate(Story).scalar_subquery()
    )
    return distinct + case((unknown > 0, 1), else_=0)


def _outlet_count_with_expr(outlet: Any) -> Any:
    """``_outlet_count_expr`` counting one more article, of ``outlet``, that the statement cannot
    see yet (it is inserted by the same statement)."""
    in_story = Article.story_id == Story.id
    distinct = select(func.count(func.distinct(Article.outlet_id))).where(in_story).correlate(Story).scalar_subquery()
    outlet_seen = select(Article.id).where(in_story, Article.outlet_id == outlet).correlate(Story).exists()
    unknown_seen = select(Article.id).where(in_story, Article.outlet_id.is_(None)).correlate(Story).exists()
    return (distinct + case((outlet.is_not(None) & ~outlet_seen, 1), else_=0)
            + case((outlet.is_(None) | unknown_seen, 1), else_=0))


def _add_statement(story_id: Any = None, article_id: Any = None) -> Any:
    """The UPDATE counting an article in its story. ``story_id`` / ``article_id``: expressions in
    place of the bound parameters, for a statement that inserts the article itself (the outlet
    count then adds the article's outlet, which the statement does not see)."""
    seen = bindparam("seen", type_=UTCDateTime())
    earlier = seen < Story.first_seen_at
    outlet = bindparam("b_outlet", type_=Integer())
    pending = story_id is not None
    return (
        update(Story)
        .where(Story.id == (story_id if pending else bindparam("b_story")))
        .values(
            article_count=Story.article_count + 1,
            last_seen_at=case((seen > Story.last_seen_at, seen), else_=Story.last_seen_at),
            # A repost crawled first but published later must not stay the first publisher.
            first_article_id=case((earlier, article_id if pending else bindparam("b_article")),
                                  else_=Story.first_article_id),
            first_outlet_id=case((earlier, outlet), else_=Story.first_outlet_id),
            title=case((earlier, bindparam("b_title")), else_=Story.title),
            first_seen_at=case((earlier, seen), else_=Story.first_seen_at),
            outlet_count=_outlet_count_with_expr(outlet) if pending else _outlet_count_expr(),
            updated_at=bindparam("b_now", type_=UTCDateTime()),
        )
        .execution_options(synchronize_session=False)
    )


def add_params(*, story_id: int, article_id: int | None, outlet_id: int | None, seen_at: datetime,
               title: str) -> dict[str, Any]:
    return {"b_story": story_id, "seen": seen_at, "b_article": article_id, "b_outlet": outlet_id,
            "b_title": title[:2000] or "(untitled)", "b_now": utcnow()}


_ADD = _add_statement()


def add_to_story(session: Session, story_id: int, *, article_id: int, outlet_id: int | None,
                 seen_at: datetime, title: str) -> None:
    """Count one more article (already stored with ``story_id``) in the story: one UPDATE, atomic
    on both backends, so workers adding reposts of the same story at once never lose a count."""
    params = add_params(story_id=story_id, article_id=article_id, outlet_id=outlet_id, seen_at=seen_at, title=title)
    session.connection().execute(_ADD, params)


def recount_story(session: Session, story_id: int) -> None:
    """Recompute a story's counters and first publisher from its articles (after a merge)."""
    rows = session.execute(
        select(Article.id, Article.outlet_id, Article.title, Article.published_at, Article.fetched_at)
        .where(Article.story_id == story_id)
    ).all()
    if not rows:
        return
    first = min(rows, key=lambda r: (r.published_at or r.fetched_at, r.id))
    seen = [r.published_at or r.fetched_at for r in rows]
    session.execute(
        update(Story).where(Story.id == story_id).values(
            article_count=len(rows), first_article_id=first.id, first_outlet_id=first.outlet_id,
            first_seen_at=min(seen), last_seen_at=max(seen), outlet_count=count_outlets(session, story_id),
            updated_at=utcnow(),
        ).execution_options(synchronize_session=False)
    )


def count_outlets(session: Session, story_id: int) -> int:
    return int(session.scalar(select(_outlet_count_expr()).where(Story.id == story_id)) or 1)


@dataclass
class StorySpread:
    story_id: int
    title: str
    lang: str
    first_seen_at: datetime
    last_seen_at: datetime
    first_outlet: str | None
    article_count: int
    outlets: list[str] = field(default_factory=list)
    # (hour start UTC, articles first seen in that hour), consecutive hours from the first to the last.
    per_hour: list[tuple[datetime, int]] = field(default_factory=list)

    @property
    def reposts(self) -> int:
        return max(0, self.article_count - 1)

    @property
    def peak_per_hour(self) -> int:
        return max((n for _, n in self.per_hour), default=0)

    def reposts_in_last(self, hours: int, now: datetime | None = None) -> int:
        since = (now or utcnow()) - timedelta(hours=hours)
        return sum(n for start, n in self.per_hour if start + timedelta(hours=1) > since)


def _hour(at: datetime) -> datetime:
    return at.replace(minute=0, second=0, microsecond=0)


MAX_SPREAD_HOURS = 24 * 30  # a story that keeps coming back for months is bucketed over its last 30 days


def story_spread(session: Session, story_id: int) -> StorySpread | None:
    """The story's spread: articles per hour (by publication time, fetch time when unknown) and outlets."""
    story = session.get(Story, story_id)
    if story is None:
        return None
    rows = session.execute(
        select(Article.published_at, Article.fetched_at, Article.outlet_id, Outlet.name)
        .outerjoin(Outlet, Outlet.id == Article.outlet_id)
        .where(Article.story_id == story_id)
    ).all()
    first_outlet = session.scalar(select(Outlet.name).where(Outlet.id == story.first_outlet_id)) \
        if story.first_outlet_id else None
    outlets: list[str] = []
    counts: dict[datetime, int] = {}
    for row in rows:
        at = row.published_at or row.fetched_at
        counts[_hour(at)] = counts.get(_hour(at), 0) + 1
        if row.name and row.name not in outlets:
            outlets.append(row.name)
    per_hour: list[tuple[datetime, int]] = []
    if counts:
        end = max(counts)
        start = max(min(counts), end - timedelta(hours=MAX_SPREAD_HOURS))
        hour = start
        while hour <= end:
            per_hour.append((hour, counts.get(hour, 0)))
            hour += timedelta(hours=1)
    return StorySpread(
        story_id=story.id, title=story.title, lang=story.lang, first_seen_at=story.first_seen_at,
        last_seen_at=story.last_seen_at, first_outlet=first_outlet, article_count=len(rows) or story.article_count,
        outlets=outlets, per_hour=per_hour,
    )


def list_stories(session: Session, since: datetime | None = None, limit: int = 50,
                 min_articles: int = 1) -> list[StorySpread]:
    """Stories last seen since ``since``, most articles first."""
    query = select(Story.id).where(Story.article_count >= min_articles)
    if since is not None:
        query = query.where(Story.last_seen_at >= since)
    query = query.order_by(Story.article_count.desc(), Story.last_seen_at.desc()).limit(limit)
    out = []
    for story_id in session.scalars(query):
        spread = story_spread(session, story_id)
        if spread is not None:
            out.append(spread)
    return out


# --- Representatives' keys, merges and splits -----------------------------------------------------
#
# One function per decision, called by the pipeline (auto_merge), the CLI (``presswatch stories
# merge|split|undo``) and the web page (/stories/{id}) alike. ``actor`` is who decides (an
# ``accounts.audit.Actor``, or a name); a person's decision is also an audit-log entry. ``scope``
# (the web): the decision is refused as "no story #n" unless the scope may triage a story it sees.
# Every decision is a ``story_decisions`` row with the articles it moved, so it can be undone; an
# analyst's split binds the pipeline (the two stories are never merged again automatically:
# ``dedupe.kept_apart``), and an analyst's merge keeps both stories' representatives, so new
# reposts of either still join the merged story.


class StoryDecisionError(ValueError):
    """A merge, split or undo that cannot be done as asked (the message says why)."""


def _rep_piece(session: Session, article_id: int) -> Any:
    from pipeline.dedupe import StoryPiece
    from pipeline.fingerprint import Fingerprint

    row = session.execute(select(Article.match_text, Article.lang, Article.fingerprint)
                          .where(Article.id == article_id)).first()
    if row is None:
        return None
    fp = Fingerprint.from_bytes(row.fingerprint) if row.fingerprint else None
    return StoryPiece(row.match_text or "", row.lang, fp)


def add_story_keys(session: Session, story_id: int, article_id: int, piece: Any = None) -> None:
    """Make ``article_id`` a representative of the story: store its keys (``dedupe.StoryPiece.rep_keys``).
    ``piece``: its ``StoryPiece`` when the caller has it (else it is read)."""
    from models import StoryKey
    from pipeline.upsert import insert_for_dialect

    piece = piece if piece is not None else _rep_piece(session, article_id)
    keys = piece.rep_keys() if piece is not None else []
    if not keys:
        return
    stmt = insert_for_dialect(session.get_bind().dialect.name, StoryKey).on_conflict_do_nothing(
        index_elements=["key", "story_id", "article_id"])
    session.connection().execute(stmt, [{"key": k, "story_id": story_id, "article_id": article_id} for k in keys])


def refresh_rep_keys(session: Session, article_id: int) -> None:
    """An edited article (same URL, new text) that represents stories: its keys follow its text."""
    from sqlalchemy import delete

    from models import StoryKey

    story_ids = list(session.scalars(select(StoryKey.story_id).where(StoryKey.article_id == article_id).distinct()))
    if not story_ids:
        return
    session.execute(delete(StoryKey).where(StoryKey.article_id == article_id)
                    .execution_options(synchronize_session=False))
    piece = _rep_piece(session, article_id)
    for story_id in story_ids:
        add_story_keys(session, story_id, article_id, piece)


def reindex_story_keys(session: Session, since: datetime) -> int:
    """Store the keys of the first publisher of every story seen since ``since`` that has none
    (stories stored before migration 0030). Returns how many stories got keys."""
    from models import StoryKey

    keyed = select(StoryKey.story_id).where(StoryKey.story_id == Story.id).exists()
    rows = session.execute(
        select(Story.id, Story.first_article_id)
        .where(Story.last_seen_at >= since, Story.merged_into_id.is_(None), Story.first_article_id.is_not(None), ~keyed)
    ).all()
    for story_id, article_id in rows:
        if article_id is not None:  # the query's condition; mypy cannot see it
            add_story_keys(session, story_id, article_id)
    return len(rows)


def _ensure_first_is_rep(session: Session, story_id: int) -> None:
    from models import StoryKey

    first = session.scalar(select(Story.first_article_id).where(Story.id == story_id))
    if first is not None and session.scalar(select(StoryKey.key).where(
            StoryKey.story_id == story_id, StoryKey.article_id == first).limit(1)) is None:
        add_story_keys(session, story_id, first)


def _live_story(session: Session, story_id: int) -> Any:
    row = session.execute(select(Story.id, Story.merged_into_id).where(Story.id == story_id)).first()
    if row is None:
        raise StoryDecisionError(f"no story #{story_id}")
    if row.merged_into_id is not None:
        raise StoryDecisionError(f"story #{story_id} was merged into #{row.merged_into_id}")
    return row


def live_stories(session: Session, story_ids: list[int]) -> list[int]:
    """Those of ``story_ids`` that exist and were not merged into another, in the given order."""
    live = set(session.scalars(select(Story.id).where(Story.id.in_(story_ids), Story.merged_into_id.is_(None))))
    return [s for s in story_ids if s in live]


def _decision(session: Session, kind: str, story_id: int, other_id: int, moved: list[int], actor: Actor,
              reason: str, scope: Scope | None = None) -> int:
    from accounts.audit import record
    from models import StoryDecision

    decision = StoryDecision(kind=kind, story_id=story_id, other_story_id=other_id, article_ids=sorted(moved),
                             actor=actor.username[:100], reason=reason)
    session.add(decision)
    session.flush()
    if kind != "auto_merge":  # a person's decision: the audit log too, under their organization
        record(session, actor, f"story.{kind}", unit_id=scope.acting_unit("triage") if scope is not None else None,
               object_type="story", object_id=story_id,
               after={"decision": decision.id, "other_story": other_id, "articles": sorted(moved)},
               note=reason[:1000])
    return decision.id


def _check_scope(session: Session, story_ids: list[int], scope: Scope | None) -> None:
    """Refuse, as if they did not exist, stories the scope may not triage (another organization's)."""
    if scope is None or scope.superuser:
        return
    from classify.visibility import story_visible

    triage = scope.for_action("triage")
    for story_id in story_ids:
        if not story_visible(session, story_id, triage):
            raise StoryDecisionError(f"no story #{story_id}")


def _move(session: Session, article_ids: list[int], from_story: int, to_story: int) -> list[int]:
    """Move those of ``article_ids`` still in ``from_story`` (and their representative keys)."""
    from models import StoryKey

    moved = list(session.scalars(select(Article.id).where(Article.story_id == from_story, Article.id.in_(article_ids))))
    if moved:
        session.execute(update(Article).where(Article.id.in_(moved)).values(story_id=to_story)
                        .execution_options(synchronize_session=False))
        session.execute(update(StoryKey).where(StoryKey.story_id == from_story, StoryKey.article_id.in_(moved))
                        .values(story_id=to_story).execution_options(synchronize_session=False))
    return moved


def merge_stories(session: Session, into: int, others: list[int], *, actor: Actor | str = "pipeline",
                  reason: str = "", kind: str = "merge", scope: Scope | None = None) -> list[int]:
    """Merge ``others`` into the story ``into``: their articles and representatives move there, each
    merged story is kept (empty, ``merged_into_id`` set) so the merge can be undone. ``kind``:
    ``merge`` (an analyst) or ``auto_merge`` (the pipeline). Returns the decision ids."""
    who = as_actor(actor)
    _check_scope(session, [into, *others], scope)
    _live_story(session, into)
    decisions = []
    for other in others:
        if other == into:
            raise StoryDecisionError(f"cannot merge story #{into} into itself")
        _live_story(session, other)
        ids = list(session.scalars(select(Article.id).where(Article.story_id == other)))
        moved = _move(session, ids, other, into)
        session.execute(update(Story).where(Story.id == other)
                        .values(merged_into_id=into, article_count=0, updated_at=utcnow())
                        .execution_options(synchronize_session=False))
        decisions.append(_decision(session, kind, into, other, moved, who, reason, scope))
    recount_story(session, into)
    _ensure_first_is_rep(session, into)
    return decisions


def split_story(session: Session, story_id: int, article_ids: list[int], *, actor: Actor | str, reason: str = "",
                scope: Scope | None = None) -> int:
    """Move ``article_ids`` out of ``story_id`` into a new story (its first publisher: the earliest
    of them). The two stories are kept apart from then on. Returns the new story's id."""
    _check_scope(session, [story_id], scope)
    _live_story(session, story_id)
    members = set(session.scalars(select(Article.id).where(Article.story_id == story_id)))
    wanted = set(article_ids)
    if not wanted:
        raise StoryDecisionError("name the articles to split off")
    if not wanted <= members:
        raise StoryDecisionError(f"not in story #{story_id}: {sorted(wanted - members)}")
    if wanted == members:
        raise StoryDecisionError(f"that is every article of story #{story_id}: nothing would be left")
    first = session.execute(
        select(Article.id, Article.title, Article.lang, Article.outlet_id, Article.published_at, Article.fetched_at)
        .where(Article.id.in_(wanted)).order_by(func.coalesce(Article.published_at, Article.fetched_at), Article.id)
    ).first()
    assert first is not None
    new_id = create_story(session, article_id=first.id, title=first.title, lang=first.lang,
                          outlet_id=first.outlet_id, seen_at=first.published_at or first.fetched_at)
    moved = _move(session, sorted(wanted), story_id, new_id)
    recount_story(session, new_id)
    recount_story(session, story_id)
    _ensure_first_is_rep(session, new_id)
    _ensure_first_is_rep(session, story_id)
    _decision(session, "split", story_id, new_id, moved, as_actor(actor), reason, scope)
    return new_id


def undo_decision(session: Session, decision_id: int, *, actor: Actor | str, scope: Scope | None = None) -> None:
    """Undo a merge (the merged story gets back the articles it brought) or a split (the articles
    go back), and mark the decision undone. Articles that moved again since stay where they are."""
    from models import StoryDecision

    decision = session.get(StoryDecision, decision_id)
    if decision is None:
        raise StoryDecisionError(f"no decision #{decision_id}")
    kept, other = decision.story_id, decision.other_story_id
    _check_scope(session, [kept], scope)
    if decision.undone_at is not None:
        raise StoryDecisionError(f"decision #{decision_id} was undone already")
    if decision.kind in ("merge", "auto_merge"):
        _move(session, list(decision.article_ids), kept, other)
        session.execute(update(Story).where(Story.id == other).values(merged_into_id=None)
                        .execution_options(synchronize_session=False))
    else:
        _move(session, list(decision.article_ids), other, kept)
        session.execute(update(Story).where(Story.id == other).values(merged_into_id=kept, article_count=0)
                        .execution_options(synchronize_session=False))
    for sid in (kept, other):
        recount_story(session, sid)
        _ensure_first_is_rep(session, sid)
    decision.undone_at = utcnow()
    _decision(session, "undo", kept, other, list(decision.article_ids), as_actor(actor),
              f"undo of decision #{decision_id}", scope)
    session.flush()


@dataclass(frozen=True)
class Member:
    id: int
    title: str
    published_at: datetime
    rule: str  # how it joined: first / exact_repost / near_repost / headline_repost / moved
    outlet_id: int | None = None
    outlet: str | None = None  # the outlet's name


def story_members(session: Session, story_id: int) -> list[Member]:
    """A story's articles, earliest first, with how each joined and their outlet."""
    rows = session.execute(
        select(Article.id, Article.title, Article.published_at, Article.fetched_at, Article.flags,
               Article.outlet_id, Outlet.name)
        .outerjoin(Outlet, Outlet.id == Article.outlet_id)
        .where(Article.story_id == story_id)
        .order_by(func.coalesce(Article.published_at, Article.fetched_at), Article.id)
    ).all()
    first = session.scalar(select(Story.first_article_id).where(Story.id == story_id))
    out = []
    for r in rows:
        rules = [f for f in (r.flags or []) if f.endswith("_repost")]
        rule = "first" if r.id == first else (rules[0] if rules else "moved")
        out.append(Member(r.id, r.title, r.published_at or r.fetched_at, rule, r.outlet_id, r.name))
    return out


@dataclass(frozen=True)
class TimelineHour:
    start: datetime  # the hour's start, UTC
    articles: int  # articles first seen in that hour
    outlets: int  # distinct outlets that had carried the story by the end of the hour


def story_timeline(members: list[Member], max_hours: int = MAX_SPREAD_HOURS) -> list[TimelineHour]:
    """Articles per hour and the distinct outlets carrying the story so far, hour by hour from the
    first article to the last (the last ``max_hours`` of them when a story runs longer). An article
    of unknown outlet counts as an outlet of its own."""
    if not members:
        return []
    counts: dict[datetime, int] = {}
    outlets_by_hour: dict[datetime, set[Any]] = {}
    for m in members:
        hour = _hour(m.published_at)
        counts[hour] = counts.get(hour, 0) + 1
        outlets_by_hour.setdefault(hour, set()).add(m.outlet_id if m.outlet_id is not None else ("article", m.id))
    end = max(counts)
    first = min(counts)
    start = max(first, end - timedelta(hours=max_hours))
    seen: set[Any] = set()
    for hour in sorted(h for h in outlets_by_hour if h < start):
        seen |= outlets_by_hour[hour]
    out = []
    hour = start
    while hour <= end:
        seen |= outlets_by_hour.get(hour, set())
        out.append(TimelineHour(hour, counts.get(hour, 0), len(seen)))
        hour += timedelta(hours=1)
    return out


def first_negative(session: Session, story_id: int) -> int | None:
    """The story's earliest article whose current classification is negative: where the negative
    framing started (None when no article is classified negative)."""
    from models import Classification
    from models.enums import SentimentLabel

    return session.scalar(
        select(Article.id).join(Classification, Classification.article_id == Article.id)
        .where(Article.story_id == story_id, Classification.is_current.is_(True),
               Classification.sentiment == SentimentLabel.NEGATIVE)
        .order_by(func.coalesce(Article.published_at, Article.fetched_at), Article.id).limit(1)
    )


def similar_stories(session: Session, story_id: int, scope: Scope, limit: int = 5) -> list[Story]:
    """Other live stories the pipeline would verify the story's first publisher against (sharing its
    lookup keys): the candidates an analyst may want to merge. Only stories ``scope`` sees."""
    from classify.visibility import story_visible
    from pipeline.dedupe import story_candidates

    first = session.scalar(select(Story.first_article_id).where(Story.id == story_id))
    piece = _rep_piece(session, first) if first is not None else None
    if piece is None:
        return []
    ids = list(dict.fromkeys(c.story_id for c in story_candidates(session, piece) if c.story_id != story_id))
    out = []
    for other in live_stories(session, ids):
        if story_visible(session, other, scope):
            row = session.get(Story, other)
            if row is not None:
                out.append(row)
        if len(out) >= limit:
            break
    return out


def story_decisions(session: Session, story_id: int) -> list[Any]:
    """The decisions about a story, oldest first."""
    from models import StoryDecision

    return list(session.scalars(
        select(StoryDecision)
        .where((StoryDecision.story_id == story_id) | (StoryDecision.other_story_id == story_id))
        .order_by(StoryDecision.id)
    ))
