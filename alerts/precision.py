"""A rule's precision from the analysts' feedback: of its alerts that someone judged, how many were real.

Over the alerts a rule raised in the last ``days`` (story alerts, the kind analysts judge):

- **false alarm**: the case was dismissed (which also stores a ``risk: low`` label), or one of its
  pieces carries a label saying it should not have alerted: 误报 / not about us
  (``relevance: not_about_us``), not risky (``risk: low``), not negative (``sentiment: neutral``
  or ``positive``). These are the labels the article page's feedback buttons and the case page's
  "dismiss as false alarm" write (``models.Label``).
- **confirmed**: not a false alarm, and someone acted on it as real: a response line was agreed,
  or the case reached ``responding`` or ``resolved``.
- everything else is **not judged yet** and stays out of the ratio.

``precision = confirmed / (confirmed + false alarms)``, None while nothing was judged. One
function (:func:`rule_precision`) for the rules page, ``presswatch alerts precision`` and the API.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from models import Alert, AlertRule, Label, utcnow
from models.enums import AlertKind, CaseState
from models.scope import Scope

# (task, label) pairs that say "this piece should not have alerted".
FALSE_ALARM_LABELS = frozenset({("relevance", "not_about_us"), ("risk", "low"), ("sentiment", "neutral"),
                                ("sentiment", "positive")})
CONFIRMED_STATES = (CaseState.RESPONDING, CaseState.RESOLVED)


@dataclass(frozen=True)
class RulePrecision:
    rule_id: int
    rule: str
    raised: int
    confirmed: int
    false_alarms: int

    @property
    def judged(self) -> int:
        return self.confirmed + self.false_alarms

    @property
    def unjudged(self) -> int:
        return self.raised - self.judged

    @property
    def precision(self) -> float | None:
        return self.confirmed / self.judged if self.judged else None


def _article_ids(alert: Alert) -> list[int]:
    ids = [int(i) for i in (alert.reason or {}).get("article_ids") or [] if isinstance(i, int)]
    if alert.article_id is not None and alert.article_id not in ids:
        ids.append(alert.article_id)
    return ids


def rule_precision(session: Session, scope: Scope, days: int = 30, *, rule_ids: Iterable[int] | None = None,
                   now: datetime | None = None) -> dict[int, RulePrecision]:
    """Precision per rule of the scope (by rule id) over the alerts raised in the last ``days``."""
    since = (now or utcnow()) - timedelta(days=days)
    rules_stmt = select(AlertRule.id, AlertRule.name).where(scope.where(AlertRule.unit_id))
    if rule_ids is not None:
        rules_stmt = rules_stmt.where(AlertRule.id.in_(list(rule_ids)))
    names: dict[int, str] = {rule_id: name for rule_id, name in session.execute(rules_stmt)}
    if not names:
        return {}
    alerts = session.scalars(select(Alert).where(Alert.rule_id.in_(sorted(names)), Alert.kind == AlertKind.STORY,
                                                 Alert.created_at >= since)).all()
    article_ids = sorted({a for alert in alerts for a in _article_ids(alert)})
    flagged: set[int] = set()
    for start in range(0, len(article_ids), 500):
        chunk = article_ids[start:start + 500]
        for article_id, task, label in session.execute(
                select(Label.article_id, Label.task, Label.label).where(Label.article_id.in_(chunk))):
            if (task, label) in FALSE_ALARM_LABELS and article_id is not None:
                flagged.add(article_id)
    counts = {rule_id: [0, 0, 0] for rule_id in names}  # raised, confirmed, false alarms
    for alert in alerts:
        c = counts[alert.rule_id]  # type: ignore[index]
        c[0] += 1
        if alert.state == CaseState.DISMISSED or any(a in flagged for a in _article_ids(alert)):
            c[2] += 1
        elif alert.state in CONFIRMED_STATES or alert.response_line:
            c[1] += 1
    return {rule_id: RulePrecision(rule_id, names[rule_id], *c) for rule_id, c in counts.items()}
