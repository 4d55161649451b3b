"""Risk plans (三同步): a planned high-risk action opens a tighter monitoring window around its date.

A plan (``models.RiskPlan``) names the action (e.g. a forced eviction), its place, the parties and
keywords. From ``window_start`` (before the action) to ``window_end`` (after it) the plan is open:
the rules it targets (``overrides.rules``, default all) fire from a lower risk level
(``overrides.min_risk``, default medium) and also on the plan's keywords and extra watch queries,
OR-ed with their own query. Named sources may be polled faster (``overrides.poll_minutes``:
``{source_key: minutes}``, or ``overrides.poll_seconds`` for seconds, 5 at least; the crawl
scheduler reads open plans' windows from the table, see ``crawlers.run.plan_poll_seconds``). The window
closes itself: states move planned -> open -> closed as time passes.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from alerts.rules import RuleSpec
from models import RiskPlan, WatchQuery
from models.enums import RiskLevel
from models.scope import default_unit_id


class PlanError(ValueError):
    pass


def keywords_query(keywords: Iterable[str]) -> str:
    terms = [k.replace('"', " ").strip() for k in keywords if k and k.strip()]
    return " OR ".join(f'"{t}"' for t in terms)


def create_plan(
    session: Session, *, name: str, action_at: datetime, keywords: list[str], place: str = "",
    parties: list[str] | None = None, before_hours: float = 24, after_hours: float = 72,
    overrides: dict[str, Any] | None = None, unit_id: int | None = None,
) -> RiskPlan:
    from classify.query import QuerySyntaxError, parse_query

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
        overrides=overrides, state="planned",
        unit_id=unit_id if unit_id is not None else default_unit_id(session),
    )
    session.add(plan)
    session.flush()
    return plan


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
