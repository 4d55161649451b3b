"""Alert rules as typed specs, and the one function that decides whether a rule fires.

Reading ``alert_rules.yaml`` and mirroring it into the ``alert_rules`` table is
:mod:`alerts.rules_file`; here are the specs read back from that table (:func:`active_rules`),
the items to decide on (:func:`load_items`) and the decision.

:func:`would_alert` is the single source of truth for "does this rule fire on this item?": the
live alerter, the digest and the dry run (``presswatch alerts test RULE --since 7d``) all call it,
so they can never disagree. It is pure: no database, no clock.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from classify.reasons import PrivacyFinding, Reasons, parse_reasons
from models import AlertRule, Article, Classification, Outlet, Source, WatchQuery
from models.enums import RiskLevel

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
        # origins (where each value came from) and declared (the rule's own layer) are display data
        options = {k: v for k, v in (row.options or {}).items() if k not in ("origins", "declared")}
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


@dataclass(frozen=True)
class DryRunRow:
    item: AlertItem
    decision: Decision


@dataclass
class DryRun:
    """What a rule would have done on the pieces classified since ``since`` (nothing is sent)."""

    since: datetime
    evaluated: int = 0
    rows: list[DryRunRow] = field(default_factory=list)  # fired, and the misses when asked for
    misses: dict[str, int] = field(default_factory=dict)  # why it did not fire -> how many pieces

    @property
    def fired(self) -> list[DryRunRow]:
        return [r for r in self.rows if r.decision.fire]

    @property
    def alerts(self) -> int:
        """Alerts it would have raised: one per story (reposts update the same case)."""
        return len({r.item.story_id or f"a{r.item.article_id}" for r in self.fired})


def dry_run(session: Session, rule: RuleSpec, *, since: datetime, keep_misses: bool = False,
            limit: int | None = None) -> DryRun:
    """The dry run (``presswatch alerts test``, the rules page): :func:`would_alert` on every piece
    classified since ``since``, as the live alerter saw it then."""
    out = DryRun(since=since)
    for item in load_items(session, since=since, limit=limit):
        out.evaluated += 1
        decision = would_alert(item, rule)
        if decision.fire or keep_misses:
            out.rows.append(DryRunRow(item, decision))
        if not decision.fire:
            out.misses[decision.reason] = out.misses.get(decision.reason, 0) + 1
    return out


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


def __getattr__(name: str) -> Any:
    # The file loading moved to alerts.rules_file; code written against the old module (other
    # branches in flight) keeps working until it imports from there.
    if name in _MOVED:
        import alerts.rules_file

        return getattr(alerts.rules_file, name)
    raise AttributeError(f"module 'alerts.rules' has no attribute {name!r}")


_MOVED = frozenset({"RulesFile", "global_options", "parse_rules", "read_rules_file", "sync_rules",
                    "ensure_rules_loaded"})
