"""``presswatch run``: the long-running service, an APScheduler scheduler holding every stage's jobs,
and the event chain that makes a new piece an alert in seconds.

Each stage contributes jobs through ``<stage>.jobs:scheduled_jobs(settings)``; job functions are
importable ``module:function`` strings so a persistent job store could hold them. A job that
raises is logged and runs again at its next time: one failure never kills the service. SIGTERM
and SIGINT shut the scheduler down cleanly, letting running jobs finish.

**The event chain.** When a crawl stores new pieces (``ArticleStored`` on the in-process bus),
classification, alert evaluation and delivery of what that queued run at once, one after the
other, in a thread of their own (:class:`EventChain`). The stages' timers stay as the safety net:
they pick up anything the chain missed (a crash between steps, work stored by another process).

**Several instances.** Any number of ``presswatch run`` may serve one database. Jobs that are safe
to run N times (classify, evaluate, deliver: their conflicts are settled in SQL) run in every
instance; jobs marked ``once`` (crawls, digests, reminders, SLA escalations) are leased to one
instance at a time (``models.leases``) and taken over by another when the holder stops renewing.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import threading
import uuid
from types import FrameType
from typing import Any

from presswatch.events import ArticleStored, bus
from presswatch.scheduling import ScheduledJob, resolve
from settings import Settings

log = logging.getLogger(__name__)

JOB_PROVIDERS = (
    "crawlers.jobs:scheduled_jobs",
    "pipeline.jobs:scheduled_jobs",
    "classify.jobs:scheduled_jobs",
    "alerts.jobs:scheduled_jobs",
    "alerts.hooks:scheduled_jobs",
    "alerts.digest.jobs:scheduled_jobs",
    "quota.jobs:scheduled_jobs",
    "accounts.jobs:scheduled_jobs",
)
# Called when the service stops, after the scheduler: stages that keep a process of their own up.
STOP_HOOKS = ("crawlers.jobs:stop_worker",)
# What a stored piece sets off, in order: classify it; evaluate the rules and send what that queued.
CHAIN_WARM_UP = "classify.jobs:warm_up"  # at start, so the first piece does not wait for the models
CHAIN_CLASSIFY = "classify.jobs:classify_pending_job"
CHAIN_ALERT = "alerts.jobs:evaluate_and_deliver"

INSTANCE_ID = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
_held: set[str] = set()
_held_lock = threading.Lock()


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


def run_leased_job(ref: str, lease: str, ttl_seconds: float) -> None:
    """Run a ``once`` job if this instance holds (or can take) its lease; renew it after the run."""
    from models.db import get_engine
    from models.leases import acquire_lease

    try:
        held = acquire_lease(get_engine(), lease, INSTANCE_ID, ttl_seconds)
    except Exception:
        log.exception("job %s: cannot reach the lease table; skipped this time", ref)
        return
    with _held_lock:
        if held and lease not in _held:
            log.info("this instance (%s) now runs %s", INSTANCE_ID, lease)
            _held.add(lease)
        elif not held and lease in _held:
            log.warning("job %s is now run by another instance", lease)
            _held.discard(lease)
    if not held:
        return
    run_job(ref)
    try:
        acquire_lease(get_engine(), lease, INSTANCE_ID, ttl_seconds)  # a long run must not lose it
    except Exception:
        log.exception("job %s: renewing its lease failed", ref)


def release_leases() -> None:
    """On a clean stop, let another instance take this one's jobs at once."""
    from models.db import get_engine
    from models.leases import release_lease

    with _held_lock:
        names = sorted(_held)
        _held.clear()
    for name in names:
        try:
            release_lease(get_engine(), name, INSTANCE_ID)
        except Exception:
            log.exception("releasing lease %s failed (it runs out by itself)", name)


def _lease_ttl(job: ScheduledJob, settings: Settings) -> float:
    interval = 0.0
    if job.trigger == "interval":
        args = job.trigger_args
        interval = float(args.get("seconds", 0)) + 60 * float(args.get("minutes", 0)) + \
            3600 * float(args.get("hours", 0))
    return max(float(settings.scheduler.instance_lease_seconds), 3 * interval)


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
        func, args = (run_leased_job, [job.func, job.id, _lease_ttl(job, settings)]) if job.once \
            else (run_job, [job.func])
        scheduler.add_job(func, job.trigger, args=args, id=job.id, name=job.id, replace_existing=True, **kwargs)
    return scheduler


class EventChain:
    """crawl stored -> classify -> evaluate -> deliver, at once, in one thread of its own.

    The bus handler only sets a flag (it runs inside the crawl's thread, right after the store
    committed); the chain thread then classifies everything pending, so a burst of stored pieces
    is one classify batch, and evaluates and delivers if anything was classified.
    """

    def __init__(self) -> None:
        self._kick = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.runs = 0

    def on_stored(self, _event: ArticleStored) -> None:
        self._kick.set()

    def start(self) -> EventChain:
        bus.subscribe(ArticleStored, self.on_stored)
        self._thread = threading.Thread(target=self._loop, name="presswatch-event-chain", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        bus.unsubscribe(ArticleStored, self.on_stored)
        self._stop.set()
        self._kick.set()
        if self._thread is not None:
            self._thread.join(timeout=60)

    def _loop(self) -> None:
        try:
            resolve(CHAIN_WARM_UP)()
        except Exception:
            log.exception("event chain: loading the classifier failed; the first classification will try again")
        while not self._stop.is_set():
            if not self._kick.wait(1.0):
                continue
            self._kick.clear()
            if self._stop.is_set():
                break
            self.run_once()

    def run_once(self) -> None:
        self.runs += 1
        try:
            classified = resolve(CHAIN_CLASSIFY)()
        except Exception:
            log.exception("event chain: classifying failed; the classify timer will retry")
            return
        if not classified:
            return  # another instance took them: it evaluates them too
        try:
            resolve(CHAIN_ALERT)()
        except Exception:
            log.exception("event chain: alert evaluation or delivery failed; the timers will retry")


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
    from presswatch.wiring import wire

    wire()  # subscribers are wired here, where the app is assembled
    chain = EventChain().start()
    scheduler.start()
    names = ", ".join(j.id for j in scheduler.get_jobs()) or "none"
    log.info("presswatch service started (instance %s); jobs: %s", INSTANCE_ID, names)
    try:
        while not stop.wait(1.0):
            pass
    finally:
        scheduler.shutdown(wait=True)
        chain.stop()
        for ref in STOP_HOOKS:
            run_job(ref)
        release_leases()
        log.info("presswatch service stopped")
