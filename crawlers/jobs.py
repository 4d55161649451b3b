"""Scheduled jobs this stage contributes to ``presswatch run``: crawl each source on its interval.

The job runs every ``scheduler.crawl_check_seconds`` (2 s) and crawls the sources whose interval
has passed since their last attempt: ``interval_seconds`` for an urgent source, else
``interval_minutes`` (or ``scheduler.crawl_interval_minutes``), shortened by an open risk plan's
``poll_seconds`` / ``poll_minutes``. Each crawl runs Scrapy in a child process, because the service
crawls many times and Twisted's reactor cannot restart. The job runs on one service instance only
(``once``). Items stored by the crawl are announced on the bus (``ArticleStored``), which starts
classification, evaluation and delivery at once (see ``presswatch.service``).
"""

from __future__ import annotations

import logging
from pathlib import Path

from presswatch.scheduling import ScheduledJob
from settings import Settings

log = logging.getLogger(__name__)

_synced: dict[str, float] = {}


def scheduled_jobs(settings: Settings) -> list[ScheduledJob]:
    return [ScheduledJob(id="crawl-due-sources", func="crawlers.jobs:crawl_due", trigger="interval",
                         trigger_args={"seconds": settings.scheduler.crawl_check_seconds}, run_at_start=True,
                         once=True)]


def crawl_due() -> None:
    from crawlers.registry import RegistryError, load_registry, sync_registry
    from crawlers.run import crawl, pipeline_sink
    from models.db import get_engine, session_scope
    from settings import get_settings

    settings = get_settings()
    engine = get_engine()
    path = Path(settings.crawl.sources_file)
    # The registry is re-read when the file changes, not on every few-second tick.
    mtime = path.stat().st_mtime if path.is_file() else None
    if mtime is not None and _synced.get(str(path.resolve())) != mtime:
        try:
            registry = load_registry(path)
        except RegistryError as exc:  # keep crawling what the table holds; say why the file was skipped
            log.error("%s; crawling the sources already registered", exc)
        else:
            with session_scope(engine) as session:
                sync_registry(session, registry, disable_missing=True)
        _synced[str(path.resolve())] = mtime
    sink = pipeline_sink(engine, settings)
    reports = crawl(engine, settings, sink=sink, due_only=True, isolate=True)
    for r in reports:
        t = sink.tally(r.key)
        dropped = f" ({t.top_reasons()})" if t.dropped else ""
        log.info("crawled %s: %s; %d stored, %d updated, %d duplicate, %d dropped%s, %d errors; health %s%s",
                 r.key, r.status, t.stored, t.updated, t.duplicate, t.dropped, dropped, t.errors, r.health,
                 f" ({r.reason})" if r.reason else "")
