"""Scheduled jobs this stage contributes to ``presswatch run``: keep every source fresh.

With ``crawl.worker`` on (the default) the service keeps one long-lived crawl worker up
(:mod:`crawlers.worker`, a child process started, watched and restarted by the ``crawl-worker``
job, stopped by :func:`stop_worker` when the service stops); the worker's events come back through
a pipe and are published on the service's bus. With it off, the ``crawl-due-sources`` job checks
every minute and crawls the due sources in a child process, once per run.
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


def scheduled_jobs(settings: Settings) -> list[ScheduledJob]:
    if settings.crawl.worker:
        return [ScheduledJob(id="crawl-worker", func="crawlers.jobs:ensure_worker", trigger="interval",
                             trigger_args={"seconds": WORKER_CHECK_SECONDS}, run_at_start=True)]
    return [ScheduledJob(id="crawl-due-sources", func="crawlers.jobs:crawl_due", trigger="interval",
                         trigger_args={"minutes": 1}, run_at_start=True)]


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
    from crawlers.run import crawl, pipeline_sink
    from crawlers.worker import sync_sources_file
    from models.db import get_engine
    from settings import get_settings

    settings = get_settings()
    engine = get_engine()
    sync_sources_file(engine, settings)()
    reports = crawl(engine, settings, sink=pipeline_sink(engine, settings), due_only=True, isolate=True)
    for r in reports:
        log.info("crawled %s: %s, %d listed, %d new, health %s%s", r.key, r.status, r.items_found, r.items_new,
                 r.health, f" ({r.reason})" if r.reason else "")

