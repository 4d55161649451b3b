"""Sources with their health for a :class:`~models.scope.Scope`.

Crawled sources are the installation's shared infrastructure (every organization's coverage comes
from them), so a reader sees them all, except an organization's own channels (an outlet with a
``unit_id``: its website, its WeChat account), which only that organization's scope sees.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select, or_, select

from models import Outlet, Source
from models.scope import Scope


def sources_query(scope: Scope, *, failing: bool = False, enabled: bool | None = None) -> Select[Any]:
    """Sources the scope sees; ``failing``: only those with errors (failures in a row, or health
    warning / failing)."""
    stmt = select(Source).outerjoin(Outlet, Outlet.id == Source.outlet_id).where(
        or_(Source.outlet_id.is_(None), Outlet.unit_id.is_(None), scope.where(Outlet.unit_id)))
    if failing:
        stmt = stmt.where(or_(Source.consecutive_failures > 0, Source.health.in_(("warning", "failing"))))
    if enabled is not None:
        stmt = stmt.where(Source.enabled.is_(enabled))
    return stmt


def source_visible(source: Source, outlet: Outlet | None, scope: Scope) -> bool:
    return outlet is None or outlet.unit_id is None or scope.contains(outlet.unit_id)
