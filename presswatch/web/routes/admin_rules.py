"""/admin/rules: alert rules as a form, the cascade, a dry run over the last days, precision.

Thin: the form becomes the rule's own layer (as ``alert_rules.yaml`` would say it),
:func:`alerts.rules_admin.resolve` validates and resolves it with the rules file's parser,
:func:`alerts.rules.dry_run` runs :func:`alerts.rules.would_alert` over recent pieces,
:func:`alerts.precision.rule_precision` reads the analysts' feedback.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from fastapi import APIRouter, Depends, Form, HTTPException, Request
from fastapi.responses import Response

from accounts.users import manageable_units
from alerts import rules_admin
from alerts.precision import rule_precision
from alerts.render import decision_lines
from alerts.rules import CHANNELS, LANGUAGES, RulesError, dry_run
from models import Unit, utcnow
from models.enums import OutletTier, RiskLevel, SentimentLabel
from presswatch.i18n import N_
from presswatch.web.deps import Page, require

router = APIRouter(prefix="/admin/rules")
admin_page = require("admin")

DRY_RUN_DAYS = 7
PRECISION_DAYS = 30
MAX_DRY_RUN_ROWS = 200
TEXT_FIELDS = ("name", "unit", "group", "severity", "min_risk", "topics", "query", "watch_queries", "sources",
               "languages", "mentions_org", "privacy", "max_age_hours", "recipients", "quiet_hours", "timezone",
               "rate_limit_per_hour", "merge_window_minutes", "sla_critical", "sla_high", "sla_medium", "sla_low",
               "enabled", "action")
LIST_FIELDS = ("sentiment", "tiers", "channels")
_LABELS = (N_("rule"), N_("default"), N_("global"))


async def rule_form(request: Request) -> dict[str, Any]:
    """The posted form: text fields as strings, the checkbox groups as lists."""
    data = await request.form()
    out: dict[str, Any] = {f: str(data.get(f, "") or "") for f in TEXT_FIELDS}
    for f in LIST_FIELDS:
        out[f] = [str(v) for v in data.getlist(f)]
    return out


def _csv(text: str) -> list[str]:
    return [p.strip() for p in text.replace("，", ",").split(",") if p.strip()]


def _number(text: str) -> int | float | str:
    try:
        value = float(text)
    except ValueError:
        return text  # the parser names it
    return int(value) if value.is_integer() else value


def _recipients(text: str) -> list[dict[str, str]]:
    """One a line: ``address; name; language; channel; time zone`` (only the address is required)."""
    out = []
    for line in text.splitlines():
        parts = [p.strip() for p in line.split(";")]
        if not parts or not parts[0]:
            continue
        entry = {"address": parts[0]}
        for key, value in zip(("name", "language", "channel", "timezone"), parts[1:], strict=False):
            if value:
                entry[key] = value
        out.append(entry)
    return out


def declaration(form: dict[str, Any], settings: Any) -> dict[str, Any]:
    """The form as the rule's own layer (what alert_rules.yaml would say under ``rules:``)."""
    when: dict[str, Any] = {}
    if form["min_risk"]:
        when["min_risk"] = form["min_risk"]
    for key in ("sentiment", "tiers"):
        if form[key]:
            when[key] = list(form[key])
    for key in ("topics", "watch_queries", "sources", "languages"):
        if _csv(form[key]):
            when[key] = _csv(form[key])
    if form["query"].strip():
        when["query"] = form["query"].strip()
    for key in ("mentions_org", "privacy"):
        if form[key] in ("yes", "no"):
            when[key] = form[key] == "yes"
    if form["max_age_hours"].strip():
        when["max_age_hours"] = _number(form["max_age_hours"].strip())
    options: dict[str, Any] = {}
    for key in ("quiet_hours", "timezone"):
        if form[key].strip():
            options[key] = form[key].strip()
    for key in ("rate_limit_per_hour", "merge_window_minutes"):
        if form[key].strip():
            options[key] = _number(form[key].strip())
    raw: dict[str, Any] = {"name": form["name"].strip(), "severity": form["severity"] or "high",
                           "enabled": form["enabled"] == "1", "unit": form["unit"] or None}
    if form["group"]:
        raw["group"] = form["group"]
    sla = {s: _number(form["sla_" + s].strip()) for s in rules_admin.SEVERITIES if form["sla_" + s].strip()}
    if sla:
        # The SLA is one mapping in the cascade: the severities left empty keep what the rule inherits.
        inherited = rules_admin.resolve({**raw, "when": when, "options": options}, settings)["options"]
        options["sla_minutes"] = {**(inherited.get("sla_minutes") or {}), **sla}
    if when:
        raw["when"] = when
    if options:
        raw["options"] = options
    recipients = _recipients(form["recipients"])
    if recipients:
        raw["recipients"] = recipients
    if form["channels"]:
        raw["channels"] = list(form["channels"])
    return raw


def form_of(declared: dict[str, Any], unit_code: str) -> dict[str, Any]:
    when, options = dict(declared.get("when") or {}), dict(declared.get("options") or {})

    def tri(value: Any) -> str:
        return "" if value is None else ("yes" if value else "no")

    sla = options.get("sla_minutes") or {}
    return {
        "name": declared.get("name", ""), "unit": unit_code, "group": declared.get("group") or "",
        "severity": str(declared.get("severity", "high")), "enabled": "1" if declared.get("enabled", True) else "",
        "min_risk": str(when.get("min_risk") or ""), "sentiment": list(when.get("sentiment") or []),
        "tiers": list(when.get("tiers") or []), "topics": ", ".join(when.get("topics") or []),
        "watch_queries": ", ".join(when.get("watch_queries") or []), "sources": ", ".join(when.get("sources") or []),
        "languages": ", ".join(when.get("languages") or []), "query": str(when.get("query") or ""),
        "mentions_org": tri(when.get("mentions_org")), "privacy": tri(when.get("privacy")),
        "max_age_hours": "" if when.get("max_age_hours") is None else str(when["max_age_hours"]),
        "recipients": "\n".join("; ".join([r.get("address", ""), r.get("name", ""), r.get("language", ""),
                                           r.get("channel", ""), r.get("timezone", "")]).rstrip("; ")
                                for r in declared.get("recipients") or []),
        "channels": list(declared.get("channels") or []),
        "quiet_hours": str(options.get("quiet_hours") or ""), "timezone": str(options.get("timezone") or ""),
        "rate_limit_per_hour": str(options.get("rate_limit_per_hour") or ""),
        "merge_window_minutes": str(options.get("merge_window_minutes") or ""),
        **{"sla_" + s: str(sla.get(s) or "") for s in rules_admin.SEVERITIES}, "action": "save",
    }


def _blank(page: Page) -> dict[str, Any]:
    units = manageable_units(page.db, page.require_scope())
    focus = page.require_scope().focus
    unit = next((u.code for u in units if u.id == focus), units[0].code if units else "")
    return form_of({"severity": "high", "enabled": True}, unit)


def _render(page: Page, form: dict[str, Any], *, rule: Any = None, status_code: int = 200,
            **context: Any) -> Response:
    scope = page.require_scope()
    _, groups = rules_admin.file_layers(page.settings)
    precision = rule_precision(page.db, scope, PRECISION_DAYS, rule_ids=[rule.id]).get(rule.id) if rule else None
    return page.render("admin_rule_form.html", status_code=status_code, form=form, rule=rule,
                       units=manageable_units(page.db, scope), groups=sorted(groups),
                       severities=[r.value for r in RiskLevel], sentiments=[s.value for s in SentimentLabel],
                       tiers=[t.value for t in OutletTier], channels=CHANNELS, languages=LANGUAGES,
                       cascade=context.pop("cascade", rules_admin.cascade(rule) if rule is not None else []),
                       precision=precision, precision_days=PRECISION_DAYS, dry_run_days=DRY_RUN_DAYS, **context)


def _rule(page: Page, rule_id: int) -> Any:
    try:
        return rules_admin.get_rule(page.db, page.require_scope(), rule_id)
    except rules_admin.RuleNotFound:
        raise HTTPException(status_code=404) from None


@router.get("")
def rules(page: Page = Depends(admin_page)) -> Response:
    scope = page.require_scope()
    rows = rules_admin.list_rules(page.db, scope)
    units = {u.id: u.name for u in page.db.query(Unit).filter(Unit.id.in_([r.unit_id for r in rows if r.unit_id]))}
    return page.render("admin_rules.html", rows=rows, units=units, precision_days=PRECISION_DAYS,
                       precision=rule_precision(page.db, scope, PRECISION_DAYS))


@router.get("/new")
def new_rule(page: Page = Depends(admin_page)) -> Response:
    return _render(page, _blank(page))


@router.get("/{rule_id}")
def edit_rule(rule_id: int, page: Page = Depends(admin_page)) -> Response:
    row = _rule(page, rule_id)
    unit = page.db.get(Unit, row.unit_id) if row.unit_id else None
    return _render(page, form_of(rules_admin.declared_of(row), unit.code if unit else ""), rule=row)


def _dry_run(page: Page, data: dict[str, Any], rule_id: int | None) -> dict[str, Any]:
    spec = rules_admin.spec_of(page.db, data, rule_id)
    result = dry_run(page.db, spec, since=utcnow() - timedelta(days=DRY_RUN_DAYS))
    fired = result.fired
    rows = [{"item": r.item, "why": "; ".join(decision_lines(r.decision.parts, page.language))}
            for r in fired[:MAX_DRY_RUN_ROWS]]
    misses = sorted(result.misses.items(), key=lambda kv: -kv[1])[:8]
    return {"result": result, "rows": rows, "fired": len(fired), "misses": misses,
            "more": max(0, len(fired) - MAX_DRY_RUN_ROWS)}


FORM_OPTIONS = frozenset({"quiet_hours", "timezone", "rate_limit_per_hour", "merge_window_minutes", "sla_minutes"})


def _keep_unformed(raw: dict[str, Any], rule: Any) -> dict[str, Any]:
    """Options of the rule's own layer the form has no field for (``escalation``) stay as declared."""
    if rule is None:
        return raw
    own = dict(rules_admin.declared_of(rule).get("options") or {})
    kept = {k: v for k, v in own.items() if k not in FORM_OPTIONS}
    if kept:
        raw = {**raw, "options": {**kept, **(raw.get("options") or {})}}
    return raw


def _submit(page: Page, form: dict[str, Any], rule_id: int | None) -> Response:
    rule = _rule(page, rule_id) if rule_id is not None else None
    try:
        raw = _keep_unformed(declaration(form, page.settings), rule)
        data = rules_admin.resolve(raw, page.settings)
    except RulesError as exc:
        return _render(page, form, rule=rule, status_code=400, error=str(exc))
    if form["action"] == "dry_run":
        return _render(page, form, rule=rule, cascade=rules_admin.cascade(data), dry=_dry_run(page, data, rule_id))
    try:
        row = rules_admin.save_rule(page.db, page.actor, page.require_scope(), raw, page.settings, rule_id=rule_id)
    except rules_admin.RuleNotFound:
        page.db.rollback()
        raise HTTPException(status_code=404) from None
    except rules_admin.RuleError as exc:
        page.db.rollback()
        return _render(page, form, rule=rule, status_code=400, error=exc.localized(page.t))
    except RulesError as exc:
        page.db.rollback()
        return _render(page, form, rule=rule, status_code=400, error=str(exc))
    page.commit()
    return page.redirect(f"/admin/rules/{row.id}?saved=1")


@router.post("/new")
def create_rule(page: Page = Depends(admin_page), form: dict[str, Any] = Depends(rule_form)) -> Response:
    return _submit(page, form, None)


@router.post("/{rule_id}")
def update_rule(rule_id: int, page: Page = Depends(admin_page),
                form: dict[str, Any] = Depends(rule_form)) -> Response:
    return _submit(page, form, rule_id)


@router.post("/{rule_id}/enabled")
def enable(rule_id: int, page: Page = Depends(admin_page), enabled: str = Form("")) -> Response:
    try:
        rules_admin.set_enabled(page.db, page.actor, page.require_scope(), rule_id, enabled == "1")
    except rules_admin.RuleNotFound:
        raise HTTPException(status_code=404) from None
    page.commit()
    return page.redirect("/admin/rules")
