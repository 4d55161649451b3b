"""Surge detection: negative mentions of a watch query against their own baseline.

For each enabled watch query, count current classifications that are negative and whose article
matches the query:

- the last hour, against the same hour of the day on each of the previous ``baseline_days`` days;
- the last 24 hours, against the daily average of the previous 14 days.

A surge needs at least ``min_count`` pieces AND ``hour_ratio`` (``day_ratio``) times the baseline
average. It raises its own alert (kind ``surge``) with the numbers that triggered it, once per
query per hour (per day), notified to the recipients of the rule named in the rules file
(``surge.notify_rule``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from alerts.rules import RuleSpec, active_rules
from models import Alert, Article, Classification, WatchQuery
from models.enums import AlertKind, CaseState, RiskLevel, SentimentLabel
from settings import Settings

DAY_BASELINE_DAYS = 14


@dataclass
class SurgeStats:
    checked: int = 0
    raised: int = 0


@dataclass(frozen=True)
class SurgeNumbers:
    query: str
    window: str  # "hour" / "day"
    count: int
    baseline: float
    ratio_needed: float

    def text(self) -> str:
        span = "1h" if self.window == "hour" else "24h"
        days = "same hour, previous days" if self.window == "hour" else f"daily mean, previous {DAY_BASELINE_DAYS} days"
        return f"{self.query}: {self.count} negative in the last {span}; baseline {self.baseline:.2f} ({days})"


def _surge_rule(session: Session) -> RuleSpec | None:
    for rule in active_rules(session):
        if "surge" in rule.options:
            return rule
    return None


def negative_mention_times(session: Session, query_text: str, since: datetime) -> list[datetime]:
    """When each negative piece matching the query appeared (published, else fetched)."""
    from classify.query import parse_query, prepare

    query = parse_query(query_text)
    rows = session.execute(
        select(Article.title, Article.text, Article.lang, Article.published_at, Article.fetched_at)
        .join(Classification, Classification.article_id == Article.id)
        .where(Classification.is_current.is_(True), Classification.sentiment == SentimentLabel.NEGATIVE,
               Article.fetched_at >= since)
    )
    out = []
    for title, text, lang, published_at, fetched_at in rows:
        if query.matches(prepare({"title": title or "", "text": text or "", "lang": lang or ""})):
            out.append(published_at or fetched_at)
    return out


def surge_numbers(times: list[datetime], now: datetime, *, baseline_days: int, hour_ratio: float,
                  day_ratio: float, name: str) -> tuple[SurgeNumbers, SurgeNumbers]:
    def count(start: datetime, end: datetime) -> int:
        return sum(1 for t in times if start < t <= end)

    hour = count(now - timedelta(hours=1), now)
    hour_base = [count(now - timedelta(days=d, hours=1), now - timedelta(days=d)) for d in range(1, baseline_days + 1)]
    day = count(now - timedelta(days=1), now)
    day_base = [count(now - timedelta(days=d + 1), now - timedelta(days=d)) for d in range(1, DAY_BASELINE_DAYS + 1)]
    return (
        SurgeNumbers(name, "hour", hour, sum(hour_base) / max(1, len(hour_base)), hour_ratio),
        SurgeNumbers(name, "day", day, sum(day_base) / max(1, len(day_base)), day_ratio),
    )


def is_surge(n: SurgeNumbers, min_count: int) -> bool:
    return n.count >= min_count and n.count >= n.ratio_needed * n.baseline


def detect_surges(session: Session, settings: Settings, *, now: datetime) -> SurgeStats:
    from alerts.engine import add_event, insert_new_alert, sla_deadline
    from alerts.notify import notify

    stats = SurgeStats()
    rule = _surge_rule(session)
    if rule is None:
        return stats
    cfg = dict(rule.options.get("surge") or {})
    if cfg.get("enabled") is False:
        return stats
    baseline_days = int(cfg.get("baseline_days", 7))
    since = now - timedelta(days=max(baseline_days, DAY_BASELINE_DAYS) + 2)
    for wq in session.scalars(select(WatchQuery).where(WatchQuery.enabled.is_(True)).order_by(WatchQuery.id)):
        stats.checked += 1
        times = negative_mention_times(session, wq.query, since)
        for n in surge_numbers(times, now, baseline_days=baseline_days, hour_ratio=float(cfg.get("hour_ratio", 3.0)),
                               day_ratio=float(cfg.get("day_ratio", 2.5)), name=wq.name):
            if not is_surge(n, int(cfg.get("min_count", 3))):
                continue
            bucket = now.strftime("%Y-%m-%dT%H") if n.window == "hour" else now.strftime("%Y-%m-%d")
            key = f"surge:{wq.id}:{n.window}:{bucket}"
            if session.scalar(select(Alert.id).where(Alert.dedupe_key == key)) is not None:
                continue
            severity = RiskLevel.HIGH.value
            alert = Alert(
                dedupe_key=key, kind=AlertKind.SURGE, rule_id=rule.id, severity=RiskLevel(severity),
                title=f"{wq.name}: {n.count} ({'1h' if n.window == 'hour' else '24h'}) / {n.baseline:.1f}",
                state=CaseState.NEW, deadline_at=sla_deadline(rule, severity, now),
                unit_id=wq.unit_id if wq.unit_id is not None else rule.unit_id,
                reason={"why": [n.text()], "numbers": {"count": n.count, "baseline": round(n.baseline, 2),
                                                       "window": n.window, "ratio_needed": n.ratio_needed},
                        "watch_query": wq.name, "query": wq.query,
                        "why_parts": [[f"surge_{n.window}", {"count": str(n.count), "baseline": f"{n.baseline:.1f}",
                                                             "query": wq.name}]]},
            )
            inserted = insert_new_alert(session, alert)
            if inserted is None:  # raised by another evaluator meanwhile
                continue
            alert = inserted
            add_event(session, alert, "raised", to_state="new", note=n.text())
            notify(session, alert, rule, now)
            stats.raised += 1
    return stats
