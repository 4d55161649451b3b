"""Build a digest's content for one period: the rows ``queries.py`` reads, assembled into the
:class:`~alerts.digest.content.DigestData` (``content.py``) the templates, the chart and the report
exporters read, with local times already converted to the digest's time zone. What is flagged
(:func:`is_flagged`) and what is listed first are decided here."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

from alerts.digest.content import (
    HIGH_RISK,
    DayPoint,
    DigestData,
    Headline,
    Item,
    OwnPiece,
    SourceProblem,
    StoryItem,
    TopicRow,
    explain_reasons,
    make_extract,
    topic_names,
)
from alerts.digest.definitions import SECTIONS, DigestDefinition, Limits, Scope
from alerts.digest.periods import Period, day_bounds
from alerts.digest.queries import (
    _IN_CHUNK,
    LATE_ARRIVAL,
    LATE_ARRIVAL_DAYS,
    LATE_KINDS,
    _alerted,
    _arrives_later,
    _case_states,
    _chunks,
    _counts,
    _late_rows,
    _load_rows,
    _moved_out,
    _outlet_names,
    _pairs,
    _Row,
    _ScopeFilter,
    _tally,
    _unit_subtree,
    _values,
)
from classify.taxonomy import topic_label
from models import Article, Classification, Registration, Source, Story
from models.enums import RISK_LEVELS_DESC, RegistrationState, SentimentLabel, risk_rank

__all__ = [
    "LATE_ARRIVAL", "LATE_ARRIVAL_DAYS", "LATE_KINDS", "DayPoint", "DigestData", "Headline", "Item", "OwnPiece",
    "SourceProblem", "StoryItem", "TopicRow", "build_digest", "build_for_definition", "explain_reasons", "is_flagged",
    "make_extract", "topic_names",
]

CHART_DAYS = 14


def _flag_key(row: _Row) -> tuple[int, int, float, datetime]:
    return (risk_rank(row.risk), row.sentiment == "negative", row.risk_score, row.published_at)


def is_flagged(row: _Row, alerted: frozenset[str] = frozenset()) -> bool:
    """High or critical risk, negative, or an alert rule fired on the piece or its story (a case
    not dismissed as a false alarm): what the duty team saw in real time, the digest shows too."""
    return (
        row.risk in HIGH_RISK or row.sentiment == SentimentLabel.NEGATIVE.value
        or f"a{row.id}" in alerted or (row.story_id is not None and f"s{row.story_id}" in alerted)
    )


def build_digest(
    session: Session,
    *,
    period: Period,
    scope: Scope | None = None,
    language: str = "zh-CN",
    name: str = "preview",
    title: str = "",
    sections: Sequence[str] = SECTIONS,
    limits: Limits | None = None,
    now: datetime | None = None,
    chart_days: int = CHART_DAYS,
    with_outlets: bool = False,
) -> DigestData:
    """Everything one digest (or report) shows for ``period``; ``now`` is only the "generated" stamp."""
    from alerts.digest.i18n import strings

    scope = scope or Scope()
    limits = limits or Limits()
    zone = ZoneInfo(period.tz)
    now = (now or datetime.now(UTC)).astimezone(zone)
    flt = _ScopeFilter(session, scope)

    previous = period.previous()
    last_day = (period.end - timedelta(microseconds=1)).astimezone(zone).date()
    days = [last_day - timedelta(days=i) for i in range(chart_days - 1, -1, -1)] if chart_days else []

    if flt.python_only:
        # Topic or watch-query scope: rows are filtered in Python, so one range read covers the
        # chart's days, this period and the previous one.
        window_start = min([previous.start, period.start] + ([day_bounds(days[0], period.tz)[0]] if days else []))
        window_end = max([period.end] + ([day_bounds(days[-1], period.tz)[1]] if days else []))
        rows = _load_rows(session, flt, window_start, window_end)
        published = [r for r in rows if period.start <= r.published_at < period.end]
        before = [
            r for r in rows if previous.start <= r.published_at < previous.end and not _arrives_later(r, previous)
        ]
        prev_counts = _tally(before + _late_rows(session, flt, previous))
        per_day: dict[date, list[int]] = {d: [0, 0] for d in days}
        for r in rows:
            d = r.published_at.astimezone(zone).date()
            if d in per_day:
                per_day[d][0] += 1
                per_day[d][1] += r.sentiment == "negative"
        series = [DayPoint(d, *per_day[d]) for d in days]
    else:
        # Otherwise only this period's rows travel; the previous period and the chart's days are
        # counted by the database (one grouped range scan each).
        published = _load_rows(session, flt, period.start, period.end)
        # The previous period by the same rule: what the database counts by publication time, less
        # the pieces that were this period's (or a later one's) late arrivals, plus its own.
        counted = _counts(session, flt, [previous.start, previous.end])[0]
        out, late_before = _tally(_moved_out(session, flt, previous)), _tally(_late_rows(session, flt, previous))
        prev_counts = (
            counted[0] - out[0] + late_before[0],
            counted[1] - out[1] + late_before[1],
            counted[2] - out[2] + late_before[2],
        )
        bounds = [day_bounds(days[0], period.tz)[0]] + [day_bounds(d, period.tz)[1] for d in days] if days else []
        series = [DayPoint(d, c[0], c[1]) for d, c in zip(days, _counts(session, flt, bounds), strict=True)]

    # This period's pieces: those published in it, less the ones stored after it ended that a later
    # digest lists as late arrivals, plus its own late arrivals.
    published_later = [r for r in published if _arrives_later(r, period)]
    current = [r for r in published if not _arrives_later(r, period)] + _late_rows(session, flt, period)
    risk_counts = Counter(r.risk for r in current)
    headline = Headline(
        pieces=len(current),
        negative=sum(r.sentiment == "negative" for r in current),
        risk_counts={level: risk_counts.get(level, 0) for level in RISK_LEVELS_DESC},
        outlets=len({r.outlet_id for r in current if r.outlet_id is not None}),
        stories=len({r.story_id or -r.id for r in current}),
        own_pieces=0,
        previous_pieces=prev_counts[0],
        previous_negative=prev_counts[1],
        previous_high_risk=prev_counts[2],
        late=sum(r.late for r in current),
    )
    data = DigestData(
        name=name, title=title or strings(language)["digest_title"], language=language, tz=period.tz,
        period=period, generated_at=now, sections=list(sections), headline=headline, series=series,
    )

    # Flagged items, worst first; a story's reposts appear once (its worst piece, with the spread).
    flagged_rows: list[_Row] = []
    seen_stories: set[int] = set()
    alerted = _alerted(session, current)
    for r in sorted((r for r in current if is_flagged(r, alerted)), key=_flag_key, reverse=True):
        if r.story_id is not None:
            if r.story_id in seen_stories:
                continue
            seen_stories.add(r.story_id)
        flagged_rows.append(r)
    data.flagged_total = len(flagged_rows)
    flagged_rows = flagged_rows[: limits.flagged]

    story_rows: dict[int, list[_Row]] = defaultdict(list)
    for r in current:
        if r.story_id is not None:
            story_rows[r.story_id].append(r)
    # Stories whose only pieces in the published range arrive later are not this digest's.
    moved_ids = {r.story_id for r in published_later if r.story_id is not None} - set(story_rows)
    top_stories = _top_stories(session, list(story_rows), limits.stories, flt, period, len(moved_ids))

    states = _case_states(
        session,
        [r.id for r in flagged_rows],
        sorted({r.story_id for r in flagged_rows if r.story_id} | set(top_stories)),
    )
    data.flagged = _items(session, flagged_rows, zone, states, language)

    if top_stories:
        first_ids = [s.first_article_id for s in top_stories.values() if s.first_article_id]
        urls = _pairs(session.execute(select(Article.id, Article.url).where(Article.id.in_(first_ids))))
        outlets = _outlet_names(session, [s.first_outlet_id for s in top_stories.values()])
        for story in sorted(top_stories.values(), key=lambda s: (-s.outlet_count, -s.article_count, s.id)):
            srows = story_rows[story.id]
            worst = max(srows, key=_flag_key)
            data.stories.append(
                StoryItem(
                    story_id=story.id, title=story.title, url=urls.get(story.first_article_id or -1, ""),
                    first_outlet=outlets.get(story.first_outlet_id or -1, ""), outlets=story.outlet_count,
                    articles=story.article_count, period_articles=len(srows),
                    first_seen=story.first_seen_at.astimezone(zone),
                    sentiment="negative" if any(r.sentiment == "negative" for r in srows) else worst.sentiment,
                    risk=max((r.risk for r in srows), key=risk_rank),
                    case_state=states.get(f"s{story.id}"), article_id=story.first_article_id,
                )
            )

    topic_count: Counter[str] = Counter()
    topic_negative: Counter[str] = Counter()
    for r in current:
        for name_ in set(r.topics):
            topic_count[name_] += 1
            topic_negative[name_] += r.sentiment == "negative"
    data.topics = [
        TopicRow(n, c, topic_negative[n], name=topic_label(n, language))
        for n, c in sorted(topic_count.items(), key=lambda kv: (-kv[1], kv[0]))[: limits.topics]
    ]

    data.organization = organization_name(session, scope)
    data.channels = _channels(session, current)
    data.own_pieces, headline.own_pieces = _own_pieces(session, scope, period, zone, limits.own_pieces)
    data.source_problems, data.sources_total = _source_health(session, scope, zone)

    if with_outlets:
        per_outlet: dict[int | None, list[int]] = defaultdict(lambda: [0, 0])
        for r in current:
            per_outlet[r.outlet_id][0] += 1
            per_outlet[r.outlet_id][1] += r.sentiment == "negative"
        names = _outlet_names(session, per_outlet)
        data.outlet_counts = sorted(
            ((names.get(k or -1, "?"), v[0], v[1]) for k, v in per_outlet.items()), key=lambda t: (-t[1], t[0])
        )
    return data


CHANNELS = ("news", "social", "own")
SOCIAL_CHANNELS = frozenset({"wechat", "weibo", "social"})


def channel_of(tier: str | None, channel: str | None) -> str:
    """news / social / own for an outlet: its own channel (tier own_channel) first, then social media
    (WeChat, Weibo, other social), everything else news."""
    if str(tier or "") == "own_channel":
        return "own"
    return "social" if str(channel or "") in SOCIAL_CHANNELS else "news"


def _channels(session: Session, rows: Sequence[_Row]) -> dict[str, tuple[int, int]]:
    from models import Outlet

    ids = sorted({r.outlet_id for r in rows if r.outlet_id is not None})
    kinds: dict[int, str] = {}
    for chunk in _chunks(ids):
        stmt = select(Outlet.id, Outlet.tier, Outlet.channel).where(Outlet.id.in_(chunk))
        for oid, tier, chan in session.execute(stmt):
            kinds[oid] = channel_of(_values(tier), _values(chan))
    out = {c: [0, 0] for c in CHANNELS}
    for r in rows:
        bucket = out[kinds.get(r.outlet_id, "news") if r.outlet_id is not None else "news"]
        bucket[0] += 1
        bucket[1] += r.sentiment == "negative"
    return {c: (v[0], v[1]) for c, v in out.items()}


def organization_name(session: Session, scope: Scope) -> str:
    """The organization a digest speaks for: the root above the first unit its scope names, else the
    installation's single root unit; '' when neither is known."""
    from models import Unit
    from models.scope import default_unit_id, root_of

    unit_id = None
    for code in scope.units:
        unit_id = session.scalar(select(Unit.id).where(Unit.code == code))
        if unit_id is not None:
            break
    if unit_id is None:
        unit_id = default_unit_id(session)
    if unit_id is None:
        return ""
    root = session.get(Unit, root_of(session, unit_id))
    return root.name if root is not None else ""


def _top_stories(
    session: Session, story_ids: list[int], limit: int, flt: _ScopeFilter, period: Period, extra: int = 0
) -> dict[int, Story]:
    """The ``limit`` stories with the widest spread among ``story_ids`` (carried by 2+ outlets or pieces)."""
    if not story_ids or not limit:
        return {}
    wanted = select(Story).where(or_(Story.outlet_count > 1, Story.article_count > 1))
    order = (Story.outlet_count.desc(), Story.article_count.desc(), Story.id)
    if len(story_ids) <= _IN_CHUNK or flt.python_only:
        best: list[Story] = []
        for chunk in _chunks(sorted(story_ids)):
            best.extend(session.scalars(wanted.where(Story.id.in_(chunk)).order_by(*order).limit(limit)))
    else:
        # Many stories (a long report period): let the database join the period's pieces to their
        # stories instead of sending thousands of ids back in IN lists.
        in_period_stmt = select(Article.story_id).where(
            Article.published_at >= period.start, Article.published_at < period.end
        )
        if period.kind in LATE_KINDS:
            # Late arrivals' stories too. The published range also holds pieces a later digest
            # lists (stored after the period); their stories are dropped below, so fetch that
            # many more.
            in_period_stmt = select(Article.story_id).where(
                or_(
                    and_(Article.published_at >= period.start, Article.published_at < period.end),
                    and_(Article.stored_at >= period.start, Article.stored_at < period.end,
                         Article.published_at >= period.start - LATE_ARRIVAL, Article.published_at < period.start),
                )
            )
        in_period = flt.apply(in_period_stmt)
        wanted_ids = set(story_ids)
        fetched = session.scalars(wanted.where(Story.id.in_(in_period)).order_by(*order).limit(limit + extra))
        best = [s for s in fetched if s.id in wanted_ids]
    best.sort(key=lambda s: (-s.outlet_count, -s.article_count, s.id))
    return {s.id: s for s in best[:limit]}


def _items(session: Session, rows: list[_Row], zone: ZoneInfo, states: dict[str, str], language: str) -> list[Item]:
    if not rows:
        return []
    ids = [r.id for r in rows]
    articles = {
        a.id: a
        for a in session.execute(
            select(Article.id, Article.title, Article.url, Article.text, Article.outlet_id, Article.story_id,
                   Article.published_at).where(Article.id.in_(ids))
        )
    }
    reasons = _pairs(
        session.execute(
            select(Classification.article_id, Classification.reasons).where(
                Classification.article_id.in_(ids), Classification.is_current.is_(True)
            )
        )
    )
    story_ids = sorted({a.story_id for a in articles.values() if a.story_id})
    spread = _pairs(session.execute(select(Story.id, Story.outlet_count).where(Story.id.in_(story_ids))))
    outlets = _outlet_names(session, [a.outlet_id for a in articles.values()])
    items = []
    for r in rows:
        a = articles[r.id]
        items.append(
            Item(
                article_id=a.id, title=a.title or a.url, url=a.url, outlet=outlets.get(a.outlet_id or -1, ""),
                published=a.published_at.astimezone(zone) if a.published_at else None,
                extract=make_extract(a.text), sentiment=r.sentiment, risk=r.risk, risk_score=r.risk_score,
                topics=r.topics, reasons=explain_reasons(reasons.get(a.id), language=language),
                case_state=states.get(f"a{a.id}") or (states.get(f"s{a.story_id}") if a.story_id else None),
                story_outlets=spread.get(a.story_id or -1, 1), late=r.late,
            )
        )
    return items


def _own_pieces(
    session: Session, scope: Scope, period: Period, zone: ZoneInfo, limit: int
) -> tuple[list[OwnPiece], int]:
    unit_ids, unit_names = _unit_subtree(session, scope.units)
    if not unit_ids:
        return [], 0
    pieces: list[OwnPiece] = []
    total = 0
    for chunk in _chunks(unit_ids):
        rows = session.execute(
            select(Registration.title, Registration.url, Registration.outlet_id, Registration.unit_id,
                   Registration.published_at, Registration.state)
            .where(
                Registration.unit_id.in_(chunk),
                Registration.published_at >= period.start,
                Registration.published_at < period.end,
                Registration.state != RegistrationState.REJECTED,
            )
        ).all()
        total += len(rows)
        outlets = _outlet_names(session, [r.outlet_id for r in rows])
        pieces.extend(
            OwnPiece(
                title=r.title, url=r.url or "", outlet=outlets.get(r.outlet_id or -1, ""),
                unit=unit_names.get(r.unit_id, ""), published=r.published_at.astimezone(zone), state=_values(r.state),
            )
            for r in rows
        )
    pieces.sort(key=lambda p: (p.published, p.title))
    return pieces[:limit], total


def _source_health(session: Session, scope: Scope, zone: ZoneInfo) -> tuple[list[SourceProblem], int]:
    stmt = select(Source).where(Source.enabled.is_(True)).order_by(Source.key)
    if scope.sources:
        stmt = stmt.where(Source.key.in_(scope.sources))
    sources = [
        s for s in session.scalars(stmt)
        if not scope.langs or any((s.language or "").startswith(lang) for lang in scope.langs)
    ]
    problems = [
        SourceProblem(
            key=s.key, name=s.name, health=s.health, consecutive_failures=s.consecutive_failures,
            last_success=s.last_success_at.astimezone(zone) if s.last_success_at else None,
            last_error=(s.last_error or "")[:200],
        )
        for s in sources
        if s.health in ("warning", "failing") or s.consecutive_failures > 0
    ]
    return problems, len(sources)


def build_for_definition(
    session: Session, definition: DigestDefinition, period: Period, *, now: datetime | None = None
) -> DigestData:
    return build_digest(
        session, period=period, scope=definition.scope, language=definition.language, name=definition.name,
        title=definition.title, sections=definition.sections, limits=definition.limits, now=now,
    )


__all__ = [
    "DigestData", "Headline", "Item", "OwnPiece", "SourceProblem", "StoryItem", "TopicRow",
    "build_digest", "build_for_definition", "explain_reasons", "make_extract",
]
