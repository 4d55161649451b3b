"""Alert rules managed in the admin pages: list, the cascade, add and edit with the rules file's
validation, and the dry run on an unsaved rule.

A rule is edited as its own layer (what ``alert_rules.yaml`` would say under ``rules:``): the
page's fields that are left empty inherit from the rule's group, the file's ``defaults`` and the
built-in defaults, resolved by the very parser that reads the file
(:func:`alerts.rules_file.parse_rules`, with the file's ``defaults`` and ``groups``), so the
same typo is refused with the same message and the cascade is the file's cascade.

Ownership (``alert_rules.managed_by``): a rule saved here is ``web``; the rules file sync
(:func:`alerts.rules_file.sync_rules`) neither updates nor disables it, and logs that the file's
entry of the same name is ignored. The rule's own layer is kept in ``options.declared`` so the
form (and ``presswatch config export``) shows what was declared, not the resolved values.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from accounts.audit import Actor, record, record_saved
from alerts.rules import RulesError, RuleSpec
from alerts.rules_file import WEB, parse_rules
from models import AlertRule, Unit, WatchQuery
from models.scope import Scope
from presswatch.i18n import N_, Refusal
from presswatch.yamlfile import read_yaml
from settings import Settings

SEVERITIES = ("critical", "high", "medium", "low")


class RuleError(Refusal):
    """A change that cannot be made; ``message`` is translatable with ``params``."""


class RuleNotFound(RuleError):
    pass


def list_rules(session: Session, scope: Scope) -> Sequence[AlertRule]:
    return session.scalars(select(AlertRule).where(scope.where(AlertRule.unit_id))
                           .order_by(AlertRule.enabled.desc(), AlertRule.name)).all()


def get_rule(session: Session, scope: Scope, rule_id: int) -> AlertRule:
    row = session.get(AlertRule, rule_id)
    if row is None or not scope.contains(row.unit_id):
        raise RuleNotFound(N_("Unknown rule."))
    return row


def file_layers(settings: Settings) -> tuple[dict[str, Any], dict[str, Any]]:
    """The rules file's ``defaults`` and ``groups`` (empty without a file): the layers under a rule."""
    path = Path(settings.alerts.rules_file)
    if not path.is_file():
        return {}, {}
    data = read_yaml(path, RulesError) or {}
    if not isinstance(data, Mapping):
        return {}, {}
    return dict(data.get("defaults") or {}), dict(data.get("groups") or {})


def resolve(raw: Mapping[str, Any], settings: Settings) -> dict[str, Any]:
    """One rule declaration resolved through the cascade, as ``alert_rules`` row data (RulesError if
    invalid; the message names the rule and the key, as for the file)."""
    defaults, groups = file_layers(settings)
    return parse_rules({"defaults": defaults, "groups": groups, "rules": [dict(raw)]}, settings,
                       where="rule").rules[0]


def spec_of(session: Session, data: Mapping[str, Any], rule_id: int | None = None) -> RuleSpec:
    """A resolved declaration as the spec :func:`alerts.rules.would_alert` takes (for a dry run of
    an unsaved rule): the same conversion the live alerter's rules go through."""
    watch = {w.name: w.query for w in session.scalars(select(WatchQuery))}
    row = AlertRule(id=rule_id, name=data["name"], group_name=data.get("group_name"), enabled=data["enabled"],
                    severity=data["severity"], conditions=data["conditions"], recipients=data["recipients"],
                    channels=data["channels"], options=data["options"], unit_id=data.get("unit_id"))
    return RuleSpec.from_row(row, watch)


def declared_of(row: AlertRule) -> dict[str, Any]:
    """The rule's own layer: kept when saved here; for a file rule, the values whose origin is the rule."""
    options = dict(row.options or {})
    if isinstance(options.get("declared"), Mapping):
        return dict(options["declared"])
    origins = options.get("origins") or {}
    own_when = {k: v for k, v in (row.conditions or {}).items() if origins.get(f"when.{k}") == "rule"}
    own_options = {k: v for k, v in options.items() if origins.get(f"options.{k}") == "rule"}
    out: dict[str, Any] = {"name": row.name, "severity": str(row.severity), "enabled": row.enabled}
    if row.group_name:
        out["group"] = row.group_name
    if own_when:
        out["when"] = own_when
    if own_options:
        out["options"] = own_options
    if origins.get("recipients") == "rule":
        out["recipients"] = [{k: v for k, v in r.items() if v} for r in row.recipients or []]
    return out


def cascade(row_or_data: AlertRule | Mapping[str, Any]) -> list[tuple[str, Any, str]]:
    """(key, effective value, where it came from) for every condition and option of a rule."""
    if isinstance(row_or_data, AlertRule):
        conditions, options = dict(row_or_data.conditions or {}), dict(row_or_data.options or {})
    else:
        conditions, options = dict(row_or_data["conditions"]), dict(row_or_data["options"])
    origins = options.get("origins") or {}
    out = [(f"when.{k}", v, str(origins.get(f"when.{k}", ""))) for k, v in conditions.items()
           if k != "watch_query_texts"]
    out += [(f"options.{k}", v, str(origins.get(f"options.{k}", ""))) for k, v in options.items()
            if k not in ("origins", "declared", "surge", "source_failing")]
    return out


def _snapshot(row: AlertRule) -> dict[str, Any]:
    return {"name": row.name, "group_name": row.group_name, "enabled": row.enabled, "severity": str(row.severity),
            "conditions": dict(row.conditions or {}), "recipients": list(row.recipients or []),
            "channels": list(row.channels or []), "unit_id": row.unit_id, "managed_by": row.managed_by,
            "options": {k: v for k, v in (row.options or {}).items() if k not in ("origins", "declared")}}


def _admin_unit(session: Session, scope: Scope, unit_code: str | None) -> Unit:
    unit = session.scalar(select(Unit).where(Unit.code == unit_code)) if unit_code else None
    if unit is None or not scope.can("admin", unit.id):
        raise RuleError(N_("Choose one of your units."))
    return unit


def save_rule(session: Session, actor: Actor, scope: Scope, raw: Mapping[str, Any], settings: Settings, *,
              rule_id: int | None = None) -> AlertRule:
    """Add (``rule_id`` None) or change a rule from its own layer ``raw`` (``unit``: a unit code the
    scope administers). Raises RulesError (invalid) or RuleError. Audited with before and after."""
    unit = _admin_unit(session, scope, raw.get("unit"))
    data = resolve(raw, settings)
    data.pop("unit", None)
    clash = session.scalar(select(AlertRule.id).where(AlertRule.name == data["name"]))
    if rule_id is None:
        if clash is not None:
            raise RuleError(N_("A rule named '{name}' exists already."), name=data["name"])
        row = AlertRule(name=data["name"], severity=data["severity"])
        session.add(row)
        before = None
    else:
        row = get_rule(session, scope, rule_id)
        if not scope.can("admin", row.unit_id):
            raise RuleNotFound(N_("Unknown rule."))
        if clash is not None and clash != row.id:
            raise RuleError(N_("A rule named '{name}' exists already."), name=data["name"])
        before = _snapshot(row)
    # Surge / source-failing settings ride on their notify rule's options (alerts.rules_file.sync_rules).
    kept = {k: v for k, v in (row.options or {}).items() if k in ("surge", "source_failing")}
    declared = {k: v for k, v in raw.items() if v not in (None, "", [], {})}
    for key in ("name", "group_name", "enabled", "severity", "conditions", "recipients", "channels"):
        setattr(row, key, data[key])
    row.options = {**data["options"], **kept, "declared": declared}
    row.unit_id, row.managed_by = unit.id, WEB
    session.flush()
    record_saved(session, actor, "rule", object_type="alert_rule", object_id=row.name, unit_id=row.unit_id,
                 before=before, after=_snapshot(row))
    return row


def set_enabled(session: Session, actor: Actor, scope: Scope, rule_id: int, enabled: bool) -> AlertRule:
    row = get_rule(session, scope, rule_id)
    if not scope.can("admin", row.unit_id):
        raise RuleNotFound(N_("Unknown rule."))
    before = _snapshot(row)
    row.enabled, row.managed_by = enabled, WEB
    declared = declared_of(row)
    declared["enabled"] = enabled
    row.options = {**(row.options or {}), "declared": declared}
    session.flush()
    record(session, actor, "rule.enable" if enabled else "rule.disable", unit_id=row.unit_id,
           object_type="alert_rule", object_id=row.name, before=before, after=_snapshot(row))
    return row
