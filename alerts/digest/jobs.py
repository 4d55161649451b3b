"""Scheduled jobs of the digest: send each digest at its local send time (and catch up a missed one).

One interval job checks every ``alerts.digest_check_interval_seconds`` which digests are due
(:func:`alerts.digest.sender.send_due_digests`); it also runs at start-up, so a send time missed
while the service was down is caught up as soon as it comes back. Checking instead of one cron
trigger per digest keeps edits to digests.yaml effective without a restart, and the digest record
makes a second check in the same period a no-op.
"""

from __future__ import annotations

import logging

from presswatch.scheduling import ScheduledJob
from settings import Settings

log = logging.getLogger(__name__)


def scheduled_jobs(settings: Settings) -> list[ScheduledJob]:
    return [
        ScheduledJob(
            id="digest-send-due",
            func="alerts.digest.jobs:send_due",
            trigger="interval",
            trigger_args={"seconds": settings.alerts.digest_check_interval_seconds},
            run_at_start=True,
            once=True,
        )
    ]


def send_due() -> None:
    """Job entry point: send the digests whose local send time has come."""
    from alerts.digest.definitions import all_definitions
    from alerts.digest.sender import send_due_digests
    from models.db import get_engine, session_scope
    from settings import get_settings

    settings = get_settings()
    with session_scope(get_engine()) as session:  # the file's, and those made in the admin pages
        definitions = all_definitions(session, settings.alerts.digests_file)
    if not definitions:
        return
    send_due_digests(get_engine(), settings, definitions)
