"""Risk plans (三同步): a planned high-risk action opens a tighter monitoring window around its date.

A plan (``models.RiskPlan``) names the action (e.g. a forced eviction), its place, the parties and
keywords. From ``window_start`` (before the action) to ``window_end`` (after it) the plan is open:
the rules it targets (``overrides.rules``, default all) fire from a lower risk level
(``overrides.min_risk``, default medium) and also on the plan's keywords and extra watch queries,
OR-ed with their own query. Named sources may be polled faster (``overrides.poll_minutes``:
``{source_key: minutes}``, or ``overrides.poll_seconds`` for seconds, 5 at least; the crawl
scheduler reads open plans' windows from the table, see ``crawlers.run.plan_poll_seconds``). The window
closes itself: states move planned -> open -> closed as time passes; a person may close it early
(:func:`close_plan`: the action was called off or is over), which ends its window at once.

A plan belongs to an organization (``unit_id``); the web (/plans) lists, creates and closes the
plans of the user's scope through these functions, the CLI (``presswatch alerts plan-add``) too.
Every change by a person is an audit-log entry, which is also the plan's history.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from alerts.rules import RuleSpec
from models import RiskPlan, WatchQuery
from models.enums import RiskLevel
from models.scope import Scope, default_unit_id

if TYPE_CHECKING:
    from accounts.audit import Actor

PLAN_STATES = ("planned", "open", "closed")


class PlanError(ValueError):
    pass


def keywords_query(keywords: Iterable[str]) -> str:
    terms = [k.replace('"', " ").strip() for k in keywords if k and k.strip()]
    return " OR ".join(f'"{t}"' for t in terms)


def create_plan(
    session: Session, *, name: str, action_at: datetime, keywords: list[str], place: str = "",
    parties: list[str] | None = None, before_hours: float = 24, after_hours: float = 72,
    overrides: dict[str, Any] | None = None, unit_id: int | None = None, actor: Actor | str = "cli",
    scope: Scope | None = None,
) -> RiskPlan:
    """Record a plan. It belongs to ``unit_id`` (default: the installation's organization); with a
    ``scope`` (the web) that must be a unit where the scope may configure monitoring."""
    from accounts.audit import as_actor, record
    from classify.query import QuerySyntaxError, parse_query

    name = name.strip()
    if not name:
        raise PlanError("a plan needs a name")
    if scope is not None and not scope.for_action("configure").contains(unit_id):
        raise PlanError(f"no unit #{unit_id}")
    if before_hours < 0 or after_hours < 0:
        raise PlanError("the window's hours before and after the action cannot be negative")
    if session.scalar(select(RiskPlan.id).where(RiskPlan.name == name)) is not None:
        raise PlanError(f"a plan named {name!r} exists already; choose another name")
    if action_at.tzinfo is None:
        raise PlanError("action time needs a time zone")
    action_at = action_at.astimezone(UTC)
    if not keywords and not (overrides or {}).get("watch_queries"):
        raise PlanError("a plan needs keywords (or overrides.watch_queries) to watch for")
    overrides = dict(overrides or {})
    min_risk = overrides.setdefault("min_risk", RiskLevel.MEDIUM.value)
    if min_risk not in [r.value for r in RiskLevel]:
        raise PlanError(f"min_risk {min_risk!r} is not one of low, medium, high, critical")
    for option, unit, least in (("poll_minutes", "minutes", 1), ("poll_seconds", "seconds", 5)):
        polls = overrides.get(option) or {}
        if not isinstance(polls, dict) or not all(
            isinstance(k, str) and isinstance(v, int) and not isinstance(v, bool) and v >= least
            for k, v in polls.items()
        ):
            raise PlanError(f"{option} must map source keys to whole {unit} >= {least}, got {polls!r}")
    for text in [keywords_query(keywords), *overrides.get("queries", [])]:
        if text:
            try:
                parse_query(text)
            except QuerySyntaxError as exc:
                raise PlanError(f"plan query: {exc}") from None
    plan = RiskPlan(
        name=name, place=place, parties=list(parties or []), keywords=list(keywords), action_at=action_at,
        window_start=action_at - timedelta(hours=before_hours), window_end=action_at + timedelta(hours=after_hours),
        overrides=overrides, state="planned", unit_id=unit_id if unit_id is not None else default_unit_id(session),
    )
    session.add(plan)
    session.flush()
    record(session, as_actor(actor), "plan.create", unit_id=plan.unit_id, object_type="plan", object_id=plan.id,
           after={"name": plan.name, "action_at": plan.action_at, "window_start": plan.window_start,
                  "window_end": plan.window_end, "keywords": plan.keywords, "min_risk": overrides["min_risk"]})
    return plan


def _refresh_one(plan: RiskPlan, now: datetime) -> None:
    if plan.state == "closed":
        return
    if now >= plan.window_end:
        plan.state = "closed"
    elif now >= plan.window_start:
        plan.state = "open"


def list_plans(session: Session, scope: Scope, *, now: datetime | None = None,
               include_closed: bool = True, limit: int = 200) -> list[RiskPlan]:
    """The scope's plans (their states brought up to date): planned and open ones first, by action time."""
    refresh_states(session, now or datetime.now(UTC))
    stmt = select(RiskPlan).where(scope.where(RiskPlan.unit_id))
    if not include_closed:
        stmt = stmt.where(RiskPlan.state != "closed")
    rows = list(session.scalars(stmt.order_by(RiskPlan.action_at.desc()).limit(limit)))
    # Coming and open plans soonest first; closed ones after them, latest first.
    return sorted(rows, key=lambda p: (p.state == "closed",
                                       -p.action_at.timestamp() if p.state == "closed" else p.action_at.timestamp()))


def get_plan_in_scope(session: Session, plan_id: int, scope: Scope) -> RiskPlan:
    """A plan the scope may see; another organization's is "not found", exactly like a missing one."""
    plan = session.get(RiskPlan, plan_id)
    if plan is None or not scope.contains(plan.unit_id):
        raise PlanError(f"no plan #{plan_id}")
    _refresh_one(plan, datetime.now(UTC))
    return plan


def close_plan(session: Session, plan_id: int, *, actor: Actor | str, note: str = "",
               scope: Scope | None = None, now: datetime | None = None) -> RiskPlan:
    """Close a plan early: its window ends now (the tighter rules and faster polling stop)."""
    from accounts.audit import as_actor, record

    now = now or datetime.now(UTC)
    plan = session.get(RiskPlan, plan_id)
    if plan is None or (scope is not None and not scope.for_action("configure").contains(plan.unit_id)):
        raise PlanError(f"no plan #{plan_id}")
    _refresh_one(plan, now)
    if plan.state == "closed":
        raise PlanError(f"plan #{plan_id} is closed already")
    before = {"state": plan.state, "window_start": plan.window_start, "window_end": plan.window_end}
    plan.state = "closed"
    plan.window_end = now
    if plan.window_start > now:
        plan.window_start = now
    record(session, as_actor(actor), "plan.close", unit_id=plan.unit_id, object_type="plan", object_id=plan.id,
           before=before, after={"state": "closed", "window_end": now}, note=note.strip()[:1000])
    return plan


def plan_history(session: Session, plan_id: int) -> list[Any]:
    """Who created and changed the plan, oldest first (its audit-log entries)."""
    from models import AuditEntry

    return list(session.scalars(select(AuditEntry).where(AuditEntry.object_type == "plan",
                                                         AuditEntry.object_id == str(plan_id))
                                .order_by(AuditEntry.id)))


def refresh_states(session: Session, now: datetime) -> list[RiskPlan]:
    """Open plans whose window started, close those whose window ended; return the open ones."""
    open_plans = []
    for plan in session.scalars(select(RiskPlan).where(RiskPlan.state != "closed")):
        if now >= plan.window_end:
            plan.state = "closed"
        elif now >= plan.window_start:
            plan.state = "open"
            open_plans.append(plan)
    return open_plans


def plan_queries(session: Session, plan: RiskPlan) -> list[str]:
    queries = [q for q in [keywords_query(plan.keywords or [])] if q]
    queries += [str(q) for q in (plan.overrides or {}).get("queries", [])]
    names = (plan.overrides or {}).get("watch_queries") or []
    if names:
        queries += [w.query for w in session.scalars(select(WatchQuery).where(WatchQuery.name.in_(names)))]
    return queries


def tightened_rules(session: Session, rules: list[RuleSpec], now: datetime) -> list[RuleSpec]:
    """The rules as they apply now, with every open plan's tightening applied."""
    plans = refresh_states(session, now)
    if not plans:
        return rules
    out = []
    for rule in rules:
        for plan in plans:
            targets = (plan.overrides or {}).get("rules")
            if targets and rule.name not in targets and rule.group not in targets:
                continue
            rule = rule.tightened(str((plan.overrides or {}).get("min_risk", "medium")), plan_queries(session, plan))
        out.append(rule)
    return out
