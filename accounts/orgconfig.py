"""An organization's configuration as one YAML document: ``presswatch config export`` / ``import``.

Sections: ``sources`` (as in sources.yaml), ``rules`` (each rule's own layer, as in
alert_rules.yaml), ``watch_queries``, ``digests`` (as in digests.yaml) and ``quota_rules`` (as
under ``rules:`` in the quota file), every entry with its ``unit`` (a unit code). Export takes
the organization's subtree; import validates every entry with the loader its own file uses
(:func:`crawlers.manage.validate_source`, :func:`alerts.rules_admin.resolve`,
:func:`classify.query.parse_query`, :func:`alerts.digest.definitions.parse_definitions`,
:func:`quota.config.parse_quota_data`), reports every problem before anything is written, and
computes the changes (:func:`plan_import`); :func:`apply_import` writes them.

Where imported entries live: in the database, as when edited in the admin pages. Sources and
alert rules become database-owned (``managed_by = web``: the file syncs leave them alone), watch
queries and quota rules are rows already, digest definitions go to ``digest_definitions``, which
wins over the digests file's entry of the same name. Each write is audited (``actor`` "config
import").
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from accounts.audit import Actor, record
from models import AlertRule, Outlet, QuotaRule, Source, Unit, WatchQuery
from models.scope import subtree_ids, system_scope
from settings import Settings

SECTIONS = ("sources", "rules", "watch_queries", "digests", "quota_rules")
PURPOSES = ("org", "official", "topic", "watch")


class ConfigError(Exception):
    """The document is invalid; the message lists every problem, each naming its entry."""


@dataclass
class Change:
    section: str
    key: str
    action: str  # add / change / same
    fields: list[tuple[str, Any, Any]] = field(default_factory=list)  # (field, before, after)

    def lines(self) -> list[str]:
        head = {"add": "+", "change": "~", "same": "="}[self.action]
        out = [f"{head} {self.section} {self.key}"]
        for name, before, after in self.fields:
            out.append(f"    {name}: {_short(before)} -> {_short(after)}")
        return out


@dataclass
class ImportPlan:
    changes: list[Change]
    entries: dict[str, list[dict[str, Any]]]

    @property
    def pending(self) -> list[Change]:
        return [c for c in self.changes if c.action != "same"]


def _short(value: Any, limit: int = 120) -> str:
    text = json.dumps(value, ensure_ascii=False, default=str, sort_keys=True)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _units(session: Session) -> tuple[dict[int, str], dict[str, int]]:
    codes = {i: c for i, c in session.execute(select(Unit.id, Unit.code))}
    return codes, {c: i for i, c in codes.items()}


def _org_ids(session: Session, org_code: str) -> frozenset[int]:
    _, ids = _units(session)
    if org_code not in ids:
        raise ConfigError(f"unknown organization (unit code) {org_code!r}")
    return subtree_ids(session, [ids[org_code]])


# --------------------------------------------------------------------------------------------
# Export


def _quota_rule(row: QuotaRule, codes: Mapping[int | None, str], outlets: Mapping[int | None, str]) -> dict[str, Any]:
    out: dict[str, Any] = {"key": row.key, "name": row.name}
    if row.unit_id is not None:
        out["unit"] = codes.get(row.unit_id)
    if row.unit_kind is not None:
        out["unit_kind"] = str(row.unit_kind)
    if row.parent_unit_id is not None:
        out["under"] = codes.get(row.parent_unit_id)
    if row.include_subunits:
        out["include_subunits"] = True
    if row.outlet_id is not None:
        out["outlet"] = outlets.get(row.outlet_id)
    if row.outlet_tier is not None:
        out["outlet_tier"] = str(row.outlet_tier)
    if row.piece_kind is not None:
        out["piece_kind"] = str(row.piece_kind)
    if row.topics:
        out["topic"] = list(row.topics)
    if row.max_chars is not None:
        out["max_chars"] = row.max_chars
    out.update({"measure": str(row.measure), "target": row.target, "period": str(row.period),
                "timezone": row.timezone, "registered_only": row.registered_only,
                "review_required": row.review_required, "verified_only": row.verified_only})
    if row.weights:
        out["weights"] = dict(row.weights)
    if row.active_from is not None:
        out["active_from"] = row.active_from.isoformat()
    if row.active_to is not None:
        out["active_to"] = row.active_to.isoformat()
    if row.announce_unit_id is not None:
        out["announce_to"] = codes.get(row.announce_unit_id)
    return out


def _digest_file(settings: Settings) -> Path:
    return Path(settings.alerts.digests_file)


def export_config(session: Session, settings: Settings, org_code: str) -> dict[str, Any]:
    """The organization's (the unit ``org_code`` and everything under it) configuration."""
    from alerts.digest.definitions import all_definitions
    from alerts.rules_admin import declared_of
    from crawlers.manage import declaration_of

    ids = _org_ids(session, org_code)
    codes, _ = _units(session)
    org_codes = {codes[i] for i in ids}
    outlets = {i: k for i, k in session.execute(select(Outlet.id, Outlet.key))}
    sources = [declaration_of(row, codes.get(row.unit_id or 0)) for row in session.scalars(
        select(Source).where(Source.unit_id.in_(sorted(ids))).order_by(Source.key))]
    rules = [{**declared_of(row), "unit": codes.get(row.unit_id)} for row in session.scalars(  # type: ignore[arg-type]
        select(AlertRule).where(AlertRule.unit_id.in_(sorted(ids))).order_by(AlertRule.name))]
    queries = [{"name": w.name, "query": w.query, "purpose": w.purpose, "enabled": w.enabled,
                "priority": w.priority, "unit": codes.get(w.unit_id)}  # type: ignore[arg-type]
               for w in session.scalars(select(WatchQuery).where(WatchQuery.unit_id.in_(sorted(ids)))
                                        .order_by(WatchQuery.name))]
    digests = [d.model_dump(mode="json") for d in all_definitions(session, _digest_file(settings))
               if d.scope.units and set(d.scope.units) <= org_codes]
    quota = [_quota_rule(r, codes, outlets) for r in session.scalars(  # type: ignore[arg-type]
        select(QuotaRule).where(QuotaRule.owner_unit_id.in_(sorted(ids))).order_by(QuotaRule.key))]
    return {"organization": org_code, "sources": sources, "rules": rules, "watch_queries": queries,
            "digests": digests, "quota_rules": quota}


# --------------------------------------------------------------------------------------------
# Import


def _diff(before: Mapping[str, Any] | None, after: Mapping[str, Any], section: str, key: str) -> Change:
    if before is None:
        return Change(section, key, "add")

    def norm(v: Any) -> Any:
        return json.loads(json.dumps(v, default=str, sort_keys=True))

    fields = [(k, before.get(k), after.get(k)) for k in sorted(set(before) | set(after))
              if norm(before.get(k)) != norm(after.get(k))]
    return Change(section, key, "change" if fields else "same", fields)


def plan_import(session: Session, settings: Settings, data: Any, *, org_code: str | None = None) -> ImportPlan:
    """Validate a document and say what importing it would change. Raises ConfigError listing every
    problem (nothing is written)."""
    from alerts.digest.definitions import DigestError, all_definitions, parse_definitions
    from alerts.rules import RulesError
    from alerts.rules_admin import declared_of, resolve
    from classify.query import QuerySyntaxError, parse_query
    from crawlers.manage import declaration_of, validate_source
    from crawlers.registry import RegistryError
    from quota.config import parse_quota_data
    from quota.units import QuotaError

    if not isinstance(data, Mapping):
        raise ConfigError("expected a mapping with " + ", ".join(SECTIONS))
    unknown = sorted(set(data) - {*SECTIONS, "organization"})
    problems = [f"unknown section(s): {', '.join(unknown)}"] if unknown else []
    org_code = org_code or data.get("organization")
    codes, ids_by_code = _units(session)
    allowed = _org_ids(session, org_code) if org_code else None
    entries: dict[str, list[dict[str, Any]]] = {s: [dict(e) if isinstance(e, Mapping) else e
                                                    for e in data.get(s) or []] for s in SECTIONS}
    changes: list[Change] = []

    def check_unit(where: str, entry: Mapping[str, Any], required: bool = True) -> bool:
        unit = entry.get("unit")
        if not unit:
            if required:
                problems.append(f"{where}: needs a unit (a unit code)")
            return not required
        if unit not in ids_by_code:
            problems.append(f"{where}: unknown unit {unit!r}")
            return False
        if allowed is not None and ids_by_code[unit] not in allowed:
            problems.append(f"{where}: unit {unit!r} is outside the organization {org_code!r}")
            return False
        return True

    for n, raw in enumerate(entries["sources"]):
        where = f"sources[{n}] ({raw.get('key', '?') if isinstance(raw, Mapping) else '?'})"
        if not isinstance(raw, Mapping) or not check_unit(where, raw):
            continue
        try:
            decl = validate_source(session, raw)
        except RegistryError as exc:
            problems.append(f"{where}: {exc}")
            continue
        row = session.scalar(select(Source).where(Source.key == decl.key))
        if row is not None and allowed is not None and row.unit_id not in allowed:
            problems.append(f"{where}: the key {decl.key!r} belongs to another organization's source")
            continue
        changes.append(_diff(declaration_of(row, codes.get(row.unit_id)) if row else None,  # type: ignore[arg-type]
                             {**decl.config(), "enabled": decl.enabled}, "sources", decl.key))
    for n, raw in enumerate(entries["rules"]):
        where = f"rules[{n}] ({raw.get('name', '?') if isinstance(raw, Mapping) else '?'})"
        if not isinstance(raw, Mapping) or not check_unit(where, raw):
            continue
        try:
            resolve(raw, settings)
        except RulesError as exc:
            problems.append(f"{where}: {exc}")
            continue
        existing = session.scalar(select(AlertRule).where(AlertRule.name == raw["name"]))
        if existing is not None and allowed is not None and existing.unit_id not in allowed:
            problems.append(f"{where}: the name {raw['name']!r} belongs to another organization's rule")
            continue
        before = {**declared_of(existing), "unit": codes.get(existing.unit_id)} if existing else None  # type: ignore[arg-type]
        changes.append(_diff(before, dict(raw), "rules", str(raw["name"])))
    for n, raw in enumerate(entries["watch_queries"]):
        where = f"watch_queries[{n}] ({raw.get('name', '?') if isinstance(raw, Mapping) else '?'})"
        if not isinstance(raw, Mapping) or not check_unit(where, raw):
            continue
        extra = sorted(set(raw) - {"name", "query", "purpose", "enabled", "priority", "unit"})
        if extra or not raw.get("name") or not raw.get("query"):
            unknown_keys = f"; unknown key(s) {', '.join(extra)}" if extra else ""
            problems.append(f"{where}: needs name and query{unknown_keys}")
            continue
        if raw.get("purpose", "watch") not in PURPOSES:
            problems.append(f"{where}: purpose must be one of {', '.join(PURPOSES)}")
            continue
        try:
            parse_query(str(raw["query"]))
        except QuerySyntaxError as exc:
            problems.append(f"{where}: query: {exc}")
            continue
        w = session.scalar(select(WatchQuery).where(WatchQuery.name == raw["name"]))
        if w is not None and allowed is not None and w.unit_id not in allowed:
            problems.append(f"{where}: the name {raw['name']!r} belongs to another organization's query")
            continue
        after = {"name": raw["name"], "query": raw["query"], "purpose": raw.get("purpose", "watch"),
                 "enabled": bool(raw.get("enabled", True)), "priority": int(raw.get("priority", 0)),
                 "unit": raw["unit"]}
        before = ({"name": w.name, "query": w.query, "purpose": w.purpose, "enabled": w.enabled,
                   "priority": w.priority, "unit": codes.get(w.unit_id)} if w else None)  # type: ignore[arg-type]
        changes.append(_diff(before, after, "watch_queries", str(raw["name"])))
    if entries["digests"]:
        try:
            digests = parse_definitions(entries["digests"], "digests")
        except DigestError as exc:
            problems.append(str(exc))
            digests = []
        try:
            on_file = {d.name: d.model_dump(mode="json")
                       for d in all_definitions(session, _digest_file(settings))}
        except DigestError as exc:
            problems.append(str(exc))
            on_file = {}
        for d in digests:
            outside = [u for u in d.scope.units if u not in ids_by_code or
                       (allowed is not None and ids_by_code[u] not in allowed)]
            if not d.scope.units or outside:
                problems.append(f"digests ({d.name}): scope.units must name units of the organization"
                                + (f" (not {', '.join(outside)})" if outside else ""))
                continue
            changes.append(_diff(on_file.get(d.name), d.model_dump(mode="json"), "digests", d.name))
    if entries["quota_rules"]:
        try:
            spec = parse_quota_data({"rules": entries["quota_rules"]}, "quota_rules")
        except QuotaError as exc:
            problems.append(str(exc))
        else:
            outlets = {i: k for i, k in session.execute(select(Outlet.id, Outlet.key))}
            for rule, raw in zip(spec.rules, entries["quota_rules"], strict=True):
                where = f"quota_rules ({rule.key})"
                owner = rule.unit or rule.under
                if not owner or not check_unit(where, {"unit": owner}):
                    if not owner:
                        problems.append(f"{where}: needs a unit or under (inside the organization)")
                    continue
                if rule.outlet and rule.outlet not in outlets.values():
                    problems.append(f"{where}: unknown outlet {rule.outlet!r}")
                    continue
                quota_row = session.scalar(select(QuotaRule).where(QuotaRule.key == rule.key))
                before = _quota_rule(quota_row, codes, outlets) if quota_row else None  # type: ignore[arg-type]
                after = {**before, **raw} if before else dict(raw)
                changes.append(_diff(before, after, "quota_rules", rule.key))
    if problems:
        raise ConfigError("invalid configuration:\n  " + "\n  ".join(problems))
    return ImportPlan(changes=changes, entries=entries)


def apply_import(session: Session, settings: Settings, plan: ImportPlan, actor: Actor | None = None) -> dict[str, int]:
    """Write what ``plan`` says changes (never commits). Returns how many entries per section."""
    from alerts.digest.definitions import all_definitions, parse_definitions
    from alerts.rules_admin import save_rule
    from classify.watch_admin import save_query
    from crawlers.manage import save_source, validate_source
    from quota.config import QuotaFile, load_quota, parse_quota_data

    actor = actor or Actor.system("config import")
    scope = system_scope()
    todo = {(c.section, c.key) for c in plan.pending}
    counts = dict.fromkeys(SECTIONS, 0)
    for raw in plan.entries["sources"]:
        if ("sources", raw["key"]) in todo:
            decl = validate_source(session, raw)
            row = session.scalar(select(Source).where(Source.key == decl.key))
            save_source(session, actor, scope, decl, source_id=row.id if row else None)
            counts["sources"] += 1
    for raw in plan.entries["rules"]:
        if ("rules", str(raw["name"])) in todo:
            existing = session.scalar(select(AlertRule.id).where(AlertRule.name == raw["name"]))
            save_rule(session, actor, scope, raw, settings, rule_id=existing)
            counts["rules"] += 1
    _, ids_by_code = _units(session)
    for raw in plan.entries["watch_queries"]:
        if ("watch_queries", str(raw["name"])) not in todo:
            continue
        existing = session.scalar(select(WatchQuery.id).where(WatchQuery.name == raw["name"]))
        save_query(session, actor, scope, name=str(raw["name"]), text=str(raw["query"]),
                   purpose=str(raw.get("purpose", "watch")), enabled=bool(raw.get("enabled", True)),
                   priority=int(raw.get("priority", 0)), unit_code=str(raw["unit"]), query_id=existing)
        counts["watch_queries"] += 1
    digests = [d for d in plan.entries["digests"] if ("digests", str(d.get("name"))) in todo]
    if digests:
        from alerts.digest.admin import save_definition

        for new in parse_definitions(digests, "digests"):
            save_definition(session, actor, scope, settings, new,
                            original=new.name if new.name in {d.name for d in all_definitions(
                                session, _digest_file(settings))} else None)
        counts["digests"] = len(digests)
    quota = [r for r in plan.entries["quota_rules"] if ("quota_rules", str(r.get("key"))) in todo]
    if quota:
        spec = parse_quota_data({"rules": quota}, "quota_rules")
        load_quota(session, QuotaFile(rules=spec.rules), settings.quota.timezone, settings.classify.taxonomy_file)
        for rule in spec.rules:
            record(session, actor, "quota_rule.import", unit_id=ids_by_code.get(rule.unit or rule.under or ""),
                   object_type="quota_rule", object_id=rule.key, after=rule.model_dump(mode="json", exclude_none=True))
        counts["quota_rules"] = len(quota)
    session.flush()
    return counts
