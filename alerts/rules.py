"""Alert rules as data, and the one function that decides whether a rule fires.

``alert_rules.yaml`` declares rules, groups and global defaults; :func:`sync_rules` validates it
and mirrors it into the ``alert_rules`` table with the cascade already resolved (rule > group >
global > built-in default), recording where each effective value came from so
``presswatch alerts rules`` can show it. A typo (unknown key, bad risk level, a watch query that
does not parse) fails at load time with the rule named, not at 3 a.m.

:func:`would_alert` is the single source of truth for "does this rule fire on this item?": the
live alerter, the digest and the dry run (``presswatch alerts test RULE --since 7d``) all call it,
so they can never disagree. It is pure: no database, no clock.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import select
from sqlalchemy.orm import Session

from classify.reasons import PrivacyFinding, Reasons, parse_reasons
from models import AlertRule, Article, Classification, Outlet, Source, WatchQuery
from models.db import advisory_xact_lock
from models.enums import OutletTier, RiskLevel, SentimentLabel
from presswatch.yamlfile import read_yaml
from settings import Settings

log = logging.getLogger(__name__)

LANGUAGES = ("zh-CN", "vi", "en")
CHANNELS = ("email", "wecom", "dingtalk", "feishu", "slack", "json")

# Built-in defaults: the bottom of the cascade. max_age_hours: a piece already older than this
# when it is evaluated is coverage from the past (a new source's first crawl, a sitemap backfill,
# an imported archive, old pieces re-classified by a new model), not news for the duty team; 72 h
# still covers a Friday-evening piece first crawled on Monday morning. null/0 switches it off.
BUILTIN_CONDITIONS: dict[str, Any] = {"min_risk": "high", "max_age_hours": 72}
BUILTIN_OPTIONS: dict[str, Any] = {
    "timezone": "Asia/Shanghai",
    "quiet_hours": "",
    "rate_limit_per_hour": 20,
    "merge_window_minutes": 10,
    # Deadline to resolve a case, per severity (minutes).
    "sla_minutes": {"critical": 30, "high": 120, "medium": 480, "low": 1440},
    "escalation": [],  # people to hand an overdue case to, in order: [{name, address, language, channel}]
}
CONDITION_KEYS = frozenset(
    {"min_risk", "sentiment", "topics", "query", "watch_queries", "tiers", "sources", "languages", "mentions_org",
     "max_age_hours", "privacy"}
)
OPTION_KEYS = frozenset(BUILTIN_OPTIONS)


class RulesError(ValueError):
    """The rules file is wrong; the message names the rule and the key."""


@dataclass(frozen=True)
class Recipient:
    name: str
    address: str  # an email address, or the webhook URL for chat channels
    language: str = "zh-CN"
    channel: str = "email"
    timezone: str = ""  # for quiet hours and times in the message; empty: the rule's time zone

    @property
    def key(self) -> str:
        return f"{self.channel}:{self.address}"

    def as_dict(self) -> dict[str, str]:
        return {"name": self.name, "address": self.address, "language": self.language, "channel": self.channel,
                "timezone": self.timezone}


@dataclass(frozen=True)
class AlertItem:
    """What a rule looks at: one article with its current classification."""

    article_id: int
    story_id: int | None
    title: str
    text: str
    lang: str
    source_key: str
    source_name: str
    outlet_key: str
    outlet_name: str
    outlet_tier: str
    risk_level: str
    risk_score: float
    sentiment: str
    topics: tuple[str, ...]
    mentions_org: bool
    reasons: Reasons = field(default_factory=lambda: Reasons())
    url: str = ""
    published_at: datetime | None = None
    classified_at: datetime | None = None  # when the live alerter saw (or would have seen) it

    @property
    def privacy_findings(self) -> list[PrivacyFinding]:
        """Personal data / secrecy markings the classifier found (masked), see ``classify.privacy``."""
        return list(parse_reasons(self.reasons).get("privacy") or [])  # parsed: items built by hand too

    @property
    def privacy(self) -> bool:
        return bool(self.privacy_findings)

    def query_doc(self) -> dict[str, str]:
        return {"title": self.title, "text": self.text, "source": f"{self.source_key} {self.source_name}",
                "lang": self.lang}


@dataclass(frozen=True)
class RuleSpec:
    """An effective rule (cascade resolved)."""

    name: str
    severity: str
    conditions: Mapping[str, Any]
    recipients: tuple[Recipient, ...]
    options: Mapping[str, Any]
    id: int | None = None
    group: str | None = None
    enabled: bool = True
    extra_queries: tuple[str, ...] = ()  # from an open risk plan: OR-ed with the rule's own query
    unit_id: int | None = None  # the organization whose cases this rule opens (models.scope)

    @classmethod
    def from_row(cls, row: AlertRule, watch_queries: Mapping[str, str] | None = None) -> RuleSpec:
        conditions = dict(row.conditions or {})
        names = conditions.get("watch_queries") or []
        if names:
            resolved = [watch_queries[n] for n in names if watch_queries and n in watch_queries]
            conditions["watch_query_texts"] = resolved
        recipients = tuple(
            Recipient(
                name=str(r.get("name", "")), address=str(r["address"]),
                language=str(r.get("language", "zh-CN")), channel=str(r.get("channel", "email")),
                timezone=str(r.get("timezone", "")),
            )
            for r in row.recipients or []
        )
        options = {k: v for k, v in (row.options or {}).items() if k != "origins"}
        return cls(name=row.name, severity=str(row.severity), conditions=conditions, recipients=recipients,
                   options=options, id=row.id, group=row.group_name, enabled=row.enabled, unit_id=row.unit_id)

    def tightened(self, min_risk: str, extra_queries: Iterable[str]) -> RuleSpec:
        """This rule while a risk plan is open: a lower threshold and the plan's keywords."""
        conditions = dict(self.conditions)
        current = conditions.get("min_risk")
        if current is None or RiskLevel(min_risk).rank < RiskLevel(current).rank:
            conditions["min_risk"] = min_risk
        return replace(self, conditions=conditions, extra_queries=(*self.extra_queries, *extra_queries))


@dataclass(frozen=True)
class Decision:
    fire: bool
    reason: str
    matched: tuple[str, ...] = ()  # the conditions that held (for the alert's "why")
    parts: tuple[tuple[str, dict[str, str]], ...] = ()  # the same as (code, values), rendered per language

    def __bool__(self) -> bool:
        return self.fire


def _age(hours: float) -> str:
    return f"{hours / 24:.0f} days" if hours >= 48 else f"{hours:.0f} h"


def privacy_summary(findings: Iterable[Mapping[str, Any]], limit: int = 3) -> str:
    """'cn_id 身份证号1101**********002X; ...' (the excerpts are masked by the classifier)."""
    findings = list(findings)
    shown = "; ".join(f"{f.get('kind')} {f.get('excerpt')}" for f in findings[:limit])
    return shown + (f" (+{len(findings) - limit} more)" if len(findings) > limit else "")


def _query_matches(text: str, doc: Mapping[str, str]) -> list[str] | None:
    from classify.query import cached_query

    query = cached_query(text)
    terms = query.explain(doc)
    if terms:
        return terms
    return [] if query.matches(doc) else None


def would_alert(item: AlertItem, rule: RuleSpec, now: datetime | None = None) -> Decision:
    """Does ``rule`` fire on ``item``? Always says why (which condition held or failed).

    ``now`` is when the item is evaluated (the live alerter passes its clock); without it, the
    item's classification time, which is when the live alerter saw it (the dry run's answer).
    """
    if not rule.enabled:
        return Decision(False, f"rule {rule.name} is disabled")
    c = rule.conditions
    max_age = c.get("max_age_hours")
    seen = now or item.classified_at
    if max_age and seen is not None and item.published_at is not None:
        age_hours = (seen - item.published_at).total_seconds() / 3600
        if age_hours > float(max_age):
            return Decision(False, f"published {_age(age_hours)} before it was evaluated (max_age_hours {max_age})")
    matched: list[str] = []
    parts: list[tuple[str, dict[str, str]]] = []  # the same, as (code, values) for localized text
    min_risk = c.get("min_risk")
    if min_risk:
        if RiskLevel(item.risk_level).rank < RiskLevel(min_risk).rank:
            return Decision(False, f"risk {item.risk_level} is below {min_risk}")
        matched.append(f"risk {item.risk_level} ≥ {min_risk}")
        parts.append(("risk", {"level": item.risk_level, "min": str(min_risk)}))
    sentiments = c.get("sentiment")
    if sentiments:
        if item.sentiment not in sentiments:
            return Decision(False, f"sentiment {item.sentiment} not in {', '.join(sentiments)}")
        matched.append(f"sentiment {item.sentiment}")
        parts.append(("sentiment", {"value": item.sentiment}))
    topics = c.get("topics")
    if topics:
        hit = [t for t in topics if t in item.topics]
        if not hit:
            return Decision(False, f"none of the topics {', '.join(topics)}")
        matched.append("topics " + ", ".join(hit))
        parts.append(("topics", {"names": ", ".join(hit)}))
    tiers = c.get("tiers")
    if tiers:
        if item.outlet_tier not in tiers:
            return Decision(False, f"outlet tier {item.outlet_tier or '?'} not in {', '.join(tiers)}")
        matched.append(f"outlet tier {item.outlet_tier}")
        parts.append(("tier", {"tier": item.outlet_tier}))
    sources = c.get("sources")
    if sources:
        if item.source_key not in sources and item.outlet_key not in sources:
            return Decision(False, f"source {item.source_key or '?'} not in {', '.join(sources)}")
        matched.append(f"source {item.source_key}")
        parts.append(("source", {"source": item.source_name or item.source_key}))
    languages = c.get("languages")
    if languages:
        if not any(item.lang == lang or item.lang.startswith(lang + "-") for lang in languages):
            return Decision(False, f"language {item.lang} not in {', '.join(languages)}")
        matched.append(f"language {item.lang}")
        parts.append(("language", {"lang": item.lang}))
    if c.get("mentions_org") is not None and bool(c["mentions_org"]) != item.mentions_org:
        wanted = "does not mention the organization" if c["mentions_org"] else "mentions the organization"
        return Decision(False, wanted)
    if c.get("privacy") is not None:
        if bool(c["privacy"]) != item.privacy:
            return Decision(False, "no personal data or secrecy marking found" if c["privacy"]
                            else "personal data or secrecy marking found")
        if item.privacy:
            shown = privacy_summary(item.privacy_findings)
            matched.append(f"personal data / secrecy marking: {shown}")
            parts.append(("privacy", {"findings": shown}))
    queries = [q for q in [c.get("query"), *(c.get("watch_query_texts") or [])] if q]
    if queries or rule.extra_queries:
        doc = item.query_doc()
        hits: list[str] = []
        ok = False
        # The rule's own queries must all hold; a risk plan's keywords widen them (OR).
        own_ok = True
        for q in queries:
            terms = _query_matches(q, doc)
            if terms is None:
                own_ok = False
                break
            hits.extend(terms)
        ok = own_ok and bool(queries)
        for q in rule.extra_queries:
            terms = _query_matches(q, doc)
            if terms is not None:
                ok = True
                hits.extend(f"{t} (risk plan)" for t in terms)
        if not ok:
            return Decision(False, "watch query did not match")
        matched.append("query: " + ", ".join(dict.fromkeys(hits)))
        parts.append(("query", {"terms": ", ".join(dict.fromkeys(hits))}))
    return Decision(True, "; ".join(matched) or "no conditions (fires on everything)", tuple(matched), tuple(parts))


# --------------------------------------------------------------------------------------------
# Items from the database


def load_items(session: Session, classification_ids: Iterable[int] | None = None, *,
               since: datetime | None = None, limit: int | None = None) -> list[AlertItem]:
    """AlertItems for current classifications, by id or classified since ``since``."""
    stmt = (
        select(Classification, Article, Source, Outlet)
        .join(Article, Article.id == Classification.article_id)
        .outerjoin(Source, Source.id == Article.source_id)
        .outerjoin(Outlet, Outlet.id == Article.outlet_id)
        .where(Classification.is_current.is_(True))
        .order_by(Classification.id)
    )
    if classification_ids is not None:
        stmt = stmt.where(Classification.id.in_(list(classification_ids)))
    if since is not None:
        stmt = stmt.where(Classification.created_at >= since)
    if limit is not None:
        stmt = stmt.limit(limit)
    return [item_from_rows(c, a, s, o) for c, a, s, o in session.execute(stmt)]


def item_from_rows(c: Classification, a: Article, s: Source | None, o: Outlet | None) -> AlertItem:
    topics = tuple(str(t.get("name")) for t in (c.topics or []) if isinstance(t, Mapping) and t.get("name"))
    return AlertItem(
        article_id=a.id, story_id=a.story_id, title=a.title or "", text=a.text or "", lang=a.lang or c.lang,
        source_key=s.key if s else "", source_name=s.name if s else "",
        outlet_key=o.key if o else "", outlet_name=o.name if o else (s.name if s else ""),
        outlet_tier=str(o.tier) if o else "", risk_level=str(c.risk_level), risk_score=float(c.risk_score or 0),
        sentiment=str(c.sentiment), topics=topics, mentions_org=bool(c.mentions_org),
        reasons=parse_reasons(c.reasons), url=a.url, published_at=a.published_at, classified_at=c.created_at,
    )


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
                ZoneInfo(tz)
            except (ValueError, KeyError, ZoneInfoNotFoundError):
                raise RulesError(f"{where}: recipients[{n}] timezone {tz!r} is not a known time zone") from None
        language = str(r.get("language", "zh-CN"))
        if language not in LANGUAGES:
            raise RulesError(f"{where}: recipients[{n}] language {language!r} not in {', '.join(LANGUAGES)}")
        channels = r.get("channels") or ([r["channel"]] if r.get("channel") else default_channels or ["email"])
        for channel in channels:
            if channel not in CHANNELS:
                raise RulesError(f"{where}: recipients[{n}] channel {channel!r} not in {', '.join(CHANNELS)}")
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
        if row is None:
            session.add(AlertRule(**data))
            counts["added"] += 1
            continue
        changed = False
        for key, value in data.items():
            if getattr(row, key) != value:
                setattr(row, key, value)
                changed = True
        counts["updated"] += int(changed)
    for name, row in existing.items():
        if name not in names and row.enabled:
            row.enabled = False
            counts["disabled"] += 1
    session.flush()
    return counts


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


def active_rules(session: Session) -> list[RuleSpec]:
    watch = {w.name: w.query for w in session.scalars(select(WatchQuery).where(WatchQuery.enabled.is_(True)))}
    rows = session.scalars(select(AlertRule).where(AlertRule.enabled.is_(True)).order_by(AlertRule.id))
    return [RuleSpec.from_row(r, watch) for r in rows]


def rule_by_name(session: Session, name: str) -> RuleSpec | None:
    row = session.scalar(select(AlertRule).where(AlertRule.name == name))
    if row is None:
        return None
    watch = {w.name: w.query for w in session.scalars(select(WatchQuery))}
    return RuleSpec.from_row(row, watch)


def ensure_rules_loaded(session: Session, settings: Settings) -> dict[str, int] | None:
    """Sync from ``alerts.rules_file`` if it exists (the service and CLI call this before use)."""
    path = Path(settings.alerts.rules_file)
    if not path.is_file():
        return None
    rules = read_rules_file(path, settings)
    # Several workers start at once (services, CLI runs): one syncs, the next sees its rows.
    advisory_xact_lock(session, "alerts.rules")
    return sync_rules(session, rules)
