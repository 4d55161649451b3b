"""The alerts stage's lists for a :class:`~models.scope.Scope`, as select statements a face pages
through (``models.pagination.keyset_page``): cases, correction requests, risk plans, alert rules,
digests. Every list is filtered with ``scope.where(unit_id)``, so one organization's list, count or
page never includes another's rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Select, select

from models import Alert, AlertRule, CorrectionRequest, Digest, RiskPlan
from models.enums import CaseState, CorrectionState, RiskLevel
from models.scope import Scope

SEVERITY_AT_LEAST: dict[str, tuple[RiskLevel, ...]] = {
    "low": (RiskLevel.LOW, RiskLevel.MEDIUM, RiskLevel.HIGH, RiskLevel.CRITICAL),
    "medium": (RiskLevel.MEDIUM, RiskLevel.HIGH, RiskLevel.CRITICAL),
    "high": (RiskLevel.HIGH, RiskLevel.CRITICAL),
    "critical": (RiskLevel.CRITICAL,),
}


def cases_query(scope: Scope, *, states: Sequence[CaseState] = (), severity: str | None = None,
                assignee: str | None = None) -> Select[Any]:
    """The scope's cases (alerts), optionally in ``states``, at ``severity`` or above, of ``assignee``."""
    stmt = select(Alert).where(scope.where(Alert.unit_id))
    if states:
        stmt = stmt.where(Alert.state.in_(list(states)))
    if severity:
        stmt = stmt.where(Alert.severity.in_(SEVERITY_AT_LEAST[severity]))
    if assignee:
        stmt = stmt.where(Alert.assignee == assignee)
    return stmt


def corrections_query(scope: Scope, *, state: CorrectionState | None = None) -> Select[Any]:
    stmt = select(CorrectionRequest).where(scope.where(CorrectionRequest.unit_id))
    if state is not None:
        stmt = stmt.where(CorrectionRequest.state == state)
    return stmt


def plans_query(scope: Scope, *, state: str | None = None) -> Select[Any]:
    stmt = select(RiskPlan).where(scope.where(RiskPlan.unit_id))
    if state:
        stmt = stmt.where(RiskPlan.state == state)
    return stmt


def rules_query(scope: Scope, *, enabled: bool | None = None) -> Select[Any]:
    stmt = select(AlertRule).where(scope.where(AlertRule.unit_id))
    if enabled is not None:
        stmt = stmt.where(AlertRule.enabled.is_(enabled))
    return stmt


def digests_query(scope: Scope, *, name: str | None = None) -> Select[Any]:
    stmt = select(Digest).where(scope.where(Digest.unit_id))
    if name:
        stmt = stmt.where(Digest.name == name)
    return stmt
