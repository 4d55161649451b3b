"""Source health: one ``crawl_runs`` row per run, and the source's running record.

``ok`` resets the failure count and sets ``last_success_at`` (warnings such as a malformed but
usable feed or one failed article page keep ``health = warning``). ``empty`` and ``failed`` both
count as failures: a source that silently returns nothing is not a quiet news day. At
``crawl.source_failure_threshold`` failures in a row every further failed run publishes
``SourceFailing`` (the alerts stage de-duplicates into one open case).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

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
