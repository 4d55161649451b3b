"""Live alerting: evaluate newly classified articles against the rules; one alert per (rule, story).

``evaluate_new`` reads current classifications past its cursor (``alert_cursors``), asks
:func:`alerts.rules.would_alert` for every active rule (tightened by open risk plans), and:

- raises a new alert (a case, with an SLA deadline) and notifies its recipients;
- for a repost of a story already alerted under that rule, updates the alert (new outlets,
  article count) without sending again;
- when the story's risk level rises above what was alerted, escalates the alert's severity and
  notifies again.

The dedupe key (``story:<rule>:<story>``, UNIQUE in the table) makes re-evaluation harmless, so
the cursor may re-read a few rows after a crash. Surges and failing sources raise alerts too.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Engine, func, or_, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from alerts.notify import notify, refresh_pending
from alerts.plans import tightened_rules
from alerts.rules import (
    AlertItem,
    Decision,
    RulesError,
    RuleSpec,
    active_rules,
    load_items,
    would_alert,
)
from alerts.rules_file import ensure_rules_loaded
from classify.privacy import mask_text
from classify.reasons import Reasons, RiskReasons, SentimentReasons, condense, parse_reasons
from models import Alert, AlertCursor, AlertEvent, Classification, Source, utcnow
from models.db import session_scope
from models.enums import AlertKind, CaseState, RiskLevel
from presswatch.events import AlertRaised, SourceFailing, publish_after_commit
from settings import Settings

log = logging.getLogger(__name__)

CURSOR = "classifications"
# Re-read this many ids behind the cursor: on PostgreSQL a lower id can commit after a higher one
# was read. Re-reading is harmless (dedupe keys, per-alert article lists).
CURSOR_OVERLAP = 50
OVERLAP_AGE = timedelta(minutes=5)
MAX_TITLE_CHARS = 500
CLOSED_STATES = (CaseState.RESOLVED, CaseState.DISMISSED)
_rules_errors_logged: set[str] = set()


@dataclass
class EvaluationStats:
    evaluated: int = 0
    raised: int = 0
    updated: int = 0
    escalated: int = 0
    notifications: int = 0
    alert_ids: list[int] = field(default_factory=list)

    def __str__(self) -> str:
        return (f"evaluated {self.evaluated}, raised {self.raised}, updated {self.updated}, "
                f"escalated {self.escalated}, messages queued {self.notifications}")


def higher(a: str, b: str) -> str:
    return a if RiskLevel(a).rank >= RiskLevel(b).rank else b


def sla_deadline(rule: RuleSpec, severity: str, now: datetime) -> datetime:
    minutes = (rule.options.get("sla_minutes") or {}).get(severity)
    return now + timedelta(minutes=float(minutes if minutes is not None else 240))


def add_event(session: Session, alert: Alert, action: str, *, actor: str = "system", note: str | None = None,
              from_state: str | None = None, to_state: str | None = None, data: dict[str, Any] | None = None) -> None:
    session.add(AlertEvent(alert_id=alert.id, actor=actor, action=action, note=note, from_state=from_state,
                           to_state=to_state, data=data or {}))


def _classification_reasons(item: AlertItem) -> Reasons:
    """The classifier's reasons, condensed for a message (:func:`classify.reasons.condense`): level,
    score, sentiment, topics, terms, the weightiest factors, privacy findings."""
    reasons = parse_reasons(item.reasons)
    reasons.setdefault("risk", RiskReasons(level=item.risk_level, score=item.risk_score, factors=[]))
    reasons.setdefault("sentiment", SentimentReasons(label=item.sentiment, score=0.0))
    return condense(reasons, topics=item.topics)


def story_alert(session: Session, rule: RuleSpec, item: AlertItem, decision: Decision, now: datetime,
                stats: EvaluationStats) -> Alert | None:
    """Raise, update or escalate the (rule, story) alert for one item."""
    key = f"story:{rule.id}:{item.story_id}" if item.story_id else f"article:{rule.id}:{item.article_id}"
    alert = locked_alert(session, key)
    if alert is None:
        severity = higher(rule.severity, item.risk_level)
        alert = Alert(
            dedupe_key=key, kind=AlertKind.STORY, rule_id=rule.id, story_id=item.story_id,
            article_id=item.article_id, severity=RiskLevel(severity), title=item.title[:MAX_TITLE_CHARS],
            state=CaseState.NEW, deadline_at=sla_deadline(rule, severity, now), notified_count=0,
            unit_id=rule.unit_id,
            reason={
                "rule": rule.name, "why": [decision.reason], "classification": _classification_reasons(item),
                "why_parts": [[code, values] for code, values in decision.parts],
                "risk_level": item.risk_level, "article_ids": [item.article_id], "article_count": 1,
                "outlets": [item.outlet_name] if item.outlet_name else [], "outlet": item.outlet_name,
                "url": item.url, "excerpt": mask_text(item.text[:400])[:300],
                "published_at": item.published_at.isoformat() if item.published_at else None,
            },
        )
        inserted = insert_new_alert(session, alert)
        if inserted is not None:
            alert = inserted
            add_event(session, alert, "raised", to_state=CaseState.NEW.value,
                      note=f"rule {rule.name}: {decision.reason}"[:1000])
            stats.raised += 1
            stats.notifications += notify(session, alert, rule, now)
            _publish(session, alert, is_update=False)
            return alert
        # Another worker raised it between our look and our insert: this piece updates theirs.
        found = locked_alert(session, key)
        if found is None:
            return None
        alert = found
    reason = dict(alert.reason or {})
    article_ids = list(reason.get("article_ids") or [])
    if item.article_id in article_ids:
        return None  # seen already (re-read behind the cursor)
    article_ids.append(item.article_id)
    outlets = list(reason.get("outlets") or [])
    new_outlet = bool(item.outlet_name) and item.outlet_name not in outlets
    if new_outlet:
        outlets.append(item.outlet_name)
    reason.update(article_ids=article_ids, article_count=len(article_ids), outlets=outlets)
    old_risk = str(reason.get("risk_level") or "low")
    if RiskLevel(item.risk_level).rank > RiskLevel(old_risk).rank:
        reason["risk_level"] = item.risk_level
        reason["why"] = [*list(reason.get("why") or []), f"risk rose {old_risk} → {item.risk_level}: {decision.reason}"]
        reason["why_parts"] = [["risk_rose", {"from": old_risk, "to": item.risk_level}],
                               *[[code, values] for code, values in decision.parts]]
        reason["classification"] = _classification_reasons(item)
        alert.reason = reason
        new_severity = higher(str(alert.severity), item.risk_level)
        from_state = str(alert.state)
        if new_severity != str(alert.severity):
            alert.severity = RiskLevel(new_severity)
            tighter = sla_deadline(rule, new_severity, now)
            if alert.deadline_at is None or tighter < alert.deadline_at:
                alert.deadline_at = tighter
        if alert.state in CLOSED_STATES:
            alert.state = CaseState.NEW
            alert.resolved_at = None
        add_event(session, alert, "escalated", from_state=from_state, to_state=str(alert.state),
                  note=f"risk {old_risk} → {item.risk_level} ({item.outlet_name or item.source_key})",
                  data={"article_id": item.article_id})
        stats.escalated += 1
        stats.notifications += notify(session, alert, rule, now, escalated=True)
        _publish(session, alert, is_update=True)
        return alert
    alert.reason = reason
    refresh_pending(session, alert, rule, now)
    add_event(session, alert, "updated",
              note=f"repost in {item.outlet_name or item.source_key}" if new_outlet else "another piece of the story",
              data={"article_id": item.article_id, "article_count": len(article_ids), "outlets": len(outlets)})
    stats.updated += 1
    return alert


def locked_alert(session: Session, dedupe_key: str) -> Alert | None:
    """The alert under ``dedupe_key``, its row locked until the transaction ends (PostgreSQL), read
    fresh: concurrent evaluators update one alert's article list one after the other."""
    return session.scalar(
        select(Alert).where(Alert.dedupe_key == dedupe_key).with_for_update()
        .execution_options(populate_existing=True)
    )


def insert_new_alert(session: Session, alert: Alert) -> Alert | None:
    """Insert a new (transient) alert unless its dedupe key exists: ``INSERT ... ON CONFLICT
    (dedupe_key) DO NOTHING``, so two workers raising the same alert at once never crash on the
    UNIQUE constraint. Returns the stored alert, or None when another worker's row won."""
    values = {c.key: getattr(alert, c.key) for c in Alert.__table__.columns if getattr(alert, c.key) is not None}
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    stmt = insert(Alert).values(**values).on_conflict_do_nothing(index_elements=["dedupe_key"]).returning(Alert.id)
    new_id = session.scalar(stmt)
    if new_id is None:
        return None
    return session.get(Alert, new_id)


def _publish(session: Session, alert: Alert, *, is_update: bool) -> None:
    """``AlertRaised`` once the alert's transaction commits (a subscriber must find the row)."""
    publish_after_commit(session, AlertRaised(alert_id=alert.id, severity=str(alert.severity), is_update=is_update))


def _cursor(session: Session, name: str) -> AlertCursor:
    """The cursor row, locked until the transaction ends: evaluators on one database take turns
    (each reads past the position the previous one committed), never evaluate the same rows at once."""
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    session.execute(insert(AlertCursor).values(name=name, position=0, updated_at=utcnow())
                    .on_conflict_do_nothing(index_elements=["name"]))
    cursor = session.scalar(select(AlertCursor).where(AlertCursor.name == name).with_for_update()
                            .execution_options(populate_existing=True))
    assert cursor is not None
    return cursor


def evaluate_items(session: Session, items: list[AlertItem], rules: list[RuleSpec], now: datetime,
                   stats: EvaluationStats) -> None:
    for item in items:
        stats.evaluated += 1
        for rule in rules:
            decision = would_alert(item, rule, now)
            if decision.fire:
                alert = story_alert(session, rule, item, decision, now, stats)
                if alert is not None and alert.id not in stats.alert_ids:
                    stats.alert_ids.append(alert.id)


def evaluate_pending(session: Session, settings: Settings, *, now: datetime | None = None,
                     batch_size: int = 500) -> EvaluationStats:
    """Evaluate every current classification past the cursor (in batches); never commits."""
    now = now or utcnow()
    stats = EvaluationStats()
    rules = tightened_rules(session, active_rules(session), now)
    if not rules:
        return stats
    cursor = _cursor(session, CURSOR)
    start = max(0, cursor.position - CURSOR_OVERLAP)
    while True:
        ids = list(session.scalars(
            select(Classification.id)
            .where(
                Classification.id > start,
                Classification.is_current.is_(True),
                # Behind the cursor, only rows that may have committed late (recent ones).
                or_(Classification.id > cursor.position, Classification.created_at >= now - OVERLAP_AGE),
            )
            .order_by(Classification.id)
            .limit(batch_size)
        ))
        if not ids:
            break
        evaluate_items(session, load_items(session, ids), rules, now, stats)
        start = max(ids)
        cursor.position = max(cursor.position, start)
        session.flush()
        if len(ids) < batch_size:
            break
    return stats


def evaluate_new(engine: Engine, settings: Settings, *, now: datetime | None = None) -> EvaluationStats:
    """One evaluation pass in its own transaction: rules file synced, new classifications, surges."""
    from alerts.surge import detect_surges

    try:
        with session_scope(engine) as session:
            ensure_rules_loaded(session, settings)
    except RulesError as exc:
        # A typo in the rules file must not stop alerting: keep the last good rules, say why (once).
        if str(exc) not in _rules_errors_logged:
            _rules_errors_logged.add(str(exc))
            log.error("alert rules file not applied, the previous rules stay in force: %s", exc)
    with session_scope(engine) as session:
        stats = evaluate_pending(session, settings, now=now)
        stats.raised += detect_surges(session, settings, now=now or utcnow()).raised
    if stats.raised or stats.updated or stats.escalated:
        log.info("alerts: %s", stats)
    return stats


def open_case_count(session: Session) -> int:
    return int(session.scalar(select(func.count()).select_from(Alert).where(Alert.state.not_in(CLOSED_STATES)))
               or 0)


def _iso_minute(value: datetime | None) -> str:
    """A time kept in a message's parts: ISO, UTC, to the minute (shown in the reader's zone)."""
    return value.astimezone(UTC).isoformat(timespec="minutes") if value else "never"


def source_failing_alert(session: Session, event: SourceFailing, *, now: datetime | None = None) -> Alert | None:
    """A source that keeps failing is an alert: silence must never look like a quiet news day."""
    now = now or utcnow()
    rules = active_rules(session)
    rule = next((r for r in rules if "source_failing" in r.options), None) or (rules[0] if rules else None)
    if rule is None or (rule.options.get("source_failing") or {}).get("enabled") is False:
        return None
    since = event.last_success_at.strftime("%Y-%m-%dT%H:%M") if event.last_success_at else "never"
    key = f"source:{event.source_key}:{since}"
    alert = locked_alert(session, key)
    if alert is not None:
        reason = dict(alert.reason or {})
        reason["consecutive_failures"] = event.consecutive_failures
        alert.reason = reason
        return alert
    source = session.scalar(select(Source).where(Source.key == event.source_key))
    severity = RiskLevel.MEDIUM.value
    alert = Alert(
        dedupe_key=key, kind=AlertKind.SOURCE_FAILING, rule_id=rule.id, source_id=source.id if source else None,
        severity=RiskLevel(severity), title=f"{event.source_key}: {event.consecutive_failures} failures",
        state=CaseState.NEW, deadline_at=sla_deadline(rule, severity, now), unit_id=rule.unit_id,
        reason={"why": [f"{event.consecutive_failures} consecutive failures; last success {since}",
                        f"last error: {event.reason}"],
                "source": event.source_key, "consecutive_failures": event.consecutive_failures,
                "why_parts": [["source_failing", {"source": event.source_key, "count": str(event.consecutive_failures),
                                                  "since": _iso_minute(event.last_success_at),
                                                  "error": event.reason[:200]}]]},
    )
    inserted = insert_new_alert(session, alert)
    if inserted is None:  # another process raised it at the same moment
        return locked_alert(session, key)
    alert = inserted
    add_event(session, alert, "raised", to_state="new", note=event.reason[:500])
    notify(session, alert, rule, now)
    _publish(session, alert, is_update=False)
    return alert


def on_source_failing(event: SourceFailing) -> None:
    """Event-bus handler (subscribed by the service)."""
    from models.db import get_engine

    with session_scope(get_engine()) as session:
        source_failing_alert(session, event)
