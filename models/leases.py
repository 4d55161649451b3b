"""Job leases: a scheduler job that must run on one ``presswatch run`` instance at a time.

Several instances may serve one database (for availability, or a CLI-started service beside the
usual one). Jobs that are safe to run N times (classify, evaluate, deliver) run everywhere; jobs
that must run once (digests, quota reminders, SLA escalations, crawls) first take or renew a
lease row in ``job_leases``. The holder keeps the job while it keeps renewing it; when it stops
(crashed, stopped), another instance takes over once the lease has run out. The decision is one
conditional UPDATE, so two instances asking at the same moment cannot both win: a plain table
rather than a PostgreSQL advisory lock, so the embedded SQLite store behaves the same.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import Engine, or_, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from models.alerting import JobLease
from models.base import utcnow
from models.db import session_scope


def acquire_lease(engine: Engine, name: str, holder: str, ttl_seconds: float, *, now: datetime | None = None) -> bool:
    """Take ``name`` for ``holder`` (free, expired, or already ours: then renewed) for ``ttl_seconds``.
    True if ``holder`` holds it now."""
    now = now or utcnow()
    until = now + timedelta(seconds=ttl_seconds)
    insert = pg_insert if engine.dialect.name == "postgresql" else sqlite_insert
    with session_scope(engine) as session:
        session.execute(insert(JobLease).values(name=name, holder=holder, acquired_at=now, expires_at=until)
                        .on_conflict_do_nothing(index_elements=["name"]))
        result = session.execute(
            update(JobLease)
            .where(JobLease.name == name, or_(JobLease.holder == holder, JobLease.expires_at <= now))
            .values(holder=holder, expires_at=until)
            .execution_options(synchronize_session=False)
        )
        return bool(result.rowcount == 1)  # type: ignore[attr-defined]


def release_lease(engine: Engine, name: str, holder: str) -> None:
    """Let another instance take ``name`` at once (a clean shutdown)."""
    with session_scope(engine) as session:
        session.execute(
            update(JobLease).where(JobLease.name == name, JobLease.holder == holder)
            .values(expires_at=utcnow()).execution_options(synchronize_session=False)
        )
