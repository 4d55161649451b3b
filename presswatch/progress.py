"""Progress for long work: a bar on a terminal, periodic log lines when not on one (CI, cron)."""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Iterable, Iterator
from typing import TypeVar

T = TypeVar("T")
log = logging.getLogger("presswatch.progress")


def track(items: Iterable[T], total: int | None = None, label: str = "working",
          log_every_seconds: float = 10.0) -> Iterator[T]:
    """Yield ``items`` while showing progress appropriate to where output goes."""
    if sys.stderr.isatty():
        from rich.progress import track as rich_track

        yield from rich_track(items, total=total, description=label, transient=True)
        return
    started = last = time.monotonic()
    done = 0
    for item in items:
        yield item
        done += 1
        now = time.monotonic()
        if now - last >= log_every_seconds:
            last = now
            of = f"/{total}" if total is not None else ""
            log.info("%s: %d%s done (%.0f/s)", label, done, of, done / max(now - started, 1e-9))
    if done:
        log.info("%s: %d done in %.1fs", label, done, time.monotonic() - started)
