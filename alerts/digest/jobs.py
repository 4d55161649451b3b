"""Scheduled jobs this stage contributes to ``presswatch run``."""

from __future__ import annotations

from presswatch.service import ScheduledJob
from settings import Settings


def scheduled_jobs(settings: Settings) -> list[ScheduledJob]:
    return []
