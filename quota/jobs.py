"""Scheduled jobs this stage contributes to ``presswatch run``.

- ``quota-match`` (every 30 minutes): verify registrations against newly crawled articles and
  propose registrations from new bylines, so staff see the crawler's evidence soon after a crawl.
- ``quota-verify`` (every minute): when new articles were stored, verify the waiting registrations
  on their outlets or at their URLs (``quota.registry.verify_after_crawl``): a piece registered
  before the crawler saw it is matched within about a minute of its crawl.
- ``quota-daily`` (08:30 in quota.timezone): recompute the current periods, enqueue shortfall
  reminders ``quota.reminder_days_before_period_end`` days before a period ends, and each unit's
  results for the month / quarter that just ended. Idempotency keys make a re-run harmless.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from presswatch.scheduling import ScheduledJob
from settings import Settings, get_settings

log = logging.getLogger(__name__)

VERIFY_INTERVAL_SECONDS = 60


def match_job() -> None:
    from models.base import utcnow
    from models.db import get_engine, session_scope
    from quota.registry import propose_from_articles, verify_pending

    with session_scope(get_engine()) as session:
        ok, missing = verify_pending(session)
        proposals = propose_from_articles(session, since=utcnow() - timedelta(days=30))
    if ok or proposals:
        log.info("quota: verified %d registrations (%d still not found), %d new proposals", ok, missing, len(proposals))


# The newest article id the last quota-verify run saw (per process; a new holder of the job's lease
# starts with one full check).
_verified_through: dict[str, int | None] = {"article_id": None}


def verify_job() -> None:
    """Every minute: when the crawler has stored new articles, verify the waiting registrations they
    may prove (same outlet or URL), so a correspondent's piece is matched soon after it is crawled."""
    from models.db import get_engine, session_scope
    from quota.registry import verify_after_crawl

    with session_scope(get_engine()) as session:
        ok, missing, newest = verify_after_crawl(session, _verified_through["article_id"])
    _verified_through["article_id"] = newest
    if ok or missing:
        log.info("quota: new articles verified %d waiting registrations (%d still not found)", ok, missing)


def daily_job() -> None:
    from models.db import get_engine, session_scope
    from quota.notify import send_period_reports, send_reminders
    from quota.scoring import status

    settings = get_settings()
    with session_scope(get_engine()) as session:
        rows = status(session, None)
        reminders = send_reminders(session, settings)
        reports = send_period_reports(session, settings) if settings.quota.period_reports else []
    log.info("quota: %d current rows; %d reminders and %d period reports in the outbox (new or already queued)",
             len(rows), len(reminders), len(reports))


def scheduled_jobs(settings: Settings) -> list[ScheduledJob]:
    return [
        ScheduledJob(id="quota-match", func="quota.jobs:match_job", trigger="interval",
                     trigger_args={"minutes": 30}, once=True),
        ScheduledJob(id="quota-verify", func="quota.jobs:verify_job", trigger="interval",
                     trigger_args={"seconds": VERIFY_INTERVAL_SECONDS}, once=True),
        ScheduledJob(id="quota-daily", func="quota.jobs:daily_job", trigger="cron",
                     trigger_args={"hour": 8, "minute": 30, "timezone": settings.quota.timezone}, once=True),
    ]
