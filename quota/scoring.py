"""Progress of each unit against each rule, per period: exact, auditable, computed in SQL.

For one rule and a set of periods, one aggregate query does the counting: registrations of the
rule's units in the periods, filtered by state (registered-only / review), outlet or tier, piece
kind, classifier topic, length and verification, are grouped first by PIECE and then by unit and
period. A piece is the crawled story it belongs to (so a repost on another outlet is the same
piece), else its article, else its URL, else outlet + title: registering it twice or registering a
repost counts it once per rule; with points, the piece scores its best weight once. A piece counts
in the period of its FIRST registration the rule accepts, so a repost registered in the next week
does not count the same story again there (registrations up to ``REPOST_HORIZON`` before the span
are read to know that). The periods are half-open UTC ranges of the organization's local midnights
(:mod:`quota.periods`), so a piece exactly on a boundary lands in one period only, by its local
publication time.

Every row carries the ids of the registrations behind it (``registration_ids``); the scores table
caches rows with those ids as evidence. Rules about "every unit of a kind" use the hierarchy as it
stood in each period (a unit moved mid-year counts under its old parent before the move).
"""

from __future__ import annotations

import hashlib
import json
import struct
from array import array
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Integer,
    String,
    and_,
    case,
    cast,
    column,
    exists,
    func,
    literal,
    literal_column,
    or_,
    select,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Session
from sqlalchemy.sql import Subquery

from models import Classification, Outlet, QuotaRule, Registration, Score, utcnow
from models.enums import Adoption, Measure, PieceKind, RegistrationState
from quota.periods import Window, local_date, parse_span, windows_overlapping
from quota.units import Hierarchy, QuotaError, get_unit

# How far before the requested span registrations are read to find a piece's first registration: a
# repost of a story registered within a month of the first counts with it, never again on its own.
REPOST_HORIZON = timedelta(days=31)

ALL_COUNTED = (RegistrationState.SUBMITTED, RegistrationState.SECTION_APPROVED, RegistrationState.LEADER_APPROVED)


@dataclass
class StatusRow:
    rule_id: int
    rule_key: str
    rule_name: str
    measure: Measure
    window: Window
    unit_id: int
    unit_code: str
    unit_name: str  # as the unit was called in that period
    unit_path: str
    target: float
    count: int = 0
    points: float = 0.0
    registration_ids: list[int] = field(default_factory=list)
    current: bool = False
    days_left: int | None = None  # for the current period: days until its last day

    @property
    def value(self) -> float:
        return self.points if self.measure is Measure.POINTS else float(self.count)

    @property
    def met(self) -> bool:
        return self.value >= self.target

    @property
    def shortfall(self) -> float:
        return max(0.0, self.target - self.value)

    @property
    def period(self) -> str:
        return self.window.label


def weight_for(weights: dict[str, Any], kind: PieceKind, adoption: Adoption) -> float:
    """Most specific first: "bulletin.standalone", then "standalone", then "bulletin", then "default"."""
    for key in (f"{kind.value}.{adoption.value}", adoption.value, kind.value, "default"):
        if key in weights:
            return float(weights[key])
    return 0.0


BASE = "quota_base"
# The columns of the registrations one rule's query reads, with their piece key (story, article, URL
# or title): :func:`_base_sql`. Registrations carry their article's story and length, so no article
# row is read here.
_BASE_COLUMNS = (
    ("id", Integer), ("unit_id", Integer), ("outlet_id", Integer), ("kind", String), ("adoption", String),
    ("state", String), ("verified_at", String), ("published_at", String), ("article_id", Integer),
    ("chars", Integer), ("piece", String),
)


def _weight_expr(rule: QuotaRule, b: Any) -> ColumnElement[Any]:
    if rule.measure is not Measure.POINTS:
        return literal(1.0)
    whens = []
    for kind in PieceKind:
        for adoption in Adoption:
            w = weight_for(rule.weights or {}, kind, adoption)
            if w:
                whens.append((and_(b.kind == kind.value, b.adoption == adoption.value), literal(w)))
    return case(*whens, else_=literal(0.0)) if whens else literal(0.0)


def _topic_condition(dialect: str, topics: Sequence[str], b: Any) -> ColumnElement[bool]:
    """The article's current classification lists one of ``topics`` (JSON differs per backend)."""
    if dialect == "postgresql":
        match: ColumnElement[bool] = or_(*(
            cast(Classification.topics, JSONB).op("@>")(
                cast(literal(json.dumps([{"name": topic}], ensure_ascii=False)), JSONB)
            )
            for topic in topics
        ))
    else:
        match = text(  # type: ignore[assignment]  # a boolean SQL fragment
            "EXISTS (SELECT 1 FROM json_each(classifications.topics) AS je "
            "WHERE json_extract(je.value, '$.name') IN (SELECT value FROM json_each(:quota_topics)))"
        ).bindparams(quota_topics=json.dumps(list(topics), ensure_ascii=False))
    return exists().where(
        Classification.article_id == b.article_id, Classification.is_current.is_(True), match
    )


def _agg_ids(dialect: str, col: ColumnElement[Any]) -> ColumnElement[str]:
    as_text = cast(col, String)
    if dialect == "postgresql":
        return func.string_agg(as_text, literal(","))
    return func.group_concat(as_text, literal(","))


def _ts(dialect: str, instant: datetime) -> str:
    """An inline timestamp literal as each backend stores it (UTC; SQLite keeps naive text)."""
    utc = instant.astimezone(UTC)
    if dialect == "postgresql":
        return f"TIMESTAMPTZ '{utc.isoformat()}'"
    return f"'{utc.replace(tzinfo=None).isoformat(sep=' ', timespec='microseconds')}'"


def _bucket_sql(dialect: str, bounds: Sequence[tuple[datetime, datetime]], col: str) -> ColumnElement[Any]:
    """Index of the period the instant in column ``col`` falls in (-1 for none).

    Rendered as inline literals: the bounds are instants computed here, never user text, and a
    52-week CASE with bound parameters costs more to compile than the query takes to run.
    """
    whens = " ".join(
        f"WHEN {col} >= {_ts(dialect, s)} AND {col} < {_ts(dialect, e)} THEN {i}" for i, (s, e) in enumerate(bounds)
    )
    return literal_column(f"(CASE {whens} ELSE -1 END)", type_=Integer)


def _states(rule: QuotaRule) -> tuple[RegistrationState, ...]:
    if rule.review_required:
        states: tuple[RegistrationState, ...] = (RegistrationState.LEADER_APPROVED,)
    else:
        states = ALL_COUNTED
    if not rule.registered_only:
        states = (*states, RegistrationState.PROPOSED)
    return states


def _base_sql(dialect: str, lo: datetime, hi: datetime, unit_ids: Iterable[int]) -> str:
    """SELECT of the registrations in ``[lo, hi)`` of these units (not rejected), with their piece key.

    Every value inlined here is an integer, an enum value or an instant computed by this module.
    """
    ids = ",".join(str(int(u)) for u in sorted(set(unit_ids))) or "NULL"
    return (
        "SELECT r.id AS id, r.unit_id AS unit_id, r.outlet_id AS outlet_id,"
        " r.kind AS kind, r.adoption AS adoption, r.state AS state, r.verified_at AS verified_at,"
        " r.published_at AS published_at, r.article_id AS article_id,"
        # Registrations get their length when verified (registry.verify), so no article text is read.
        # Unknown stays NULL: a rule with a length limit does not count a piece it cannot check.
        " r.char_count AS chars,"
        # One piece = the story (reposts), else the article, else the URL, else outlet + title.
        " COALESCE('s' || CAST(r.story_id AS VARCHAR), 'a' || CAST(r.article_id AS VARCHAR), 'u' || r.url_hash,"
        " 't' || CAST(r.outlet_id AS VARCHAR) || ':' || r.title)"
        # Byte order: grouping by piece sorts on it, and locale-aware comparison is several times slower.
        + (' COLLATE "C"' if dialect == "postgresql" else "")
        + " AS piece"
        " FROM registrations r"
        f" WHERE r.published_at >= {_ts(dialect, lo)} AND r.published_at < {_ts(dialect, hi)}"
        f" AND r.state <> '{RegistrationState.REJECTED.value}' AND r.unit_id IN ({ids})"
    )


def _inline_base(dialect: str, lo: datetime, hi: datetime, unit_ids: Iterable[int]) -> Subquery:
    """:func:`_base_sql` as a subquery, read in place by each rule's query (through the index on
    unit and publication time). Copying the year's registrations into a temporary table first
    cost more than it saved: 1.2 s against 0.7 s for a month's board of 500 units x 20 rules at
    200k registrations (bench/quota.py)."""
    return text(_base_sql(dialect, lo, hi, unit_ids)).columns(*(column(n, t) for n, t in _BASE_COLUMNS)).subquery(BASE)


def _count(
    session: Session, rule: QuotaRule, bounds: Sequence[tuple[datetime, datetime]], mapping: dict[int, int],
    with_ids: bool = True,
) -> dict[tuple[int, int], tuple[int, float, list[int]]]:
    """(target unit id, window index) -> (pieces, points, registration ids), in one query.

    ``with_ids`` false leaves the ids out (empty lists): a board of figures does not collect and
    parse the ids of a year of registrations it does not show.

    The registrations the rule accepts are grouped by piece first (its first registration, its best
    weight, all its registration ids), then the pieces by unit and by the period of that first
    registration. Pieces first registered outside these windows count nowhere here.
    """
    dialect = session.get_bind().dialect.name
    sources = sorted(mapping)
    hi = max(e for _, e in bounds)
    # Registrations up to REPOST_HORIZON before the first period decide when a piece first appeared.
    lo = min(s for s, _ in bounds) - REPOST_HORIZON
    base = _inline_base(dialect, lo, hi, sources)
    b = base.c
    unit_col: ColumnElement[Any] = b.unit_id
    target: ColumnElement[Any]
    if all(k == v for k, v in mapping.items()):
        target = unit_col
    elif len(set(mapping.values())) == 1:  # one unit with its subunits: no per-row CASE over hundreds of ids
        target = literal(next(iter(mapping.values())), type_=Integer)
    else:
        target = case(mapping, value=unit_col, else_=unit_col)
    conds: list[ColumnElement[bool]] = [b.state.in_([s.value for s in _states(rule)])]
    if rule.outlet_id is not None:
        conds.append(b.outlet_id == rule.outlet_id)
    elif rule.outlet_tier is not None:
        conds.append(b.outlet_id.in_(select(Outlet.id).where(Outlet.tier == rule.outlet_tier)))
    if rule.piece_kind is not None:
        conds.append(b.kind == rule.piece_kind.value)
    if rule.verified_only or rule.topics:
        conds.append(b.verified_at.is_not(None))
    if rule.max_chars is not None:
        conds.append(b.chars <= rule.max_chars)
    if rule.topics:
        conds.append(_topic_condition(dialect, rule.topics, b))
    pieces = (
        select(
            target.label("u"), func.min(b.published_at).label("first_at"),
            func.max(_weight_expr(rule, b)).label("wt"),
            (_agg_ids(dialect, b.id) if with_ids else literal_column("NULL", type_=String)).label("ids"),
        )
        .select_from(base)
        .where(*conds)
        .group_by(target, b.piece)
        .subquery("pieces")
    )
    bucket = _bucket_sql(dialect, bounds, "pieces.first_at")
    query = select(
        pieces.c.u, bucket, func.count(), func.sum(pieces.c.wt),
        _agg_ids(dialect, pieces.c.ids) if with_ids else literal_column("NULL", type_=String),
    ).group_by(pieces.c.u, bucket)
    out: dict[tuple[int, int], tuple[int, float, list[int]]] = {}
    for u, w, n, pts, ids in session.execute(query).all():
        if w is None or w < 0:
            continue
        out[(u, w)] = (n, float(pts or 0.0), sorted(map(int, ids.split(","))) if ids else [])
    return out


def rule_windows(rule: QuotaRule, span: Window | date, today: date) -> list[Window]:
    """The rule's periods overlapping ``span`` that have begun by ``today`` and are within its active dates."""
    out = []
    for w in windows_overlapping(rule.period, span):
        if w.start > today:
            continue  # a period that has not begun has no progress to show
        if rule.active_from and w.last_day < rule.active_from:
            continue
        if rule.active_to and w.start > rule.active_to:
            continue
        out.append(w)
    return out


def _mapping(rule: QuotaRule, tree: Hierarchy, at: datetime) -> dict[int, int]:
    """Source unit id -> the rule unit it counts for, as the tree stood at ``at``."""
    if rule.unit_id is not None:
        targets = [rule.unit_id] if rule.unit_id in tree.units and tree.state(rule.unit_id, at) else []
    else:
        targets = tree.members(rule.unit_kind, rule.parent_unit_id, at)
    mapping = {t: t for t in targets}
    if rule.include_subunits:
        for t in targets:
            for d in sorted(tree.descendants(t, at)):
                mapping.setdefault(d, t)
    return mapping


def resolve_span(period: str | Window | date | None, now: datetime, tz: str) -> Window | date:
    if period is None:
        return local_date(now, tz)
    if isinstance(period, str):
        return parse_span(period)
    return period


def status(
    session: Session,
    period: str | Window | date | None = None,
    unit: str | None = None,
    *,
    now: datetime | None = None,
    rules: Iterable[str] | None = None,
    store: bool = True,
    within: frozenset[int] | None = None,
    with_ids: bool = True,
) -> list[StatusRow]:
    """Progress per unit per rule for every period of each rule within ``period``.

    ``period`` is a label ("2024-Q2", "2024-05", "2024-W07", a day "2024-05-17") or None for the
    current period of each rule. ``unit`` (a code or name, :func:`quota.units.get_unit`) narrows
    to that unit and the units under it (a parent's rows are its children's when it has no rule). Rows are cached in the
    scores table with their evidence when ``store`` is true (the caller commits). ``within`` (a
    :class:`models.scope.Scope`'s ``visible_ids``) keeps only rows of those units, for a face that
    shows one user's scope; None keeps all. ``with_ids`` false leaves every row's
    ``registration_ids`` empty (figures only; never stored).
    """
    if store and not with_ids:
        raise ValueError("the scores cache keeps evidence: store needs with_ids")
    now = now or utcnow()
    tree = Hierarchy(session)
    unit_filter = get_unit(session, unit).id if unit else None
    q = select(QuotaRule).order_by(QuotaRule.key)
    if rules is not None:
        keys = list(rules)
        q = q.where(QuotaRule.key.in_(keys))
    session.flush()
    dialect = session.get_bind().dialect.name
    # Phase 1: per rule, its periods and, per period, which units count for which.
    plans: list[tuple[QuotaRule, date, list[Window], dict[int, int], list[tuple[datetime, datetime]]]] = []
    for rule in session.scalars(q):
        today = local_date(now, rule.timezone)
        span = resolve_span(period, now, rule.timezone)
        windows = rule_windows(rule, span, today)
        # Windows whose membership is the same share one query. Grouped by the whole membership, so
        # a unit's figures are the same whether it is asked for alone or with every other unit.
        groups: dict[tuple[tuple[tuple[int, int], ...], ...], tuple[dict[int, int], list[Window]]] = {}
        for w in windows:
            end = w.utc_bounds(rule.timezone)[1]
            ref = min(end, now) - timedelta(microseconds=1)
            whole = _mapping(rule, tree, ref)
            mapping = whole
            if unit_filter is not None:
                # A unit and everything under it as the tree stood then: a parent with no rule of
                # its own (执行局) shows its children's rows (执行一队, 执行二队) rolled up under it.
                subtree = {unit_filter} | tree.descendants(unit_filter, ref)
                mapping = {k: v for k, v in mapping.items() if v in subtree}
            if within is not None:
                mapping = {k: v for k, v in mapping.items() if v in within}
            if mapping:
                key = (tuple(sorted(whole.items())), tuple(sorted(mapping.items())))
                groups.setdefault(key, (mapping, []))[1].append(w)
        for mapping, ws in groups.values():
            plans.append((rule, today, ws, mapping, [w.utc_bounds(rule.timezone) for w in ws]))
    if not plans:
        return []
    # Phase 2: one aggregate query per plan over the registrations of its units.
    jit: tuple[str, str] | None = None
    if dialect == "postgresql":
        # A yearly rule over every unit groups the year's registrations: estimated at 30k at 200k
        # registrations (measured), it passes jit_above_cost (100k) at some 700k, and JIT compiling
        # then costs more than such groupings take (as the stream and dashboard pages found). Off
        # while counting, then back to what the transaction had. Grouping a year of registrations
        # by piece sorts ~10 MB; the 4 MB default work_mem spills to disk.
        jit = session.execute(text("SHOW jit")).scalar_one(), session.execute(text("SHOW work_mem")).scalar_one()
        session.execute(text("SET LOCAL jit = off"))
        session.execute(text("SET LOCAL work_mem = '64MB'"))
    rows: list[StatusRow] = []
    try:
        for rule, today, ws, mapping, bounds in plans:
            rule_id, rule_key, rule_name, measure, target = rule.id, rule.key, rule.name, rule.measure, rule.target
            targets = sorted(set(mapping.values()))
            counted = _count(session, rule, bounds, mapping, with_ids)
            for i, w in enumerate(ws):
                ref = min(bounds[i][1], now) - timedelta(microseconds=1)
                current = w.contains(today)
                days_left = w.days_left(today) if current else None
                for uid in targets:
                    st = tree.state(uid, ref)
                    n, pts, ids = counted.get((uid, i), (0, 0.0, []))
                    rows.append(StatusRow(
                        rule_id=rule_id, rule_key=rule_key, rule_name=rule_name, measure=measure, window=w,
                        unit_id=uid, unit_code=tree.units[uid].code,
                        unit_name=st.name if st else tree.units[uid].name, unit_path=tree.path(uid, ref),
                        target=target, count=n, points=pts, registration_ids=ids, current=current,
                        days_left=days_left,
                    ))
    finally:
        if jit is not None:
            session.execute(text("SELECT set_config('jit', :j, true), set_config('work_mem', :w, true)"),
                            {"j": str(jit[0]), "w": str(jit[1])})
    rows.sort(key=lambda r: (r.rule_key, r.window.start, r.unit_path))
    if store and rows:
        store_scores(session, rows, now)
    return rows


def score_digest(row: StatusRow, period_end: datetime) -> str:
    """A digest of everything a cached score row holds besides its key and timestamp."""
    h = hashlib.blake2b(digest_size=16)
    h.update(struct.pack("<qddq", row.count, row.points, row.target, int(period_end.timestamp() * 1_000_000)))
    h.update(array("q", row.registration_ids).tobytes())
    return h.hexdigest()


def store_scores(session: Session, rows: Sequence[StatusRow], now: datetime | None = None) -> None:
    """Upsert rows into the scores cache (unique rule / unit / period start).

    Rows whose digest matches the cached one are not sent at all (most past periods, on every
    run): comparing 16-byte digests read back from the table is far cheaper than shipping and
    comparing every row's evidence list.
    """
    now = now or utcnow()
    dialect = session.get_bind().dialect.name
    rules_tz = {rid: tz for rid, tz in session.execute(select(QuotaRule.id, QuotaRule.timezone))}
    # Rows share their periods: each period's bounds are computed once, not once per unit.
    by_window: dict[tuple[Window, str], tuple[datetime, datetime]] = {}
    bounds = []
    for r in rows:
        key = (r.window, rules_tz[r.rule_id])
        if key not in by_window:
            by_window[key] = r.window.utc_bounds(key[1])
        bounds.append(by_window[key])
    if not rows:
        return
    starts = [b[0] for b in bounds]
    cached = {
        (rule_id, unit_id, start.astimezone(UTC)): digest
        for rule_id, unit_id, start, digest in session.execute(
            select(Score.rule_id, Score.unit_id, Score.period_start, Score.evidence_hash).where(
                Score.rule_id.in_(sorted({r.rule_id for r in rows})),
                Score.period_start >= min(starts), Score.period_start <= max(starts),
            )
        )
    }
    changed: list[tuple[StatusRow, tuple[datetime, datetime], str]] = []
    for r, b in zip(rows, bounds, strict=True):
        digest = score_digest(r, b[1])
        if cached.get((r.rule_id, r.unit_id, b[0].astimezone(UTC))) != digest:
            changed.append((r, b, digest))
    if not changed:
        return
    if dialect == "postgresql":
        # One statement over one JSON document: tens of thousands of rows in one round trip, and
        # json.dumps is far cheaper than adapting nine Python lists to PostgreSQL arrays.
        iso = {b: (b[0].isoformat(), b[1].isoformat()) for _, b, _ in changed}
        doc = json.dumps([
            {"r": r.rule_id, "u": r.unit_id, "s": iso[b][0], "e": iso[b][1], "c": r.count,
             "p": r.points, "t": r.target, "ev": r.registration_ids, "h": digest}
            for r, b, digest in changed
        ])
        session.execute(
            text(
                "INSERT INTO scores (rule_id, unit_id, period_start, period_end, count, points, target, evidence,"
                " evidence_hash, computed_at) SELECT r, u, s, e, c, p, t, ev, h, :now"
                " FROM jsonb_to_recordset(CAST(:doc AS jsonb)) AS x(r integer, u integer, s timestamptz,"
                " e timestamptz, c integer, p float8, t float8, ev jsonb, h text)"
                " ON CONFLICT (rule_id, unit_id, period_start) DO UPDATE SET period_end = EXCLUDED.period_end,"
                " count = EXCLUDED.count, points = EXCLUDED.points, target = EXCLUDED.target,"
                " evidence = EXCLUDED.evidence, evidence_hash = EXCLUDED.evidence_hash,"
                " computed_at = EXCLUDED.computed_at"
            ),
            {"now": now, "doc": doc},
        )
        return
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert

    ins = sqlite_insert(Score)
    stmt = ins.on_conflict_do_update(
        index_elements=["rule_id", "unit_id", "period_start"],
        set_={
            "period_end": ins.excluded.period_end, "count": ins.excluded.count, "points": ins.excluded.points,
            "target": ins.excluded.target, "evidence": ins.excluded.evidence,
            "evidence_hash": ins.excluded.evidence_hash, "computed_at": ins.excluded.computed_at,
        },
    )
    payload = [
        {"rule_id": r.rule_id, "unit_id": r.unit_id, "period_start": b[0], "period_end": b[1], "count": r.count,
         "points": r.points, "target": r.target, "evidence": r.registration_ids, "evidence_hash": digest,
         "computed_at": now}
        for r, b, digest in changed
    ]
    for i in range(0, len(payload), 2000):
        session.execute(stmt, payload[i : i + 2000])


@dataclass(frozen=True)
class RankRow:
    rank: int
    rule_key: str
    unit_code: str
    unit_name: str
    value: float
    count: int
    target: float
    periods: int
    periods_met: int


def rankings(rows: Sequence[StatusRow]) -> dict[str, list[RankRow]]:
    """Per rule: units ranked by their total over the rows' periods (points, or pieces for count
    rules); equal totals share a rank (1, 1, 3)."""
    by_rule: dict[str, dict[int, list[StatusRow]]] = {}
    for r in rows:
        by_rule.setdefault(r.rule_key, {}).setdefault(r.unit_id, []).append(r)
    out: dict[str, list[RankRow]] = {}
    for key, units in by_rule.items():
        totals = []
        for unit_rows in units.values():
            last = max(unit_rows, key=lambda x: x.window.start)
            totals.append((
                sum(x.value for x in unit_rows), sum(x.count for x in unit_rows), last,
                sum(x.target for x in unit_rows), len(unit_rows), sum(1 for x in unit_rows if x.met),
            ))
        totals.sort(key=lambda t: (-t[0], t[2].unit_code))
        ranked: list[RankRow] = []
        for i, (value, count, last, target, n, met) in enumerate(totals):
            rank = ranked[-1].rank if ranked and ranked[-1].value == value else i + 1
            ranked.append(RankRow(rank, key, last.unit_code, last.unit_name, value, count, target, n, met))
        out[key] = ranked
    return out


@dataclass(frozen=True)
class Evidence:
    registration_id: int
    unit_code: str
    outlet_key: str | None
    title: str
    url: str | None
    published_at: datetime
    kind: str
    adoption: str
    state: str
    verified: str  # "url", "title", "byline", ... or "" when not verified
    article_id: int | None
    story_id: int | None


def evidence(session: Session, registration_ids: Iterable[int]) -> list[Evidence]:
    """The registrations behind a count, with their verification, for reports and audits."""
    ids = sorted(set(registration_ids))
    out: list[Evidence] = []
    from models import Unit

    for i in range(0, len(ids), 1000):
        chunk = ids[i : i + 1000]
        q = (
            select(Registration, Unit.code, Outlet.key)
            .join(Unit, Unit.id == Registration.unit_id)
            .outerjoin(Outlet, Outlet.id == Registration.outlet_id)
            .where(Registration.id.in_(chunk))
            .order_by(Registration.published_at, Registration.id)
        )
        for reg, code, okey in session.execute(q):
            out.append(Evidence(
                reg.id, code, okey, reg.title, reg.url, reg.published_at, reg.kind.value, reg.adoption.value,
                reg.state.value, (reg.verification or {}).get("method", "") if reg.verified_at else "",
                reg.article_id, reg.story_id,
            ))
    return out


def check_unit(session: Session, code: str | None) -> None:
    if code:
        get_unit(session, code)


__all__ = ["QuotaError", "RankRow", "StatusRow", "evidence", "rankings", "status", "store_scores", "weight_for"]
