"""Scheduled jobs this stage contributes to ``presswatch run``: the daily snapshot purge (old
snapshots by the retention setting, and orphan files, which it removes even when snapshots are kept
forever)."""

from __future__ import annotations

from presswatch.scheduling import ScheduledJob
from settings import Settings


def purge_snapshots_job() -> None:
    from models.db import get_engine
    from pipeline.snapshots import purge_snapshots
    from settings import get_settings

    purge_snapshots(get_engine(), get_settings())


def scheduled_jobs(settings: Settings) -> list[ScheduledJob]:
    return [ScheduledJob(id="pipeline.purge_snapshots", func="pipeline.jobs:purge_snapshots_job", trigger="cron",
                         trigger_args={"hour": 3, "minute": 17}, once=True)]
