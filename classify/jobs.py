"""Scheduled jobs this stage contributes to ``presswatch run``: classify what the pipeline stored."""

from __future__ import annotations

import logging
import threading

from presswatch.scheduling import ScheduledJob
from settings import Settings, get_settings

log = logging.getLogger(__name__)


def scheduled_jobs(settings: Settings) -> list[ScheduledJob]:
    return [
        ScheduledJob(
            id="classify-pending",
            func="classify.jobs:classify_pending_job",
            trigger="interval",
            trigger_args={"seconds": settings.scheduler.classify_interval_seconds},
            run_at_start=True,
        ),
        ScheduledJob(
            id="stream-index",
            func="classify.jobs:stream_index_job",
            trigger="interval",
            trigger_args={"seconds": 60},
            once=True,
        ),
    ]


# The event chain and the timer may both start a run in one process: one at a time (across
# processes, pending articles are claimed FOR UPDATE SKIP LOCKED).
_lock = threading.Lock()


def classify_pending_job() -> int:
    """Classify up to ``classify.max_articles_per_run`` stored articles, committing per batch."""
    with _lock:
        return _classify_pending()


def _classify_pending() -> int:
    from sqlalchemy.orm import Session

    from classify.service import classify_pending
    from models.db import get_engine

    settings = get_settings()
    engine = get_engine()
    done = 0
    while done < settings.classify.max_articles_per_run:
        limit = min(settings.classify.batch_size, settings.classify.max_articles_per_run - done)
        with Session(engine) as session, session.begin():
            events = classify_pending(session, settings, limit)
        done += len(events)
        if len(events) < limit:
            break
    if done:
        log.info("classified %d stored articles", done)
    return done


def stream_index_job() -> int | None:
    """Rebuild the coverage stream's visibility index when the watch queries changed."""
    from sqlalchemy.orm import Session

    from classify.visibility import reindex_if_queries_changed
    from models.db import get_engine

    with Session(get_engine()) as session, session.begin():
        rows = reindex_if_queries_changed(session)
    if rows is not None:
        log.info("watch queries changed: the stream's index holds %d matches", rows)
    return rows


def warm_up() -> None:
    """Load the classifier and its tokenizers now, so the first piece after a start does not wait
    for them (8-14 s for the first alert of a fresh service on the loaded test machine)."""
    import time

    from sqlalchemy.orm import Session

    from classify.service import db_watch_rules, get_classifier, settings_watch_rules
    from models.db import get_engine

    started = time.monotonic()
    settings = get_settings()
    with Session(get_engine()) as session:
        classifier = get_classifier(settings, [*settings_watch_rules(settings), *db_watch_rules(session)])
    # jieba and the Vietnamese splitter load their dictionaries on first use.
    classifier.classify_batch([
        {"id": 0, "title": "预热", "text": "儋州法院执行局依法执行。", "lang": "zh", "source": ""},
        {"id": 0, "title": "khởi động", "text": "Cục thi hành án dân sự tỉnh Hưng Yên.", "lang": "vi", "source": ""},
    ])
    log.info("classifier ready in %.1fs", time.monotonic() - started)
