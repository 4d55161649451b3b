"""Scheduled jobs this stage contributes to ``presswatch run``.

- ``accounts-purge`` (hourly): delete login attempts and sessions older than a day past the
  longest a session can live; the lockout and the rate limit only ever read the last 15 minutes.
"""

from __future__ import annotations

import logging

from presswatch.scheduling import ScheduledJob
from settings import Settings, get_settings

log = logging.getLogger(__name__)


def purge_job() -> None:
    from accounts.logins import purge
    from models.db import get_engine, session_scope

    with session_scope(get_engine()) as session:
        n = purge(session, get_settings().web)
    if n:
        log.info("accounts: purged %d old login attempts and sessions", n)


def scheduled_jobs(settings: Settings) -> list[ScheduledJob]:
    return [ScheduledJob(id="accounts-purge", func="accounts.jobs:purge_job", trigger="interval",
                         trigger_args={"hours": 1})]
