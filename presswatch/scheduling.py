"""What a stage's scheduled job is, and how its ``module:function`` reference resolves.

Shared core: each stage's ``jobs.py`` describes its jobs with :class:`ScheduledJob`; the shell
(``presswatch.service``) collects and schedules them. Nothing here imports a stage or the shell.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class ScheduledJob:
    id: str
    func: str  # "module:function", called with no arguments
    trigger: str  # "interval" or "cron"
    trigger_args: dict[str, Any] = field(default_factory=dict)
    run_at_start: bool = False
    # True for a job that must run on one `presswatch run` instance only (digests, reminders, SLA
    # escalations, crawls): the service leases it (models.leases). False: safe to run N times.
    once: bool = False


def resolve(ref: str) -> Callable[..., Any]:
    module, _, name = ref.partition(":")
    obj: Any = importlib.import_module(module)
    for part in name.split("."):
        obj = getattr(obj, part)
    if not callable(obj):
        raise TypeError(f"{ref} is not callable")
    return obj  # type: ignore[no-any-return,unused-ignore]
