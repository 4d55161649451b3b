"""Source health: one ``crawl_runs`` row per run, and the source's running record.

``ok`` resets the failure count and sets ``last_success_at`` (warnings such as a malformed but
usable feed or one failed article page keep ``health = warning``). ``empty`` and ``failed`` both
count as failures: a source that silently returns nothing is not a quiet news day. At
``crawl.source_failure_threshold`` failures in a row every further failed run publishes
``SourceFailing`` (the alerts stage de-duplicates into one open case).

Runs are kept ``crawl.run_retention_days``; the ones that went fine and brought nothing new (a
feed answering 304) only ``crawl.quiet_run_retention_days``: a worker keeping 15,000 feeds fresh
writes millions of those a day. A source's latest run is never purged (:func:`purge_runs`).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import String, and_, cast, delete, exists, or_, select
from sqlalchemy.orm import Session, aliased

from crawlers.plan import OK, Outcome
from models import CrawlRun, Source
from presswatch.events import CrawlFinished, SourceFailing

MAX_ERRORS_KEPT = 50


def record_run(session: Session, row: Source, outcome: Outcome, *, started_at: datetime, finished_at: datetime,
               failure_threshold: int) -> list[object]:
    """Store the run and update the source; return the events to publish after commit."""
    status = outcome.status
    session.add(CrawlRun(
        source_id=row.id, started_at=started_at, finished_at=finished_at, status=status,
        pages_fetched=outcome.pages_fetched, items_found=outcome.items_found, items_new=outcome.items_new,
        errors=outcome.errors[:MAX_ERRORS_KEPT], skipped=dict(outcome.skipped),
    ))
    row.last_attempt_at = started_at
    row.last_item_count = outcome.items_found
    row.last_error = outcome.reason
    if status == OK:
        row.last_success_at = finished_at
        row.consecutive_failures = 0
        row.health = "warning" if outcome.errors or outcome.skipped_summary() else "ok"
        if not outcome.not_modified and not outcome.sink_failed:
            row.http_etag, row.http_last_modified = outcome.etag, outcome.last_modified
    else:
        row.consecutive_failures = (row.consecutive_failures or 0) + 1
        row.health = "failing" if row.consecutive_failures >= failure_threshold else "warning"
    events: list[object] = [CrawlFinished(row.key, outcome.items_found, outcome.items_new, status,
                                          tuple(outcome.errors[:10]))]
    if status != OK and row.consecutive_failures >= failure_threshold:
        events.append(SourceFailing(row.key, row.consecutive_failures, outcome.reason or status,
                                    row.last_success_at))
    return events


PURGE_BATCH = 5000  # rows per delete: the worker keeps writing runs meanwhile (SQLite has one writer)


def purge_cutoffs(run_retention_days: int, quiet_run_retention_days: int,
                  now: datetime) -> tuple[datetime | None, datetime | None]:
    """(all runs older than this, quiet runs older than this); None: kept forever."""
    every = now - timedelta(days=run_retention_days) if run_retention_days else None
    quiet = now - timedelta(days=quiet_run_retention_days) if quiet_run_retention_days else every
    if every is not None and quiet is not None and every > quiet:
        quiet = every  # a quiet run is never kept longer than any run
    return every, quiet


def purge_runs(session: Session, *, older_than: datetime | None, quiet_older_than: datetime | None,
               limit: int = PURGE_BATCH) -> int:
    """Delete up to ``limit`` runs started before ``older_than``, or before ``quiet_older_than`` when
    they went fine and brought nothing new, never a source's latest run; returns how many. The
    caller commits (and calls again while it returns ``limit``)."""
    conditions = []
    if older_than is not None:
        conditions.append(CrawlRun.started_at < older_than)
    if quiet_older_than is not None:
        # errors is a JSON list; "[]" (no error, no warning) as SQLite and PostgreSQL print it.
        conditions.append(and_(CrawlRun.started_at < quiet_older_than, CrawlRun.status == OK,
                               CrawlRun.items_new == 0, cast(CrawlRun.errors, String) == "[]"))
    if not conditions:
        return 0
    newer = aliased(CrawlRun)
    not_latest = exists().where(newer.source_id == CrawlRun.source_id, newer.started_at > CrawlRun.started_at)
    ids = list(session.scalars(select(CrawlRun.id).where(or_(*conditions), not_latest).limit(limit)))
    if ids:
        session.execute(delete(CrawlRun).where(CrawlRun.id.in_(ids)).execution_options(synchronize_session=False))
    return len(ids)
