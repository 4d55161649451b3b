"""Scheduled jobs this stage contributes to ``presswatch run``: crawl each source on its interval.

The job runs every minute and crawls the sources whose ``interval_minutes`` (or
``scheduler.crawl_interval_minutes``) has passed since their last attempt. Each crawl runs Scrapy
in a child process, because the service crawls many times and Twisted's reactor cannot restart.
"""

from __future__ import annotations

import logging
from pathlib import Path

from presswatch.scheduling import ScheduledJob
from settings import Settings

log = logging.getLogger(__name__)


def scheduled_jobs(settings: Settings) -> list[ScheduledJob]:
    return [ScheduledJob(id="crawl-due-sources", func="crawlers.jobs:crawl_due", trigger="interval",
                         trigger_args={"minutes": 1}, run_at_start=True)]


def crawl_due() -> None:
    from crawlers.registry import RegistryError, load_registry, sync_registry
    from crawlers.run import crawl, pipeline_sink
    from models.db import get_engine, session_scope
    from settings import get_settings

    settings = get_settings()
    engine = get_engine()
    path = Path(settings.crawl.sources_file)
    if path.is_file():
        try:
            registry = load_registry(path)
        except RegistryError as exc:  # keep crawling what the table holds; say why the file was skipped
            log.error("%s; crawling the sources already registered", exc)
        else:
            with session_scope(engine) as session:
                sync_registry(session, registry, disable_missing=True)
    reports = crawl(engine, settings, sink=pipeline_sink(engine, settings), due_only=True, isolate=True)
    for r in reports:
        log.info("crawled %s: %s, %d listed, %d new, health %s%s", r.key, r.status, r.items_found, r.items_new,
                 r.health, f" ({r.reason})" if r.reason else "")
