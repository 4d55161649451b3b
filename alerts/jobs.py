"""Scheduled jobs this stage contributes to ``presswatch run``.

- ``alerts-evaluate``: alert evaluation right after each classify batch. The classifier publishes
  ``ArticleClassified`` on the in-process bus; the handler only marks "work waiting" (it must not
  open a transaction inside the classifier's), and this job, ticking every
  ``EVALUATE_TICK_SECONDS``, evaluates at once while work is waiting, and otherwise every
  ``scheduler.classify_interval_seconds`` as a safety net (classification done by another process
  publishes nothing here). Messages it queues are delivered at once, not at the next delivery tick.
- ``alerts-deliver``: sends what is due in the outbox every ``scheduler.delivery_interval_seconds``.
- ``alerts-sla``: escalates cases past their deadline, closes expired risk-plan windows, closes
  correction requests whose correction the outlet has published, and sends one overdue message
  (and logs one line) for each other correction request past its deadline.

- ``alerts-sources``: sweeps the ``sources`` table and raises the alert of each failing source,
  whichever process crawled it.

Handlers (:func:`on_classified`, :func:`on_source_failing`) are subscribed by :func:`subscribe`,
which ``presswatch.wiring`` calls where the app is assembled (service, CLI, web app).
"""

from __future__ import annotations

import logging
import threading
import time
from datetime import datetime
from typing import TYPE_CHECKING

from presswatch.events import ArticleClassified, EventBus, SourceFailing
from presswatch.scheduling import ScheduledJob
from settings import Settings, get_settings

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from alerts.cases import CorrectionFollowUp, EscalationStats

log = logging.getLogger(__name__)

EVALUATE_TICK_SECONDS = 2
# Keep evaluating for a while after the last event: a burst of classify batches is seen as one
# stretch of work (events are published after their commit, so the rows are there).
WORK_WAITING_SECONDS = 15.0
SLA_CHECK_SECONDS = 60

_state = {"last_event": 0.0, "last_run": 0.0}


def on_classified(_event: ArticleClassified) -> None:
    """Mark "work waiting" only: evaluation runs in ``alerts-evaluate``, not inside the publisher."""
    _state["last_event"] = time.monotonic()


def on_source_failing(event: SourceFailing) -> None:
    """Raise (or update) the source's alert in a transaction of its own."""
    from alerts.engine import on_source_failing as raise_source_alert

    raise_source_alert(event)


def subscribe(target: EventBus) -> None:
    """This stage's handlers on ``target``; called where the app is assembled (``presswatch.wiring``),
    never as a side effect of :func:`scheduled_jobs`. Subscribing twice is a no-op."""
    target.subscribe_once(ArticleClassified, on_classified)
    target.subscribe_once(SourceFailing, on_source_failing)


def source_sweep_job() -> None:
    """Raise the alert of every source the ``sources`` table says is failing, whoever crawled it (a
    CLI crawl in another process, a crawl whose handler failed): the alert is de-duplicated per
    source and last success, so a sweep never raises a second one."""
    from sqlalchemy import select

    from alerts.engine import source_failing_alert
    from models import Source
    from models.db import get_engine, session_scope

    settings = get_settings()
    with session_scope(get_engine()) as session:
        failing = session.scalars(select(Source).where(
            Source.enabled.is_(True),
            Source.consecutive_failures >= settings.crawl.source_failure_threshold).order_by(Source.key)).all()
        for row in failing:
            source_failing_alert(session, SourceFailing(row.key, row.consecutive_failures,
                                                        row.last_error or "failing", row.last_success_at))


def evaluate_job() -> None:
    settings = get_settings()
    now = time.monotonic()
    waiting = now - _state["last_event"] < WORK_WAITING_SECONDS
    if not waiting and now - _state["last_run"] < settings.scheduler.classify_interval_seconds:
        return
    _state["last_run"] = now
    evaluate_and_deliver()


# One evaluator and one sender at a time per process (the event chain and the timers may meet);
# across processes the database keeps them apart (the cursor row lock, per-message claims).
_evaluate_lock = threading.Lock()
_deliver_lock = threading.Lock()


def evaluate_and_deliver() -> int:
    """Evaluate what was classified and send at once what that queued: "found early, reported
    early" (the event chain in ``presswatch run`` calls this right after classifying). Returns the
    number of messages queued."""
    from alerts.engine import evaluate_new
    from models.db import get_engine

    with _evaluate_lock:
        stats = evaluate_new(get_engine(), get_settings())
    if stats.notifications:
        deliver_job()
    return stats.notifications


def deliver_job() -> None:
    from alerts.delivery import deliver_pending
    from models.db import get_engine

    with _deliver_lock:
        stats = deliver_pending(get_engine(), get_settings())
    if stats.claimed or stats.dead or stats.taken_back or stats.cancelled:
        log.info("delivery: %s", stats)


def sla_check(session: Session, now: datetime) -> tuple[EscalationStats, CorrectionFollowUp]:
    """One SLA round in ``session``: escalations, risk-plan windows, correction requests (those the
    outlet has since corrected are closed first; the rest past their deadline are followed up)."""
    from alerts.cases import detect_published_corrections, escalate_overdue, follow_up_corrections
    from alerts.plans import refresh_states

    stats = escalate_overdue(session, now=now)
    refresh_states(session, now)
    published = detect_published_corrections(session)
    follow_up = follow_up_corrections(session, now=now)
    follow_up.published = published
    return stats, follow_up


def sla_job() -> None:
    from models import utcnow
    from models.db import get_engine, session_scope

    with session_scope(get_engine()) as session:
        stats, corrections = sla_check(session, utcnow())
    if corrections.published:
        log.info("corrections published by the outlet (requests closed): %s",
                 ", ".join(f"#{i}" for i in corrections.published))
    if corrections.overdue:
        unrouted = f"; nobody to tell for {', '.join(f'#{i}' for i in corrections.unrouted)}" \
            if corrections.unrouted else ""
        log.warning("correction requests past their deadline with no outcome: %s (%s overdue messages queued%s)",
                    ", ".join(f"#{i}" for i in corrections.overdue), corrections.messages, unrouted)
    if stats.escalated or stats.exhausted:
        log.info("cases: %s escalated, %s past deadline with no one left", stats.escalated, stats.exhausted)


def scheduled_jobs(settings: Settings) -> list[ScheduledJob]:
    return [
        ScheduledJob(id="alerts-evaluate", func="alerts.jobs:evaluate_job", trigger="interval",
                     trigger_args={"seconds": EVALUATE_TICK_SECONDS}, run_at_start=True),
        ScheduledJob(id="alerts-deliver", func="alerts.jobs:deliver_job", trigger="interval",
                     trigger_args={"seconds": settings.scheduler.delivery_interval_seconds}, run_at_start=True),
        ScheduledJob(id="alerts-sla", func="alerts.jobs:sla_job", trigger="interval",
                     trigger_args={"seconds": SLA_CHECK_SECONDS}, once=True),
        ScheduledJob(id="alerts-sources", func="alerts.jobs:source_sweep_job", trigger="interval",
                     trigger_args={"seconds": SLA_CHECK_SECONDS}, run_at_start=True, once=True),
    ]
