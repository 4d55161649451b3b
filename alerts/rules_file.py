"""The alert rules file: ``alert_rules.yaml`` read, validated and mirrored into the ``alert_rules`` table.

Rules, groups and global defaults are declared in YAML; :func:`sync_rules` validates them and
mirrors them into the table with the cascade already resolved (rule > group > global > built-in
default), recording where each effective value came from so ``presswatch alerts rules`` can show
it. A typo (unknown key, bad risk level, a watch query that does not parse, a bad recipient
address or time zone) fails at load time with the rule named, not at 3 a.m. The decision itself
(:func:`alerts.rules.would_alert`) knows nothing of files.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from alerts.rules import (
    BUILTIN_CONDITIONS,
    BUILTIN_OPTIONS,
    CHANNELS,
    CONDITION_KEYS,
    LANGUAGES,
    OPTION_KEYS,
    RulesError,
)
from models import AlertRule
from models.db import advisory_xact_lock
from models.enums import OutletTier, RiskLevel, SentimentLabel
from presswatch.addresses import AddressError, validate_email_address
from presswatch.i18n import TimeZoneError, validate_timezone
from presswatch.yamlfile import read_yaml
from settings import Settings

log = logging.getLogger(__name__)
# Who owns an alert_rules row (models.AlertRule.managed_by): this file's sync, or the admin pages.
FILE, WEB = "file", "web"


# --------------------------------------------------------------------------------------------
# The rules file


def _check_keys(where: str, data: Mapping[str, Any], allowed: Iterable[str]) -> None:
    unknown = sorted(set(data) - set(allowed))
    if unknown:
        raise RulesError(f"{where}: unknown key(s) {', '.join(unknown)}; allowed: {', '.join(sorted(allowed))}")


def _validate_conditions(where: str, cond: Mapping[str, Any]) -> dict[str, Any]:
    from classify.query import QuerySyntaxError, parse_query

    _check_keys(where, cond, CONDITION_KEYS)
    out = dict(cond)
    if "min_risk" in out and out["min_risk"] is not None and out["min_risk"] not in [r.value for r in RiskLevel]:
        raise RulesError(f"{where}: min_risk {out['min_risk']!r} is not one of low, medium, high, critical")
    if out.get("privacy") is not None and not isinstance(out["privacy"], bool):
        raise RulesError(f"{where}: privacy must be true or false, got {out['privacy']!r}")
    if out.get("max_age_hours") is not None:
        value = out["max_age_hours"]
        if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
            raise RulesError(f"{where}: max_age_hours must be hours >= 0 (0 or null: no limit), got {value!r}")
    for key, allowed in (("sentiment", [s.value for s in SentimentLabel]), ("tiers", [t.value for t in OutletTier])):
        if key in out:
            values = [out[key]] if isinstance(out[key], str) else list(out[key] or [])
            bad = [v for v in values if v not in allowed]
            if bad:
                raise RulesError(f"{where}: {key} {bad} not in {', '.join(allowed)}")
            out[key] = values
    for key in ("topics", "sources", "languages", "watch_queries"):
        if key in out:
            out[key] = [out[key]] if isinstance(out[key], str) else [str(v) for v in out[key] or []]
    if out.get("query"):
        try:
            parse_query(str(out["query"]))
        except QuerySyntaxError as exc:
            raise RulesError(f"{where}: query: {exc}") from None
    return out


def _parse_recipients(where: str, raw: Any, default_channels: list[str]) -> list[dict[str, str]]:
    out: list[dict[str, str]] = []
    for n, r in enumerate(raw or []):
        if not isinstance(r, Mapping) or not r.get("address"):
            raise RulesError(f"{where}: recipients[{n}] needs at least an address")
        _check_keys(f"{where}: recipients[{n}]", r, {"name", "address", "language", "channel", "channels", "timezone"})
        tz = str(r.get("timezone", ""))
        if tz:
            try:
                validate_timezone(tz)
            except TimeZoneError as exc:
                raise RulesError(f"{where}: recipients[{n}] timezone: {exc}") from None
        language = str(r.get("language", "zh-CN"))
        if language not in LANGUAGES:
            raise RulesError(f"{where}: recipients[{n}] language {language!r} not in {', '.join(LANGUAGES)}")
        channels = r.get("channels") or ([r["channel"]] if r.get("channel") else default_channels or ["email"])
        for channel in channels:
            if channel not in CHANNELS:
                raise RulesError(f"{where}: recipients[{n}] channel {channel!r} not in {', '.join(CHANNELS)}")
            if channel == "email":
                try:
                    validate_email_address(str(r["address"]))
                except AddressError as exc:
                    raise RulesError(f"{where}: recipients[{n}] address: {exc}") from None
            out.append({"name": str(r.get("name", r["address"])), "address": str(r["address"]),
                        "language": language, "channel": str(channel), "timezone": tz})
    return out


@dataclass
class RulesFile:
    rules: list[dict[str, Any]]  # rows for alert_rules, cascade resolved
    surge: dict[str, Any]
    source_failing: dict[str, Any]


def global_options(settings: Settings) -> dict[str, Any]:
    a = settings.alerts
    return {"quiet_hours": a.quiet_hours, "rate_limit_per_hour": a.rate_limit_per_hour}


def parse_rules(data: Mapping[str, Any], settings: Settings, where: str = "alert_rules.yaml") -> RulesFile:
    """Validate a rules document and resolve the cascade: rule > group > global > built-in default."""
    if not isinstance(data, Mapping):
        raise RulesError(f"{where}: expected a mapping with 'rules'")
    _check_keys(where, data, {"defaults", "groups", "rules", "surge", "source_failing"})
    defaults = dict(data.get("defaults") or {})
    _check_keys(f"{where}: defaults", defaults, {"when", "options", "channels", "recipients"})
    groups = dict(data.get("groups") or {})
    rows: list[dict[str, Any]] = []
    seen: set[str] = set()
    for n, raw in enumerate(data.get("rules") or []):
        if not isinstance(raw, Mapping) or not raw.get("name"):
            raise RulesError(f"{where}: rules[{n}] needs a name")
        name = str(raw["name"])
        here = f"{where}: rule {name}"
        if name in seen:
            raise RulesError(f"{here}: duplicate name")
        seen.add(name)
        _check_keys(here, raw, {"name", "group", "enabled", "severity", "when", "recipients", "channels", "options",
                                "unit"})
        group_name = raw.get("group")
        group: Mapping[str, Any] = {}
        if group_name is not None:
            if group_name not in groups:
                raise RulesError(f"{here}: unknown group {group_name!r}")
            group = groups[group_name] or {}
            _check_keys(f"{where}: group {group_name}", group, {"when", "options", "channels", "recipients", "unit"})
        origins: dict[str, str] = {}
        conditions: dict[str, Any] = {}
        options: dict[str, Any] = {}
        layers: list[tuple[str, Mapping[str, Any], Mapping[str, Any]]] = [
            ("default", BUILTIN_CONDITIONS, BUILTIN_OPTIONS),
            ("global", defaults.get("when") or {}, {**global_options(settings), **(defaults.get("options") or {})}),
            (f"group {group_name}", group.get("when") or {}, group.get("options") or {}),
            ("rule", raw.get("when") or {}, raw.get("options") or {}),
        ]
        for origin, cond, opts in layers:
            cond = _validate_conditions(f"{here} ({origin} conditions)", cond)
            _check_keys(f"{here} ({origin} options)", opts, OPTION_KEYS)
            for k, v in cond.items():
                conditions[k] = v
                origins[f"when.{k}"] = origin
            for k, v in opts.items():
                options[k] = v
                origins[f"options.{k}"] = origin
        channels: list[str] = list(
            raw.get("channels") or group.get("channels") or defaults.get("channels") or ["email"]
        )
        recipients_raw = raw.get("recipients") or group.get("recipients") or defaults.get("recipients") or []
        origins["recipients"] = (
            "rule" if raw.get("recipients") else f"group {group_name}" if group.get("recipients") else "global"
        )
        recipients = _parse_recipients(here, recipients_raw, channels)
        severity = str(raw.get("severity", "high"))
        if severity not in [r.value for r in RiskLevel]:
            raise RulesError(f"{here}: severity {severity!r} is not one of low, medium, high, critical")
        options["origins"] = origins
        rows.append({
            "name": name, "group_name": group_name, "enabled": bool(raw.get("enabled", True)),
            "severity": RiskLevel(severity), "conditions": conditions, "recipients": recipients,
            "channels": sorted({r["channel"] for r in recipients}), "options": options,
            # The owning unit (code or name), resolved to an id when synced: units may load later.
            "unit": str(raw.get("unit") or group.get("unit") or "") or None,
        })
    surge = dict(data.get("surge") or {})
    _check_keys(f"{where}: surge", surge, {"notify_rule", "min_count", "hour_ratio", "day_ratio", "baseline_days",
                                           "enabled"})
    source_failing = dict(data.get("source_failing") or {})
    _check_keys(f"{where}: source_failing", source_failing, {"notify_rule", "enabled"})
    for section, body in (("surge", surge), ("source_failing", source_failing)):
        if body.get("notify_rule") and body["notify_rule"] not in seen:
            raise RulesError(f"{where}: {section}.notify_rule {body['notify_rule']!r} is not a rule")
    return RulesFile(rules=rows, surge=surge, source_failing=source_failing)


def read_rules_file(path: str | Path, settings: Settings) -> RulesFile:
    path = Path(path)
    if not path.is_file():
        raise RulesError(f"rules file not found: {path}")
    return parse_rules(read_yaml(path, RulesError) or {}, settings, where=str(path))



def sync_rules(session: Session, rules_file: RulesFile) -> dict[str, int]:
    """Mirror the file into the table: insert new, update changed, disable rules no longer listed.

    Rules are disabled rather than deleted so existing alerts keep their rule reference.
    """
    existing = {r.name: r for r in session.scalars(select(AlertRule))}
    counts = {"added": 0, "updated": 0, "disabled": 0}
    names = set()
    for data in rules_file.rules:
        names.add(data["name"])
        data = dict(data)
        data["unit_id"] = _owner_unit_id(session, data["name"], data.pop("unit", None))
        # Surge/source-failing settings ride on their notify rule's options.
        if rules_file.surge.get("notify_rule") == data["name"]:
            data["options"] = {**data["options"], "surge": rules_file.surge}
        if rules_file.source_failing.get("notify_rule") == data["name"]:
            data["options"] = {**data["options"], "source_failing": rules_file.source_failing}
        row = existing.get(data["name"])
        if row is not None and row.managed_by == WEB:
            # Changed in the admin pages (or by `presswatch config import`): the database owns it now.
            log.warning("alert rule %s is managed in the web app; its entry in the rules file is ignored", row.name)
            continue
        if row is None:
            session.add(AlertRule(**data))
            counts["added"] += 1
            _audit_rule(session, "rule.add", data["name"], data.get("unit_id"), None, _audited(data))
            continue
        before: dict[str, Any] = {}
        after: dict[str, Any] = {}
        for key, value in data.items():
            if getattr(row, key) != value:
                before[key], after[key] = getattr(row, key), value
                setattr(row, key, value)
        counts["updated"] += int(bool(after))
        if after:
            _audit_rule(session, "rule.update", row.name, row.unit_id, _audited(before), _audited(after))
    for name, row in existing.items():
        if name not in names and row.enabled and row.managed_by != WEB:
            row.enabled = False
            counts["disabled"] += 1
            _audit_rule(session, "rule.disable", name, row.unit_id, {"enabled": True}, {"enabled": False})
    session.flush()
    return counts


def _audited(data: Mapping[str, Any]) -> dict[str, Any]:
    """A rule's fields as the audit log keeps them (the per-key origins are display data, not config)."""
    out = dict(data)
    if isinstance(out.get("options"), Mapping):
        out["options"] = {k: v for k, v in out["options"].items() if k != "origins"}
    return out


def _audit_rule(session: Session, action: str, name: str, unit_id: int | None, before: Mapping[str, Any] | None,
                after: Mapping[str, Any] | None) -> None:
    """A configuration change read from the rules file is audited like one made in the web app."""
    from accounts.audit import Actor, record

    if before is not None and after is not None and before == after:
        return
    record(session, Actor.system("alert_rules.yaml"), action, unit_id=unit_id, object_type="alert_rule",
           object_id=name, before=before, after=after)


def _owner_unit_id(session: Session, rule: str, ref: str | None) -> int | None:
    """The unit a rule belongs to: its ``unit:`` (code or name), else the installation's organization.
    A unit not loaded yet is logged and left open; the next sync (every evaluation run) resolves it."""
    from models import Unit
    from models.scope import default_unit_id

    if not ref:
        return default_unit_id(session)
    unit_id = session.scalar(select(Unit.id).where(Unit.code == ref)) or session.scalar(
        select(Unit.id).where(Unit.name == ref).order_by(Unit.id).limit(1))
    if unit_id is None:
        log.warning("alert rule %s: unit %r is not loaded yet (quota.yaml units); its cases have no organization "
                    "until it is", rule, ref)
    return unit_id


def ensure_rules_loaded(session: Session, settings: Settings) -> dict[str, int] | None:
    """Sync from ``alerts.rules_file`` if it exists (the service and CLI call this before use)."""
    path = Path(settings.alerts.rules_file)
    if not path.is_file():
        return None
    rules = read_rules_file(path, settings)
    # Several workers start at once (services, CLI runs): one syncs, the next sees its rows.
    advisory_xact_lock(session, "alerts.rules")
    return sync_rules(session, rules)
