"""The overview dashboard's figures for a :class:`~models.scope.Scope` and a time window: volume and
negative share over time, the risk and sentiment mix, topics, the stories with the widest spread,
the busiest outlets, and open alerts and cases by unit. The web page (``/dashboard``, its wall mode
and a signed link's view) only draws what :func:`overview` returns.

Which pieces a scope counts (:func:`coverage_where`): exactly the pieces it sees on ``/stream``
and on the article pages, ``classify.visibility.visible_condition`` (matched by one of its watch
queries through the ``article_matches`` index, named by one of its alerts, published on one of its
own channels, or in a story it sees), so a chart's figure is the count ``/stream`` shows when the
chart is clicked.

Every figure is one indexed range read of ``articles.published_at`` (``ix_articles_published_at``):
the piece's current classification is a correlated lookup through
``ix_classifications_article_id_is_current`` kept per row by ``OFFSET 0`` (as in
``alerts.digest.queries._counts``), so the plan stays a range scan at 1M pieces.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, case, func, literal_column, select, text, true
from sqlalchemy.orm import Session

from alerts.digest.builder import channel_of
from classify.taxonomy import topic_label
from classify.visibility import visible_condition
from models import Alert, Article, Classification, Outlet, Story, Unit
from models.enums import CaseState, RiskLevel, SentimentLabel
from models.scope import Scope

WINDOWS: dict[str, timedelta] = {"24h": timedelta(hours=24), "3d": timedelta(days=3), "7d": timedelta(days=7),
                                 "30d": timedelta(days=30)}
DEFAULT_WINDOW = "7d"
RISK_ORDER = ("critical", "high", "medium", "low")
SENTIMENT_ORDER = ("negative", "neutral", "positive")
OPEN_STATES = (CaseState.NEW, CaseState.ACKNOWLEDGED, CaseState.RESPONDING)
TOP_N = 10


@dataclass
class Bucket:
    start: datetime  # local
    end: datetime  # local
    pieces: int = 0
    negative: int = 0

    @property
    def negative_share(self) -> float | None:
        return self.negative / self.pieces if self.pieces else None


@dataclass
class UnitCases:
    unit_id: int
    name: str
    new: int = 0  # open alerts nobody acknowledged yet
    in_progress: int = 0  # acknowledged or responding cases
    by_severity: dict[str, int] = field(default_factory=dict)


@dataclass
class Overview:
    window: str
    start: datetime  # UTC
    end: datetime  # UTC
    hourly: bool
    buckets: list[Bucket]
    pieces: int
    negative: int
    risk: dict[str, int]
    sentiment: dict[str, int]
    channels: dict[str, int]
    topics: list[tuple[str, str, int]]  # key, label, pieces
    stories: list[tuple[int, str, int, int, int | None]]  # id, title, outlets, articles, first article
    outlets: list[tuple[int, str, int, int]]  # id, name, pieces, negative
    units: list[UnitCases]
    open_alerts: int
    open_cases: int

    @property
    def negative_share(self) -> float | None:
        return self.negative / self.pieces if self.pieces else None


def coverage_where(scope: Scope) -> ColumnElement[bool]:
    """A SQL condition on ``Article``: the pieces the scope's dashboard counts, the ones it sees
    (``classify.visibility.visible_condition``, the condition ``/stream`` lists by)."""
    return visible_condition(scope)


def _buckets(window: str, now: datetime, tz: str) -> tuple[list[Bucket], bool]:
    zone = ZoneInfo(tz)
    local_now = now.astimezone(zone)
    if window == "24h":
        top = local_now.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
        starts = [top - timedelta(hours=24 - i) for i in range(24)]
        return [Bucket(s, s + timedelta(hours=1)) for s in starts], True
    days = WINDOWS[window].days
    today = local_now.date()
    out = []
    for i in range(days - 1, -1, -1):
        d = today - timedelta(days=i)
        start = datetime.combine(d, datetime.min.time(), zone)
        end = datetime.combine(d + timedelta(days=1), datetime.min.time(), zone)
        out.append(Bucket(start, end))
    return out, False


def _current(column: Any) -> Any:
    """The piece's current classification's ``column``, looked up per row (see the module doc)."""
    return (select(column).where(Classification.article_id == Article.id, Classification.is_current.is_(True))
            .limit(1).scalar_subquery())


def series_statement(buckets: list[Bucket], in_window: list[Any]) -> Any:
    """(bucket, sentiment * 10 + risk code, outlet id, pieces): the one grouped range scan behind the
    series, both mixes, the top outlets and the channel mix (each piece's visibility and labels are
    looked up once, not once per figure)."""
    bounds = [b.end.astimezone(UTC) for b in buckets]
    bucket = case(*[(Article.published_at < b, i) for i, b in enumerate(bounds)], else_=len(bounds) - 1)
    code = _current(
        case(*[(Classification.sentiment == s, i * 10) for i, s in enumerate(SENTIMENT_ORDER)], else_=90)
        + case(*[(Classification.risk_level == r, i) for i, r in enumerate(RISK_ORDER)], else_=9)
    )
    inner = (select(bucket.label("bucket"), code.label("code"), Article.outlet_id.label("outlet_id"))
             .where(*in_window).offset(0).subquery())
    return (select(inner.c.bucket, inner.c.code, inner.c.outlet_id, func.count())
            .group_by(inner.c.bucket, inner.c.code, inner.c.outlet_id))


def _topic_counts(session: Session, in_window: list[Any]) -> list[tuple[str, int]]:
    """(topic key, pieces) for the window, most first, from each piece's current topic list."""
    if session.get_bind().dialect.name == "postgresql":
        elem = func.jsonb_array_elements(_current(Classification.topics)).table_valued("value").lateral()
        value = elem.c.value
        name: Any = case((func.jsonb_typeof(value) == "object", value.op("->>")("name")),
                         else_=value.op("#>>")(literal_column("'{}'")))
    else:
        elem = func.json_each(_current(Classification.topics)).table_valued("value", "type")
        name = case((elem.c.type == "object", func.json_extract(elem.c.value, "$.name")), else_=elem.c.value)
    # A classifier's topic list names each topic once, so elements count pieces.
    inner = select(name.label("name")).select_from(Article).join(elem, true()).where(*in_window).subquery()
    rows = session.execute(select(inner.c.name, func.count()).where(inner.c.name.is_not(None), inner.c.name != "")
                           .group_by(inner.c.name).order_by(func.count().desc(), inner.c.name).limit(TOP_N))
    return [(str(k), int(n)) for k, n in rows]


def _value(v: Any) -> str:
    return str(getattr(v, "value", v)) if v is not None else "unknown"


def overview(session: Session, scope: Scope, *, window: str = DEFAULT_WINDOW, tz: str = "Asia/Shanghai",
             language: str = "zh-CN", now: datetime | None = None) -> Overview:
    """Every figure of the dashboard for ``scope`` over ``window`` (24h, 3d, 7d or 30d up to ``now``)."""
    if window not in WINDOWS:
        window = DEFAULT_WINDOW
    now = now or datetime.now(UTC)
    if session.get_bind().dialect.name == "postgresql":
        # The per-row classification lookups make the planner's cost estimate large enough to turn
        # on JIT compilation, which then costs more than the query (measured at 1M pieces: 1.3 s of
        # JIT for 0.1 s of execution). These are short index range scans: no JIT, for this
        # transaction only.
        session.execute(text("SET LOCAL jit = off"))
    buckets, hourly = _buckets(window, now, tz)
    # The last 24 hours reach back to this hour yesterday: its first minutes count in the first bar.
    start = min(buckets[0].start.astimezone(UTC), now - WINDOWS[window]) if hourly else buckets[0].start.astimezone(UTC)
    end = min(buckets[-1].end.astimezone(UTC), now + timedelta(seconds=1))
    in_window = [Article.published_at >= start, Article.published_at < end, coverage_where(scope)]

    # 1. Per bucket x sentiment x risk x outlet: the series, both mixes and the outlets in one range
    # scan. One lookup per piece gives both labels as one small code (sentiment * 10 + risk).
    rows = session.execute(series_statement(buckets, in_window))
    risk: Counter[str] = Counter()
    sentiment: Counter[str] = Counter()
    per_outlet: dict[int | None, list[int]] = {}
    for b, c, oid, n in rows:
        n, c = int(n), int(c) if c is not None else 99
        sent = SENTIMENT_ORDER[c // 10] if c // 10 < len(SENTIMENT_ORDER) else "unknown"
        buckets[int(b)].pieces += n
        sentiment[sent] += n
        risk[RISK_ORDER[c % 10] if c % 10 < len(RISK_ORDER) else "unknown"] += n
        tally = per_outlet.setdefault(oid, [0, 0])
        tally[0] += n
        if sent == SentimentLabel.NEGATIVE.value:
            buckets[int(b)].negative += n
            tally[1] += n

    # 2. Per outlet: the top outlets and the channel mix.
    outlet_rows = [(oid, n, negative) for oid, (n, negative) in per_outlet.items()]
    outlet_info = {o.id: o for o in session.execute(
        select(Outlet.id, Outlet.name, Outlet.tier, Outlet.channel)
        .where(Outlet.id.in_([r[0] for r in outlet_rows if r[0] is not None] or [-1])))}
    channels: Counter[str] = Counter({"news": 0, "social": 0, "own": 0})
    outlets = []
    for oid, n, negative in outlet_rows:
        info = outlet_info.get(oid)
        channels[channel_of(_value(info.tier), _value(info.channel)) if info else "news"] += int(n)
        if info is not None and oid is not None:
            outlets.append((int(oid), info.name, int(n), int(negative or 0)))
    outlets.sort(key=lambda o: (-o[2], o[1]))

    # 3. Topics: counted by the database from each piece's topic list (a JSON array of {name, score}).
    topics = [(k, topic_label(k, language), n) for k, n in _topic_counts(session, in_window)]

    # 4. Stories with pieces in the window, widest spread first.
    story_ids = select(Article.story_id).where(*in_window, Article.story_id.is_not(None))
    stories = [
        (s.id, s.title, s.outlet_count, s.article_count, s.first_article_id)
        for s in session.execute(select(Story.id, Story.title, Story.outlet_count, Story.article_count,
                                        Story.first_article_id)
                                 .where(Story.id.in_(story_ids), Story.merged_into_id.is_(None))
                                 .order_by(Story.outlet_count.desc(), Story.article_count.desc(), Story.id)
                                 .limit(TOP_N))
    ]

    # 5. Open alerts and cases by unit (small table: alerts by (unit_id, state)).
    units: dict[int, UnitCases] = {}
    names: dict[int, str] = {int(i): n for i, n in session.execute(select(Unit.id, Unit.name))}
    for unit_id, state, severity, n in session.execute(
            select(Alert.unit_id, Alert.state, Alert.severity, func.count())
            .where(Alert.state.in_(OPEN_STATES), scope.where(Alert.unit_id), Alert.unit_id.is_not(None))
            .group_by(Alert.unit_id, Alert.state, Alert.severity)):
        uid = int(unit_id or 0)
        row = units.setdefault(uid, UnitCases(uid, names.get(uid, "?")))
        if _value(state) == CaseState.NEW.value:
            row.new += int(n)
        else:
            row.in_progress += int(n)
        row.by_severity[_value(severity)] = row.by_severity.get(_value(severity), 0) + int(n)
    unit_rows = sorted(units.values(), key=lambda u: (-(u.new + u.in_progress), u.name))

    return Overview(
        window=window, start=start, end=end, hourly=hourly, buckets=buckets,
        pieces=sum(b.pieces for b in buckets), negative=sum(b.negative for b in buckets),
        risk={level: risk.get(level, 0) for level in RISK_ORDER},
        sentiment={s: sentiment.get(s, 0) for s in SENTIMENT_ORDER},
        channels=dict(channels), topics=topics, stories=stories, outlets=outlets[:TOP_N],
        units=unit_rows, open_alerts=sum(u.new for u in unit_rows), open_cases=sum(u.in_progress for u in unit_rows),
    )


__all__ = ["DEFAULT_WINDOW", "RISK_ORDER", "SENTIMENT_ORDER", "WINDOWS", "Bucket", "Overview", "RiskLevel",
           "UnitCases", "coverage_where", "overview"]
