"""The quota stage's views for a :class:`~models.scope.Scope`: registrations, status and rankings.

Status rows and rankings are computed by :func:`quota.scoring.status` / :func:`quota.scoring.rankings`
and then kept to the scope's units: a ranking only ranks units the scope may see, so a Hưng Yên
reader cannot infer 儋州's totals from its own rank.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from models import Registration, Unit
from models.enums import RegistrationState
from models.scope import Scope
from quota.scoring import RankRow, StatusRow, rankings, status
from quota.units import QuotaError, get_unit


def registrations_query(scope: Scope, *, state: RegistrationState | None = None,
                        unit_id: int | None = None) -> Select[Any]:
    """The scope's registrations; proposals found from bylines only when their state is asked for
    (as ``quota.desk.recent_registrations``, the pages' list)."""
    stmt = select(Registration).where(scope.where(Registration.unit_id))
    if state is not None:
        stmt = stmt.where(Registration.state == state)
    else:
        stmt = stmt.where(Registration.state != RegistrationState.PROPOSED)
    if unit_id is not None:
        stmt = stmt.where(Registration.unit_id == unit_id)
    return stmt


def visible_unit(session: Session, scope: Scope, ref: str) -> Unit:
    """A unit by code or name that the scope may see; another organization's is "unknown" too."""
    try:
        unit = get_unit(session, ref)
    except QuotaError:
        unit = None
    if unit is None or not scope.contains(unit.id):
        raise QuotaError(f"unknown unit '{ref}'")
    return unit


def scoped_status(session: Session, scope: Scope, period: str | None = None,
                  unit: str | None = None) -> list[StatusRow]:
    """Quota progress of the scope's units (``quota.scoring.status``, not stored)."""
    if unit:
        visible_unit(session, scope, unit)
    return [r for r in status(session, period, unit, store=False) if scope.contains(r.unit_id)]


def scoped_rankings(session: Session, scope: Scope, period: str | None = None) -> dict[str, list[RankRow]]:
    return rankings(scoped_status(session, scope, period))
