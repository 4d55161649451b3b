"""Sources with their health for a :class:`~models.scope.Scope`, as a select a face pages through:
the same filter as the admin page's ``crawlers.manage.list_sources`` (a source belongs to a unit;
``failing``: the "with errors" filter)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select, or_, select

from crawlers.manage import WITH_ERRORS_HEALTH
from models import Source
from models.scope import Scope


def sources_query(scope: Scope, *, failing: bool = False, enabled: bool | None = None) -> Select[Any]:
    stmt = select(Source).where(scope.where(Source.unit_id))
    if failing:
        stmt = stmt.where(or_(Source.consecutive_failures > 0, Source.health.in_(WITH_ERRORS_HEALTH)))
    if enabled is not None:
        stmt = stmt.where(Source.enabled.is_(enabled))
    return stmt
