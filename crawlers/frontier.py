"""The frontier of due sources: which worker polls which source, and what happens when one dies.

The database is the frontier (``sources.next_poll_at``): a worker *claims* due sources by
writing its id and a lease (``claimed_by``, ``claimed_until``) and *completes* each poll by
recording its run and health and setting the next due time (``crawlers.schedule.next_poll``) in
one transaction. Nothing is lost in flight: a claim is only a lease, so the polls of a worker that
dies (kill -9, a lost machine) are due again as soon as its lease lapses, and a worker starting on
the same machine releases at once the claims of processes there that no longer exist. Several
workers, on several machines, claim from the same table without polling a source twice: on
PostgreSQL ``FOR UPDATE SKIP LOCKED`` keeps them apart, and every claim is an ``UPDATE`` guarded by
"not claimed by someone else", read back, so SQLite's single writer is just as safe. A worker's id
starts with its host name: hosts sharing one database need distinct names.
"""

from __future__ import annotations

import logging
import os
import socket
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Engine, or_, select, update
from sqlalchemy.orm import Session

from crawlers.plan import CrawlPlan, Outcome
from crawlers.registry import interval_seconds
from crawlers.run import build_plans, known_urls, plan_poll_seconds
from crawlers.schedule import next_poll, pulled_in
from models import Source
from models.db import session_scope
from models.enums import SourceKind
from settings import Settings

log = logging.getLogger(__name__)

# Newest stored URLs per source a worker's plan knows (see crawlers.run.known_urls): a feed lists
# its latest few dozen entries (500 leaves a wide margin); a list page's pagination or a news
# sitemap can show a few thousand. An older URL listed again is fetched once more and the
# pipeline calls it a duplicate: a wasted request, never a second article.
KNOWN_URLS_PER_SOURCE = 2000
KNOWN_URLS_PER_FEED = 500
WORKER_KINDS = (SourceKind.FEED, SourceKind.HTML, SourceKind.SITEMAP, SourceKind.JSON_API)


def new_worker_id() -> str:
    """``host:pid:token``: the host and pid let a worker on the same machine tell a dead one's claims."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive
        return True
    return True


@dataclass
class Finished:
    """One finished poll, waiting to be recorded."""

    source_id: int
    outcome: Outcome
    started_at: datetime
    finished_at: datetime


@dataclass(frozen=True)
class Recorded:
    source_key: str
    status: str
    next_poll_at: datetime
    why: str


def record_poll(session: Session, row: Source, outcome: Outcome, *, started_at: datetime, finished_at: datetime,
                settings: Settings, plan_seconds: dict[str, int]) -> tuple[list[object], Recorded]:
    """Record a poll's run and health (as every crawl does) and set the source's next due time."""
    from crawlers.health import record_run

    events = record_run(session, row, outcome, started_at=started_at, finished_at=finished_at,
                        failure_threshold=settings.crawl.source_failure_threshold)
    nxt = next_poll(outcome=outcome, learned_seconds=row.poll_interval_seconds,
                    declared_seconds=interval_seconds(row, settings.scheduler.crawl_interval_minutes),
                    consecutive_failures=row.consecutive_failures, now=finished_at, settings=settings,
                    plan_seconds=plan_seconds.get(row.key))
    row.next_poll_at, row.poll_interval_seconds = nxt.at, nxt.interval_seconds
    return events, Recorded(row.key, outcome.status, nxt.at, nxt.why)


class DbFrontier:
    """Due sources from the ``sources`` table, claimed with a lease."""

    def __init__(self, engine: Engine, settings: Settings, worker_id: str | None = None) -> None:
        self.engine, self.settings = engine, settings
        self.worker_id = worker_id or new_worker_id()
        self.plan_seconds: dict[str, int] = {}

    @property
    def lease(self) -> timedelta:
        return timedelta(seconds=self.settings.crawl.claim_lease_seconds)

    def release_dead(self) -> int:
        """Release the claims of workers on this machine whose process is gone; returns how many."""
        host = socket.gethostname()
        with session_scope(self.engine) as session:
            holders = session.scalars(select(Source.claimed_by).where(Source.claimed_by.like(f"{host}:%"))
                                      .distinct()).all()
            dead: list[str] = []
            for holder in holders:
                parts = (holder or "").split(":")
                if holder and holder != self.worker_id and len(parts) >= 2 and parts[1].isdigit() \
                        and not _pid_alive(int(parts[1])):
                    dead.append(holder)
            if not dead:
                return 0
            result = session.execute(update(Source).where(Source.claimed_by.in_(dead))
                                     .values(claimed_by=None, claimed_until=None))
            count = int(getattr(result, "rowcount", 0) or 0)
        log.info("released %d claims of dead workers %s", count, ", ".join(dead))
        return count

    def claim(self, limit: int, now: datetime) -> list[tuple[int, CrawlPlan]]:
        """Claim up to ``limit`` due sources; returns (source id, plan) pairs, oldest due first."""
        if limit <= 0:
            return []
        until = now + self.lease
        with session_scope(self.engine) as session:
            self.plan_seconds = plan_poll_seconds(session, now)
            if self.plan_seconds:
                self._pull_in(session, now)
            free = or_(Source.claimed_until.is_(None), Source.claimed_until < now)
            due = (select(Source.id)
                   .where(Source.enabled.is_(True), Source.kind.in_(WORKER_KINDS), free,
                          or_(Source.next_poll_at.is_(None), Source.next_poll_at <= now))
                   .order_by(Source.next_poll_at.is_(None).desc(), Source.next_poll_at, Source.id)
                   .limit(limit).with_for_update(skip_locked=True))
            ids = list(session.scalars(due))
            if not ids:
                return []
            # One statement claims them all (last_attempt_at too: no per-row UPDATE at flush).
            session.execute(update(Source).where(Source.id.in_(ids), free)
                            .values(claimed_by=self.worker_id, claimed_until=until, last_attempt_at=now)
                            .execution_options(synchronize_session=False))
            rows = list(session.scalars(select(Source).where(
                Source.id.in_(ids), Source.claimed_by == self.worker_id, Source.claimed_until == until)))
            # Known URLs are loaded per poll when its answer has entries (known_hashes below): most
            # polls of a feed are a 304, and reading 500-2,000 stored URLs for each cost more than
            # the rest of the poll together (6 ms of CPU for a source with 2,000 stored pieces).
            plans = build_plans(session, rows, self.settings, with_known=False)
            return [(row.id, plan) for row, plan in zip(rows, plans, strict=True)]

    def known_hashes(self, source_id: int, kind: str) -> frozenset[str]:
        """The stored URL hashes a poll of this source skips (its newest pieces)."""
        limit = KNOWN_URLS_PER_FEED if kind == SourceKind.FEED.value else KNOWN_URLS_PER_SOURCE
        with session_scope(self.engine) as session:
            return known_urls(session, [source_id], limit).get(source_id, frozenset())

    def _pull_in(self, session: Session, now: datetime) -> None:
        rows = session.scalars(select(Source).where(Source.key.in_(list(self.plan_seconds)),
                                                    Source.enabled.is_(True)))
        for row in rows:
            earlier = pulled_in(row.next_poll_at, row.last_attempt_at, self.plan_seconds[row.key])
            if earlier is not None:
                row.next_poll_at = earlier

    def complete(self, finished: Iterable[Finished]) -> tuple[list[object], list[Recorded]]:
        """Record finished polls and hand their sources back with a next due time (one transaction)."""
        batch = list(finished)
        events: list[object] = []
        recorded: list[Recorded] = []
        if not batch:
            return events, recorded
        with session_scope(self.engine) as session:
            rows = {r.id: r for r in session.scalars(select(Source).where(
                Source.id.in_([f.source_id for f in batch])))}
            for done in batch:
                row = rows.get(done.source_id)
                if row is None:  # deleted while polled
                    continue
                found, record = record_poll(session, row, done.outcome, started_at=done.started_at,
                                            finished_at=done.finished_at, settings=self.settings,
                                            plan_seconds=self.plan_seconds)
                events += found
                recorded.append(record)
                if row.claimed_by == self.worker_id:
                    row.claimed_by, row.claimed_until = None, None
        return events, recorded

    def release(self, source_ids: Iterable[int]) -> None:
        """Hand unfinished claims back (a worker stopping): they stay due and any worker takes them."""
        ids = list(source_ids)
        if not ids:
            return
        with session_scope(self.engine) as session:
            session.execute(update(Source).where(Source.id.in_(ids), Source.claimed_by == self.worker_id)
                            .values(claimed_by=None, claimed_until=None)
                            .execution_options(synchronize_session=False))
