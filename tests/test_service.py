"""The scheduler keeps running when a job fails, and runs it again at its next time."""

from __future__ import annotations

import time

from presswatch.service import ScheduledJob, build_scheduler
from settings import load_settings

CALLS: list[str] = []


def flaky_job() -> None:
    CALLS.append("called")
    raise RuntimeError("boom")


def test_failing_job_is_retried_and_scheduler_survives() -> None:
    CALLS.clear()
    settings = load_settings(environ={}).settings
    job = ScheduledJob(id="flaky", func="tests.test_service:flaky_job", trigger="interval",
                       trigger_args={"seconds": 1}, run_at_start=True)
    scheduler = build_scheduler(settings, jobs=[job])
    scheduler.start()
    try:
        deadline = time.monotonic() + 10
        while len(CALLS) < 2 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert len(CALLS) >= 2
        assert scheduler.running
    finally:
        scheduler.shutdown(wait=True)
    assert not scheduler.running
