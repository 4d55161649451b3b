"""Scheduled jobs this stage contributes to ``presswatch run``.

Delivery runs every ``scheduler.delivery_interval_seconds``: it sends what is due in the outbox
(alerts, digests, quota reminders) and re-sends what is due for a retry.
"""

from __future__ import annotations

import logging

from presswatch.service import ScheduledJob
from settings import Settings, get_settings

log = logging.getLogger(__name__)


def deliver_job() -> None:
    from alerts.delivery import deliver_pending
    from models.db import get_engine

    stats = deliver_pending(get_engine(), get_settings())
    if stats.claimed or stats.dead:
        log.info("delivery: %s", stats)


def scheduled_jobs(settings: Settings) -> list[ScheduledJob]:
    return [
        ScheduledJob(
            id="alerts-deliver",
            func="alerts.jobs:deliver_job",
            trigger="interval",
            trigger_args={"seconds": settings.scheduler.delivery_interval_seconds},
            run_at_start=True,
        ),
    ]
