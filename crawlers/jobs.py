"""Scheduled jobs this stage contributes to ``presswatch run``: keep every source fresh.

With ``crawl.worker`` on (the default) the service keeps one long-lived crawl worker up
(:mod:`crawlers.worker`, a child process started, watched and restarted by the ``crawl-worker``
job, stopped by :func:`stop_worker` when the service stops). The worker polls each source when
it is due (``interval_seconds`` for an urgent source, else ``interval_minutes`` or
``scheduler.crawl_interval_minutes``, learned sooner, backed off, shortened by an open risk plan:
see ``crawlers.schedule``). Its events come back through a pipe and are published on the
service's bus, so items it stores start classification, evaluation and delivery at once (see
``presswatch.service``). Every service instance keeps a worker: they share the frontier.

With ``crawl.worker`` off, the ``crawl-due-sources`` job runs every
``scheduler.crawl_check_seconds`` (2 s) on one service instance only (``once``) and crawls the
due sources in a child process, once per run (Twisted's reactor cannot restart).
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

from presswatch.scheduling import ScheduledJob
from settings import Settings

log = logging.getLogger(__name__)

WORKER_CHECK_SECONDS = 10  # a worker that died is started again within this
WORKER_STOP_SECONDS = 40.0  # its own grace period (crawlers.worker.STOP_GRACE_SECONDS) and then some

_worker: dict[str, Any] = {}
_worker_lock = threading.Lock()
_synced: dict[str, float] = {}


def scheduled_jobs(settings: Settings) -> list[ScheduledJob]:
    purge = ScheduledJob(id="crawl.purge_runs", func="crawlers.jobs:purge_runs_job", trigger="cron",
                         trigger_args={"hour": 3, "minute": 41}, once=True)
    if settings.crawl.worker:
        return [ScheduledJob(id="crawl-worker", func="crawlers.jobs:ensure_worker", trigger="interval",
                             trigger_args={"seconds": WORKER_CHECK_SECONDS}, run_at_start=True), purge]
    return [ScheduledJob(id="crawl-due-sources", func="crawlers.jobs:crawl_due", trigger="interval",
                         trigger_args={"seconds": settings.scheduler.crawl_check_seconds}, run_at_start=True,
                         once=True), purge]


def purge_runs_job(engine: Any = None, settings: Settings | None = None, now: Any = None) -> int:
    """The daily purge of old ``crawl_runs`` rows (``crawl.run_retention_days``,
    ``crawl.quiet_run_retention_days``), a batch per transaction so the worker's writes are not held
    up; returns how many were deleted."""
    from datetime import UTC, datetime

    from crawlers.health import PURGE_BATCH, purge_cutoffs, purge_runs
    from models.db import get_engine, session_scope
    from settings import get_settings

    settings = settings or get_settings()
    engine = engine or get_engine()
    every, quiet = purge_cutoffs(settings.crawl.run_retention_days, settings.crawl.quiet_run_retention_days,
                                 now or datetime.now(UTC))
    total = 0
    while True:
        with session_scope(engine) as session:
            n = purge_runs(session, older_than=every, quiet_older_than=quiet)
        total += n
        if n < PURGE_BATCH:
            break
    if total:
        log.info("purged %d crawl runs (older than %s; quiet ones older than %s)", total, every, quiet)
    return total


def ensure_worker() -> None:
    """Start the crawl worker if it is not running (again, if it died: it loses nothing in flight)."""
    with _worker_lock:
        proc: subprocess.Popen[bytes] | None = _worker.get("proc")
        if proc is not None and proc.poll() is None:
            return
        if proc is not None:
            log.error("crawl worker exited with %s; starting it again", proc.returncode)
        read_fd, write_fd = os.pipe()
        root = str(Path(__file__).resolve().parents[1])
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH", "")]))}
        level = logging.getLevelName(logging.getLogger().getEffectiveLevel())
        proc = subprocess.Popen([sys.executable, "-m", "crawlers.worker", "--events-fd", str(write_fd),
                                 "--service-pid", str(os.getpid()),
                                 "--log-level", level if level in ("DEBUG", "INFO", "WARNING", "ERROR") else "INFO"],
                                env=env, pass_fds=(write_fd,), stdin=subprocess.DEVNULL)
        os.close(write_fd)
        _worker["proc"] = proc
        threading.Thread(target=_relay_events, args=(read_fd,), name="crawl-worker-events", daemon=True).start()
        log.info("crawl worker started (pid %d)", proc.pid)


def _relay_events(read_fd: int) -> None:
    from crawlers.engine import _read_stream
    from presswatch.events import bus

    with os.fdopen(read_fd, "rb") as stream:
        for event in _read_stream(stream):
            bus.publish(event)


def stop_worker() -> None:
    """Stop the crawl worker (SIGTERM: it records what it finished and hands the rest back)."""
    with _worker_lock:
        proc: subprocess.Popen[bytes] | None = _worker.pop("proc", None)
        if proc is None or proc.poll() is not None:
            return
        proc.terminate()
        try:
            proc.wait(timeout=WORKER_STOP_SECONDS)
        except subprocess.TimeoutExpired:
            log.error("crawl worker did not stop in %.0f s; killed (its claims return to the frontier)",
                      WORKER_STOP_SECONDS)
            proc.kill()
            proc.wait()


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
