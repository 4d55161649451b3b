"""/api/v1 configuration changes: sources, alert rules and watch queries, through the same stage
functions as the admin pages (``crawlers.manage``, ``alerts.rules_admin``, ``classify.watch_admin``):
the same validation as the YAML files, changes only in units the key's user administers, audited
with before and after (and the key's prefix)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends

from alerts import rules_admin
from alerts.rules import RulesError
from classify import watch_admin
from crawlers import manage
from crawlers.registry import RegistryError
from presswatch.web.api import schemas as s
from presswatch.web.api.core import ApiContext, ApiProblem, writer
from presswatch.web.api.routes import WRITE_ERRORS

router = APIRouter()


def _refused(exc: Exception, not_found: type[Exception]) -> ApiProblem:
    return ApiProblem(404 if isinstance(exc, not_found) else 422, str(exc))


def _admin(ctx: ApiContext) -> None:
    if not ctx.scope.can_anywhere("admin"):
        raise ApiProblem(403, "The key may not change the configuration (an admin's right).")


# -- sources --------------------------------------------------------------------------------------


def _save_source(ctx: ApiContext, body: dict[str, Any], source_id: int | None) -> s.Source:
    _admin(ctx)
    try:
        decl = manage.validate_source(ctx.db, body)
        row = manage.save_source(ctx.db, ctx.actor, ctx.scope, decl, source_id=source_id)
    except (RegistryError, manage.SourceError) as exc:
        raise _refused(exc, manage.SourceNotFound) from None
    ctx.commit()
    return s.Source.model_validate(row)


@router.post("/sources", response_model=s.Source, status_code=201, responses=WRITE_ERRORS, tags=["configuration"],
             summary="Add a source (a sources.yaml declaration, with unit)")
def add_source(body: dict[str, Any] = s.DECLARATION_BODY, ctx: ApiContext = Depends(writer)) -> s.Source:
    return _save_source(ctx, body, None)


@router.put("/sources/{source_id}", response_model=s.Source, responses=WRITE_ERRORS, tags=["configuration"],
            summary="Change a source (its whole declaration; the key cannot change)")
def change_source(source_id: int, body: dict[str, Any] = s.DECLARATION_BODY,
                  ctx: ApiContext = Depends(writer)) -> s.Source:
    return _save_source(ctx, body, source_id)


@router.post("/sources/{source_id}/pause", response_model=s.Source, responses=WRITE_ERRORS, tags=["configuration"])
def pause_source(source_id: int, ctx: ApiContext = Depends(writer)) -> s.Source:
    return _source_enabled(ctx, source_id, False)


@router.post("/sources/{source_id}/resume", response_model=s.Source, responses=WRITE_ERRORS, tags=["configuration"])
def resume_source(source_id: int, ctx: ApiContext = Depends(writer)) -> s.Source:
    return _source_enabled(ctx, source_id, True)


def _source_enabled(ctx: ApiContext, source_id: int, enabled: bool) -> s.Source:
    _admin(ctx)
    try:
        row = manage.set_enabled(ctx.db, ctx.actor, ctx.scope, source_id, enabled)
    except manage.SourceError as exc:
        raise _refused(exc, manage.SourceNotFound) from None
    ctx.commit()
    return s.Source.model_validate(row)


# -- alert rules ----------------------------------------------------------------------------------


def _save_rule(ctx: ApiContext, body: dict[str, Any], rule_id: int | None) -> s.AlertRule:
    _admin(ctx)
    settings = ctx.request.app.state.root.state.settings
    try:
        row = rules_admin.save_rule(ctx.db, ctx.actor, ctx.scope, body, settings, rule_id=rule_id)
    except (RulesError, rules_admin.RuleError) as exc:
        raise _refused(exc, rules_admin.RuleNotFound) from None
    ctx.commit()
    return s.AlertRule.model_validate(row)


@router.post("/rules", response_model=s.AlertRule, status_code=201, responses=WRITE_ERRORS, tags=["configuration"],
             summary="Add an alert rule (as in alert_rules.yaml, with unit)")
def add_rule(body: dict[str, Any] = s.DECLARATION_BODY, ctx: ApiContext = Depends(writer)) -> s.AlertRule:
    return _save_rule(ctx, body, None)


@router.put("/rules/{rule_id}", response_model=s.AlertRule, responses=WRITE_ERRORS, tags=["configuration"],
            summary="Change an alert rule (its whole declaration)")
def change_rule(rule_id: int, body: dict[str, Any] = s.DECLARATION_BODY,
                ctx: ApiContext = Depends(writer)) -> s.AlertRule:
    return _save_rule(ctx, body, rule_id)


@router.post("/rules/{rule_id}/enable", response_model=s.AlertRule, responses=WRITE_ERRORS, tags=["configuration"])
def enable_rule(rule_id: int, ctx: ApiContext = Depends(writer)) -> s.AlertRule:
    return _rule_enabled(ctx, rule_id, True)


@router.post("/rules/{rule_id}/disable", response_model=s.AlertRule, responses=WRITE_ERRORS,
             tags=["configuration"])
def disable_rule(rule_id: int, ctx: ApiContext = Depends(writer)) -> s.AlertRule:
    return _rule_enabled(ctx, rule_id, False)


def _rule_enabled(ctx: ApiContext, rule_id: int, enabled: bool) -> s.AlertRule:
    _admin(ctx)
    try:
        row = rules_admin.set_enabled(ctx.db, ctx.actor, ctx.scope, rule_id, enabled)
    except rules_admin.RuleError as exc:
        raise _refused(exc, rules_admin.RuleNotFound) from None
    ctx.commit()
    return s.AlertRule.model_validate(row)


# -- watch queries --------------------------------------------------------------------------------


def _save_query(ctx: ApiContext, body: s.WatchQueryWrite, query_id: int | None) -> s.WatchQuery:
    _admin(ctx)
    try:
        row = watch_admin.save_query(ctx.db, ctx.actor, ctx.scope, name=body.name, text=body.query,
                                     purpose=body.purpose, enabled=body.enabled, priority=body.priority,
                                     unit_code=body.unit, query_id=query_id)
    except watch_admin.WatchQueryError as exc:
        raise _refused(exc, watch_admin.WatchQueryNotFound) from None
    ctx.commit()
    return s.WatchQuery.model_validate(row)


@router.post("/watch-queries", response_model=s.WatchQuery, status_code=201, responses=WRITE_ERRORS,
             tags=["configuration"], summary="Add a watch query (checked: a syntax error names its position)")
def add_watch_query(body: s.WatchQueryWrite, ctx: ApiContext = Depends(writer)) -> s.WatchQuery:
    return _save_query(ctx, body, None)


@router.put("/watch-queries/{query_id}", response_model=s.WatchQuery, responses=WRITE_ERRORS,
            tags=["configuration"], summary="Change a watch query")
def change_watch_query(query_id: int, body: s.WatchQueryWrite, ctx: ApiContext = Depends(writer)) -> s.WatchQuery:
    return _save_query(ctx, body, query_id)
