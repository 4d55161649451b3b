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

from models import Article, Outlet, Story, UTCDateTime, utcnow


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
