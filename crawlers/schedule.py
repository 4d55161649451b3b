"""When a source is polled next: one function decides it for the worker and for one-off crawl runs.

The interval a source keeps (``sources.poll_interval_seconds``) learns from its history within
bounds. The declared interval (``crawlers.registry.interval_seconds``: an urgent source's
``interval_seconds``, else ``interval_minutes``, else ``scheduler.crawl_interval_minutes``) is the
ceiling, so learning only ever polls a source *sooner* than the operator asked, never later;
``crawl.min_poll_seconds`` is the floor (or the declared interval, when that is shorter). A poll
that brought new items halves the interval; a poll with nothing new lengthens it by a quarter. A
failing source backs off exponentially from its declared interval up to
``crawl.max_backoff_seconds``; an open risk plan (三同步) caps the interval at its ``poll_seconds``
/ ``poll_minutes``. Every next poll moves by a random jitter so thousands of sources that started
together spread out instead of arriving in one burst.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta

from crawlers.plan import OK, Outcome
from settings import Settings

# Calibrated on the shape of news feeds: a county court's feed publishes a few pieces a day, a
# provincial portal one every few minutes. Halving on news reaches the floor within a handful of
# busy polls (a burst of coverage is caught while it lasts); growing by 1.25 on silence takes
# about ten quiet polls to climb back from the floor to a 15-minute ceiling, so one quiet poll
# during a busy afternoon does not throw the learned rate away.
SHRINK_ON_NEWS = 0.5
GROW_ON_SILENCE = 1.25


@dataclass(frozen=True)
class NextPoll:
    at: datetime
    interval_seconds: int  # the learned interval to keep (before back-off and jitter)
    why: str  # "learned", "backoff", "risk plan"


def next_poll(*, outcome: Outcome | None, learned_seconds: int | None, declared_seconds: int,
              consecutive_failures: int, now: datetime, settings: Settings, plan_seconds: int | None = None,
              rng: random.Random | None = None) -> NextPoll:
    """The next poll after a finished one (``outcome``; None = the source has never been polled).

    ``consecutive_failures`` is the count after this poll was recorded.
    """
    ceiling = declared_seconds
    floor = min(settings.crawl.min_poll_seconds, ceiling)
    learned = min(max(learned_seconds or ceiling, floor), ceiling)
    if outcome is not None and outcome.status == OK:
        factor = SHRINK_ON_NEWS if outcome.items_new > 0 else GROW_ON_SILENCE
        learned = int(min(max(learned * factor, floor), ceiling))
    wait, why = float(learned), "learned"
    if consecutive_failures > 0:
        wait = min(ceiling * 2.0 ** (consecutive_failures - 1), float(settings.crawl.max_backoff_seconds))
        wait, why = max(wait, learned), "backoff"
    if plan_seconds is not None and plan_seconds < wait:
        wait, why = float(plan_seconds), "risk plan"
    jitter = settings.crawl.poll_jitter_fraction
    if jitter:
        wait *= 1 + (rng or random).uniform(-jitter, jitter)
    return NextPoll(at=now + timedelta(seconds=max(wait, 1.0)), interval_seconds=learned, why=why)


def pulled_in(next_poll_at: datetime | None, last_attempt_at: datetime | None, plan_seconds: int) -> datetime | None:
    """An earlier due time for a source an open risk plan watches (None: keep the one it has).

    A plan that opens while a source waits out a long interval must not wait for that interval
    to pass: the source is due ``plan_seconds`` after its last attempt.
    """
    if last_attempt_at is None:
        return None
    wanted = last_attempt_at + timedelta(seconds=plan_seconds)
    if next_poll_at is None or wanted < next_poll_at:
        return wanted
    return None
