"""``presswatch run``: the long-running service, an APScheduler scheduler holding every stage's jobs.

Each stage contributes jobs through ``<stage>.jobs:scheduled_jobs(settings)``; job functions are
importable ``module:function`` strings so a persistent job store could hold them. A job that
raises is logged and runs again at its next time: one failure never kills the service. SIGTERM
and SIGINT shut the scheduler down cleanly, letting running jobs finish.
"""

from __future__ import annotations

import logging
import signal
import threading
from types import FrameType
from typing import Any

from presswatch.scheduling import ScheduledJob, resolve
from settings import Settings

log = logging.getLogger(__name__)

JOB_PROVIDERS = (
    "crawlers.jobs:scheduled_jobs",
    "pipeline.jobs:scheduled_jobs",
    "classify.jobs:scheduled_jobs",
    "alerts.jobs:scheduled_jobs",
    "alerts.digest.jobs:scheduled_jobs",
    "quota.jobs:scheduled_jobs",
)
# Called when the service stops, after the scheduler: stages that keep a process of their own up.
STOP_HOOKS = ("crawlers.jobs:stop_worker",)


def collect_jobs(settings: Settings) -> list[ScheduledJob]:
    jobs: list[ScheduledJob] = []
    for ref in JOB_PROVIDERS:
        jobs.extend(resolve(ref)(settings))
    return jobs


def run_job(ref: str) -> None:
    """Entry point for every scheduled job: failures are logged, never propagated."""
    try:
        resolve(ref)()
    except Exception:
        log.exception("job %s failed; it will run again at its next time", ref)


def build_scheduler(settings: Settings, jobs: list[ScheduledJob] | None = None) -> Any:
    from apscheduler.schedulers.background import BackgroundScheduler

    scheduler = BackgroundScheduler(
        timezone=settings.scheduler.timezone,
        job_defaults={
            "coalesce": True,
            "max_instances": 1,
            "misfire_grace_time": settings.scheduler.misfire_grace_seconds,
        },
    )
    for job in collect_jobs(settings) if jobs is None else jobs:
        kwargs: dict[str, Any] = dict(job.trigger_args)
        if job.run_at_start:
            from datetime import datetime

            kwargs.setdefault("next_run_time", datetime.now(scheduler.timezone))
        scheduler.add_job(
            run_job, job.trigger, args=[job.func], id=job.id, name=job.id, replace_existing=True, **kwargs
        )
    return scheduler


def run_service(settings: Settings, stop_event: threading.Event | None = None) -> None:
    """Run until SIGTERM/SIGINT (or ``stop_event`` is set, for tests)."""
    stop = stop_event or threading.Event()
    scheduler = build_scheduler(settings)

    def _on_signal(signum: int, _frame: FrameType | None) -> None:
        log.info("received signal %s; shutting down", signal.Signals(signum).name)
        stop.set()

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _on_signal)
        signal.signal(signal.SIGINT, _on_signal)
    scheduler.start()
    names = ", ".join(j.id for j in scheduler.get_jobs()) or "none"
    log.info("presswatch service started; jobs: %s", names)
    try:
        while not stop.wait(1.0):
            pass
    finally:
        scheduler.shutdown(wait=True)
        for ref in STOP_HOOKS:
            run_job(ref)
        log.info("presswatch service stopped")
