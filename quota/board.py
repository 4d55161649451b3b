"""The quota board for one :class:`models.scope.Scope`: units x rules over a chosen period, rankings,
the pieces behind each figure, response times of alerts (考核), and its XLSX export.

- :func:`board_span`: the period the board covers (week, half-month, month, quarter or year, the
  current one or one named by its label).
- :func:`quota_board`: :func:`quota.scoring.status` for the units the scope may see (never written
  to the scores cache: a page view changes nothing), folded into one cell per unit and rule:
  done / target over the rule's periods in the span, periods met, the current period's shortfall
  and days left, the unit's rank in that rule. Counted boards are kept in the process and brought
  up to date on the next view by recounting only what changed (see "Boards counted lately").
- :func:`cell_evidence`: the registrations behind one cell (the drill-down), in the scope only.
- :func:`response_metrics`: per unit, severity and month, how long alerts waited for their first
  acknowledgement and for their resolution (from ``Alert.created_at``, the first ``AlertEvent``
  leaving 'new', and ``Alert.resolved_at``).
- :func:`board_xlsx`: the board, the evidence and the response times as a workbook (real dates,
  headers in the reader's language, autofilter).
"""

from __future__ import annotations

import io
import statistics
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import func, select, true
from sqlalchemy.orm import Session

from models import (
    Alert,
    AlertEvent,
    Classification,
    Outlet,
    QuotaRule,
    Registration,
    Unit,
    UnitHistory,
    utcnow,
)
from models.enums import CaseState, Measure, RiskLevel
from models.scope import Scope, subtree_ids, unit_children
from quota.periods import Period, PeriodError, Window, local_date, parse_span, period_containing, zone
from quota.scoring import REPOST_HORIZON, Evidence, StatusRow, evidence, rankings, rule_windows, status
from quota.units import Hierarchy

BOARD_PERIODS = (Period.WEEK, Period.HALF_MONTH, Period.MONTH, Period.QUARTER, Period.YEAR)


def board_span(kind: str | None, label: str | None, today: date) -> Window:
    """The board's period: the one labelled ``label`` ("2024-05", "2024-Q2", "2024-W07", ...), else
    the ``kind`` period (default month) containing ``today``. A day label picks its ``kind`` period."""
    try:
        period = Period(kind) if kind else Period.MONTH
    except ValueError:
        raise PeriodError(f"not a period kind: '{kind}'") from None
    if period not in BOARD_PERIODS:
        raise PeriodError(f"not a period kind: '{kind}'")
    if label:
        span = parse_span(label)
        return span if isinstance(span, Window) else period_containing(period, span)
    return period_containing(period, today)


@dataclass
class Cell:
    rule_key: str
    unit_id: int
    measure: Measure
    value: float = 0.0
    target: float = 0.0
    count: int = 0
    periods: int = 0
    periods_met: int = 0
    days_left: int | None = None  # of the rule's current period, if it is in the span
    current_shortfall: float = 0.0
    rank: int | None = None
    registration_ids: list[int] = field(default_factory=list)

    @property
    def percent(self) -> int:
        if self.target <= 0:
            return 100
        return int(min(100.0, 100.0 * self.value / self.target))

    @property
    def shortfall(self) -> float:
        return max(0.0, self.target - self.value)

    @property
    def met(self) -> bool:
        return self.periods_met == self.periods

    @property
    def state(self) -> str:
        """met; behind (the current period is short, days remain); missed (a finished period fell short)."""
        if self.met:
            return "met"
        if self.periods - self.periods_met == 1 and self.current_shortfall > 0:
            return "behind"
        return "missed"


@dataclass(frozen=True)
class BoardRule:
    key: str
    name: str
    measure: Measure
    period: str


@dataclass(frozen=True)
class BoardUnit:
    id: int
    code: str
    name: str
    path: str


@dataclass
class Board:
    span: Window
    rules: list[BoardRule]
    units: list[BoardUnit]
    cells: dict[tuple[int, str], Cell]
    rows: list[StatusRow]

    def cell(self, unit_id: int, rule_key: str) -> Cell | None:
        return self.cells.get((unit_id, rule_key))

    ranked: dict[str, list[Any]] = field(default_factory=dict)

    def ranking(self) -> dict[str, list[Any]]:
        """Per rule, the units ranked by their total in the span (quota.scoring.rankings)."""
        return self.ranked

    def rule_name(self, key: str) -> str:
        return next((r.name for r in self.rules if r.key == key), key)


# Boards counted lately, per (span, units, with ids): kept with the fingerprints of what they were
# computed from, and brought up to date on the next view by recounting only what changed. A board of
# 500 units x 20 rules counts a year of registrations (0.6-0.8 s on PostgreSQL at 200k); a leader
# opens it again and again while correspondents register pieces a few at a time.
# - Units, their history or outlets (tiers) changed: the board is counted afresh.
# - A rule added, changed or removed: that rule's rows are counted again (or dropped).
# - The day turned: the rules with a period begun (or ended) since are counted again; the others keep
#   their figures with the new current period and days left.
# - A unit's registrations in the board's years changed (its fingerprint: count, newest id, newest
#   change, sum of change times, so any insert, update or delete moves it): the rows of that unit and
#   of every unit it ever counted for (its parents, for rules with subunits) are counted again. The
#   figures are those of a full count: status() groups a rule's periods by the whole membership.
# - A newer classification: the topic rules are counted again.
BOARD_CACHE_SIZE = 64
# Past this many units changed since the last view, counting everything again is as cheap.
BOARD_RECOUNT_UNITS = 50
# A scope of more units than this shares its organizations' kept board; a smaller one (a team, a
# cell's drill-down) is counted on its own, which costs less than counting the organization once.
SHARED_BOARD_UNITS = 50


@dataclass
class _Kept:
    version: tuple[Any, ...]
    rules: dict[str, Any]  # rule key -> when it last changed
    days: dict[str, date]  # each rule time zone's date
    classified: int | None
    sources: dict[int, tuple[Any, ...]]
    rows: list[StatusRow]


_board_cache: OrderedDict[tuple[Any, ...], _Kept] = OrderedDict()
_board_lock = threading.Lock()


def _version(session: Session, now: datetime) -> tuple[tuple[Any, ...], dict[str, Any], dict[str, date], int | None]:
    """(fingerprint of the units, unit history as of ``now`` and outlet tiers; each rule's last
    change; each rule time zone's date; the newest classification id), in two round trips."""
    parts = [
        select(func.count().label("n"), func.max(Unit.updated_at).label("u")).subquery("un"),
        # Moves and renames take effect at their valid_from: the tree "now" changes without a write.
        select(func.count().label("n"), func.max(UnitHistory.id).label("i"),
               func.count().filter(UnitHistory.valid_from <= now).label("f"),
               func.count().filter(UnitHistory.valid_to <= now).label("t")).subquery("h"),
        select(func.count().label("n"), func.max(Outlet.updated_at).label("u")).subquery("o"),
        select(func.max(Classification.id).label("i")).subquery("c"),
    ]
    # One round trip: a cross join of one-row aggregates (joined ON TRUE, which says so).
    joined = parts[0]
    for part in parts[1:]:
        joined = joined.join(part, true())  # type: ignore[assignment]
    *fixed, classified = session.execute(select(*(c for p in parts for c in p.c)).select_from(joined)).one()
    rules = {key: (changed, zone_name) for key, changed, zone_name
             in session.execute(select(QuotaRule.key, QuotaRule.updated_at, QuotaRule.timezone))}
    days = {z: local_date(now, z) for _, z in rules.values()}
    return tuple(fixed), rules, days, classified


def _years(span: Window) -> tuple[datetime, datetime]:
    """UTC instants bounding every rule period that overlaps ``span`` (periods lie within a year,
    weeks across a new year within 7 days of it), with the repost horizon before and a day of margin
    for any time zone."""
    first = (span.start - timedelta(days=7)).year
    last = (span.last_day + timedelta(days=7)).year
    lo = datetime(first, 1, 1, tzinfo=UTC) - REPOST_HORIZON - timedelta(days=1)
    return lo, datetime(last + 1, 1, 1, tzinfo=UTC) + timedelta(days=1)


def _source_prints(session: Session, lo: datetime, hi: datetime) -> dict[int, tuple[Any, ...]]:
    """Per unit, a fingerprint of its registrations published in ``[lo, hi)``."""
    dialect = session.get_bind().dialect.name
    epoch = (func.sum(func.extract("epoch", Registration.updated_at)) if dialect == "postgresql"
             else func.sum(func.julianday(Registration.updated_at)))
    q = (select(Registration.unit_id, func.count(), func.max(Registration.id), func.max(Registration.updated_at),
                epoch)
         .where(Registration.published_at >= lo, Registration.published_at < hi)
         .group_by(Registration.unit_id))
    return {uid: tuple(rest) for uid, *rest in session.execute(q)}


def _status_rows(session: Session, span: Window, now: datetime, within: frozenset[int] | None,
                 with_ids: bool) -> list[StatusRow]:
    """status() rows of the units in ``within`` (None: all). A large scope (a leader's subtree) is
    served from the kept board of its whole organizations, shared by every user of them, so the
    first view of the day is counted once, not once per leader; a unit's rows are the same counted
    alone or with every unit (status() groups periods by the whole membership)."""
    if within is not None and len(within) <= SHARED_BOARD_UNITS:
        return _kept_rows(session, span, now, within, with_ids)
    whole = None
    if within is not None:
        children = unit_children(session)
        parents = {c: p for p, cs in children.items() for c in cs}
        roots = set()
        for uid in within:
            seen = {uid}
            while parents.get(uid) is not None and parents[uid] not in seen:
                uid = parents[uid]  # type: ignore[assignment]
                seen.add(uid)
            roots.add(uid)
        whole = subtree_ids(session, roots, children)
        if len(whole) == sum(len(cs) for cs in children.values()):
            whole = None  # every organization: the superusers' board
    rows = _kept_rows(session, span, now, whole, with_ids)
    return rows if within is None or within == whole else [r for r in rows if r.unit_id in within]


def _kept_rows(session: Session, span: Window, now: datetime, within: frozenset[int] | None,
               with_ids: bool) -> list[StatusRow]:
    key = (span, within, with_ids)
    version, rules, days, classified = _version(session, now)
    sources = _source_prints(session, *_years(span))
    with _board_lock:
        kept = _board_cache.get(key)
        if kept is not None:
            _board_cache.move_to_end(key)
    rows: list[StatusRow] | None = None
    if kept is not None and kept.version == version:
        changed = {u for u in sources.keys() | kept.sources.keys() if sources.get(u) != kept.sources.get(u)}
        if len(changed) <= BOARD_RECOUNT_UNITS:
            rows = kept.rows
            edited = {k for k in rules.keys() | kept.rules.keys() if rules.get(k) != kept.rules.get(k)}
            if edited:
                rows = [r for r in rows if r.rule_key not in edited]
                if edited & rules.keys():
                    rows += status(session, span, now=now, store=False, within=within, with_ids=with_ids,
                                   rules=sorted(edited & rules.keys()))
            if kept.days != days:
                rows = _new_day(session, span, now, within, with_ids, rows)
            if changed or kept.classified != classified:
                rows = _recount(session, span, now, within, with_ids, rows, changed, kept.classified != classified)
            if rows is not kept.rows:
                rows.sort(key=lambda r: (r.rule_key, r.window.start, r.unit_path))
    if rows is None:
        rows = status(session, span, now=now, store=False, within=within, with_ids=with_ids)
    if kept is None or rows is not kept.rows:
        with _board_lock:
            _board_cache[key] = _Kept(version, rules, days, classified, sources, rows)
            _board_cache.move_to_end(key)
            while len(_board_cache) > BOARD_CACHE_SIZE:
                _board_cache.popitem(last=False)
    return rows


def _new_day(session: Session, span: Window, now: datetime, within: frozenset[int] | None, with_ids: bool,
             rows: list[StatusRow]) -> list[StatusRow]:
    """``rows`` as of today: a rule whose periods in ``span`` are the same keeps its figures with
    today's current period and days left; a rule with a period begun or ended is counted again."""
    by_rule: dict[str, list[StatusRow]] = {}
    for r in rows:
        by_rule.setdefault(r.rule_key, []).append(r)
    out: list[StatusRow] = []
    again: list[str] = []
    for rule in session.scalars(select(QuotaRule)):
        today = local_date(now, rule.timezone)
        old = by_rule.get(rule.key, [])
        if set(rule_windows(rule, span, today)) != {r.window for r in old}:
            again.append(rule.key)
            continue
        for r in old:
            current = r.window.contains(today)
            out.append(replace(r, current=current, days_left=r.window.days_left(today) if current else None))
    if again:
        out += status(session, span, now=now, store=False, within=within, with_ids=with_ids, rules=again)
    return out


def _recount(session: Session, span: Window, now: datetime, within: frozenset[int] | None, with_ids: bool,
             kept: list[StatusRow], changed: set[int], topics_changed: bool) -> list[StatusRow]:
    """``kept`` with the rows of the units ``changed`` touch (and of the topic rules, if
    ``topics_changed``) counted again."""
    tree = Hierarchy(session)
    dirty: set[int] = set()
    for uid in changed:
        if uid in tree.units:
            dirty |= {uid} | tree.ever_above(uid)
    if within is not None:
        dirty &= within
    topic_rules = ({k for k, topics in session.execute(select(QuotaRule.key, QuotaRule.topics)) if topics}
                   if topics_changed else set())
    fresh = [r for r in status(session, span, now=now, store=False, within=frozenset(dirty), with_ids=with_ids)
             if r.rule_key not in topic_rules] if dirty else []
    if topic_rules:
        fresh += status(session, span, now=now, store=False, within=within, with_ids=with_ids, rules=topic_rules)
    return [r for r in kept if r.unit_id not in dirty and r.rule_key not in topic_rules] + fresh


def quota_board(session: Session, scope: Scope, span: Window, now: datetime | None = None,
                unit_id: int | None = None, with_ids: bool = True) -> Board:
    """Units x rules for ``span`` as ``scope`` may see them (``unit_id``: that unit's subtree only).
    ``with_ids`` false: figures only, each cell's ``registration_ids`` empty (the page of the board;
    its drill-down and its export ask with the ids)."""
    now = now or utcnow()
    within = scope.visible_ids
    if unit_id is not None:
        sub = subtree_ids(session, [unit_id])
        within = sub if within is None else within & sub
    rows = _status_rows(session, span, now, within, with_ids)
    cells: dict[tuple[int, str], Cell] = {}
    rules: dict[str, BoardRule] = {}
    units: dict[int, BoardUnit] = {}
    for r in rows:
        rules.setdefault(r.rule_key, BoardRule(r.rule_key, r.rule_name, r.measure, r.window.kind.value))
        units[r.unit_id] = BoardUnit(r.unit_id, r.unit_code, r.unit_name, r.unit_path)  # latest period's name
        c = cells.setdefault((r.unit_id, r.rule_key), Cell(r.rule_key, r.unit_id, r.measure))
        c.value += r.value
        c.target += r.target
        c.count += r.count
        c.periods += 1
        c.periods_met += 1 if r.met else 0
        c.registration_ids.extend(r.registration_ids)
        if r.current:
            c.days_left = r.days_left
            c.current_shortfall = r.shortfall
    ranked = rankings(rows)
    rank_of = {(key, x.unit_code): x.rank for key, rows_ in ranked.items() for x in rows_}
    for (uid, rule_key), c in cells.items():
        c.rank = rank_of.get((rule_key, units[uid].code))
    return Board(span, sorted(rules.values(), key=lambda x: x.key),
                 sorted(units.values(), key=lambda u: u.path), cells, rows, ranked)


def warm_boards(session: Session, tz: str, now: datetime | None = None) -> int:
    """Count and keep the boards each organization opens first: its current month (``/quota``'s
    default), then its current week, half-month, quarter and year (in ``tz``, as ``/quota`` picks
    them), over all its units, as its leaders see them. A web worker does this when it starts
    (:mod:`presswatch.web.server`), so the first views after a start or a deploy bring a kept board
    up to date instead of counting a year of registrations. At most half the kept boards are
    filled so (every organization's month first). Returns the boards kept."""
    now = now or utcnow()
    today = local_date(now, tz)
    children = unit_children(session)
    roots = children.get(None, [])
    kinds = [Period.MONTH, *(k for k in BOARD_PERIODS if k is not Period.MONTH)]
    warmed = 0
    for kind in kinds:
        for root in roots:
            if warmed >= BOARD_CACHE_SIZE // 2:  # leave room for the boards users open
                return warmed
            scope = Scope(user_id=None, username="warm-up", superuser=False,
                          unit_ids=subtree_ids(session, [root], children))
            quota_board(session, scope, board_span(kind.value, None, today), now=now, with_ids=False)
            warmed += 1
    return warmed


def cell_evidence(session: Session, scope: Scope, span: Window, unit_id: int, rule_key: str,
                  now: datetime | None = None) -> tuple[Board, list[Evidence]] | None:
    """The pieces behind one board cell; None when the scope cannot see that unit or rule."""
    if not scope.contains(unit_id):
        return None
    board = quota_board(session, scope, span, now=now, unit_id=unit_id)
    cell = board.cell(unit_id, rule_key)
    if cell is None:
        return None
    return board, evidence(session, cell.registration_ids)


# -- response times (考核) ---------------------------------------------------------------------------

@dataclass
class ResponseRow:
    unit_id: int
    unit_name: str
    severity: RiskLevel
    month: str
    alerts: int = 0
    acknowledged: int = 0
    resolved: int = 0
    ack_minutes: list[float] = field(default_factory=list)
    resolve_minutes: list[float] = field(default_factory=list)

    @property
    def median_ack(self) -> float | None:
        return round(statistics.median(self.ack_minutes), 1) if self.ack_minutes else None

    @property
    def median_resolve(self) -> float | None:
        return round(statistics.median(self.resolve_minutes), 1) if self.resolve_minutes else None

    @property
    def max_ack(self) -> float | None:
        return round(max(self.ack_minutes), 1) if self.ack_minutes else None


SEVERITY_ORDER = {RiskLevel.CRITICAL: 0, RiskLevel.HIGH: 1, RiskLevel.MEDIUM: 2, RiskLevel.LOW: 3}


def response_metrics(session: Session, scope: Scope, span: Window, tz: str) -> list[ResponseRow]:
    """Per unit, severity and local month of raising: alerts raised in ``span``, how many were
    acknowledged / resolved, and the median minutes to the first acknowledgement (the first event
    leaving 'new') and to resolution. Alerts without a unit are left out (no unit to credit)."""
    lo, hi = span.utc_bounds(tz)
    first_ack = (
        select(AlertEvent.alert_id, func.min(AlertEvent.at).label("ack_at"))
        .where(AlertEvent.from_state == CaseState.NEW.value, AlertEvent.to_state.is_not(None),
               AlertEvent.to_state != CaseState.NEW.value)
        .group_by(AlertEvent.alert_id).subquery()
    )
    q = (select(Alert.unit_id, Unit.name, Alert.severity, Alert.created_at, first_ack.c.ack_at, Alert.resolved_at)
         .outerjoin(first_ack, first_ack.c.alert_id == Alert.id)
         .join(Unit, Unit.id == Alert.unit_id)
         .where(scope.where(Alert.unit_id), Alert.created_at >= lo, Alert.created_at < hi))
    out: dict[tuple[int, RiskLevel, str], ResponseRow] = {}
    for unit_id, unit_name, severity, created, ack_at, resolved_at in session.execute(q):
        month = f"{local_date(created, tz):%Y-%m}"
        row = out.setdefault((unit_id, severity, month), ResponseRow(unit_id, unit_name, severity, month))
        row.alerts += 1
        if ack_at is not None:
            row.acknowledged += 1
            row.ack_minutes.append(max(0.0, (ack_at - created).total_seconds() / 60))
        if resolved_at is not None:
            row.resolved += 1
            row.resolve_minutes.append(max(0.0, (resolved_at - created).total_seconds() / 60))
    return sorted(out.values(), key=lambda r: (r.month, r.unit_name, SEVERITY_ORDER.get(r.severity, 9)))


# -- export -------------------------------------------------------------------------------------------

def board_xlsx(session: Session, board: Board, responses: Sequence[ResponseRow], translate: Callable[..., str],
               tz: str) -> bytes:
    """The board as a workbook: one row per unit, rule and period (numbers as numbers, dates as
    dates), the pieces behind them, the rankings and the response times; headers in the language of
    ``translate``, bold, frozen, with an autofilter."""
    from openpyxl import Workbook
    from openpyxl.styles import Font

    from presswatch.i18n import excel_time, format_excel_times

    _ = translate
    z = zone(tz)
    wb = Workbook()
    ws = wb.active
    assert ws is not None
    ws.title = _("Quotas")[:31]
    ws.append([_("Unit"), _("Rule"), _("Period"), _("From"), _("To"), _("Done"), _("Target"), _("Shortfall"),
               _("Met"), _("Days left"), _("Pieces"), _("Points")])
    for r in board.rows:
        ws.append([r.unit_path, r.rule_name, r.period, r.window.start, r.window.last_day, r.value, r.target,
                   r.shortfall, _("yes") if r.met else _("no"), r.days_left, r.count, r.points])
    ev = wb.create_sheet(_("Pieces")[:31])
    ev.append([_("Unit"), _("Rule"), _("Period"), _("Outlet"), _("Title"), _("Address"), _("Published"),
               _("Kind"), _("State"), _("Verified")])
    details = {e.registration_id: e for e in evidence(session, {i for r in board.rows for i in r.registration_ids})}
    for r in board.rows:
        for rid in r.registration_ids:
            e = details[rid]
            ev.append([r.unit_path, r.rule_name, r.period, e.outlet_key or "", e.title, e.url or "",
                       excel_time(e.published_at, z), _(e.kind), _(e.state), _(e.verified) if e.verified else _("no")])
    rk = wb.create_sheet(_("Ranking")[:31])
    rk.append([_("Rule"), _("Rank"), _("Unit"), _("Total"), _("Pieces"), _("Periods met")])
    names = {b.key: b.name for b in board.rules}
    for key, ranked in board.ranking().items():
        for x in ranked:
            rk.append([names.get(key, key), x.rank, x.unit_name, x.value, x.count, f"{x.periods_met}/{x.periods}"])
    rs = wb.create_sheet(_("Response times")[:31])
    rs.append([_("Month"), _("Unit"), _("Severity"), _("Alerts"), _("Acknowledged"), _("Median minutes to acknowledge"),
               _("Resolved"), _("Median minutes to resolve")])
    for x in responses:
        rs.append([x.month, x.unit_name, _(x.severity.value), x.alerts, x.acknowledged, x.median_ack, x.resolved,
                   x.median_resolve])
    for sheet in (ws, ev, rk, rs):
        for cell in sheet[1]:
            cell.font = Font(bold=True)
        sheet.freeze_panes = "A2"
        sheet.auto_filter.ref = sheet.dimensions
        for col in sheet.columns:
            letter = col[0].column_letter
            width = max(len(str(c.value)) if c.value is not None else 0 for c in col[:200])
            sheet.column_dimensions[letter].width = min(60, max(10, width * 1.6))
        format_excel_times(sheet)
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()
