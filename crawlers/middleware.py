"""Retries with exponential back-off, inside one time budget per URL.

Scrapy's RetryMiddleware re-schedules a failed request at once; this middleware makes each retry
wait ``BACKOFF_BASE_SECONDS * 2**(n-1)`` before it is downloaded (n = the retry number Scrapy
puts in ``meta["retry_times"]``), without blocking other requests.

All tries of one URL together (downloads, timeouts and back-off waits) stay within
``FETCH_BUDGET_SECONDS``: a retry's timeout is cut to what is left of it, and a retry that would
have less than ``MIN_TRY_SECONDS`` is not made. Without this a slow page cost 3 tries x 20 s =
69 s while its reason said "timeout after 20 s"; the reason now says how many tries and how long.
"""

from __future__ import annotations

import time
from typing import Any

from scrapy import Request
from scrapy.crawler import Crawler
from scrapy.exceptions import IgnoreRequest

MIN_TRY_SECONDS = 1.0  # a try shorter than this cannot fetch a real page: stop instead


class RetryBudgetSpent(IgnoreRequest):
    """The URL's time budget is spent: no further try."""


class BackoffMiddleware:
    def __init__(self, base_seconds: float, budget_seconds: float | None = None) -> None:
        self.base_seconds = base_seconds
        self.budget_seconds = budget_seconds

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> BackoffMiddleware:
        budget = crawler.settings.getfloat("FETCH_BUDGET_SECONDS", 0.0)
        return cls(crawler.settings.getfloat("BACKOFF_BASE_SECONDS", 1.0), budget or None)

    def process_request(self, request: Request, spider: Any = None) -> Any:
        # Synchronous on the common path (no retry): no coroutine per request.
        tries = int(request.meta.get("retry_times", 0))
        now = time.monotonic()
        first = request.meta.setdefault("first_try_at", now)  # copied onto each retry by Scrapy
        wait = self.base_seconds * 2 ** (tries - 1) if tries and self.base_seconds > 0 else 0.0
        if self.budget_seconds:
            request.meta["fetch_budget"] = self.budget_seconds
            left = self.budget_seconds - (now - first) - wait
            if tries and left < MIN_TRY_SECONDS:
                raise RetryBudgetSpent(
                    f"gave up after {tries} {'try' if tries == 1 else 'tries'}: the {self.budget_seconds:g} s "
                    f"budget for one URL is spent")
            timeout = float(request.meta.get("download_timeout") or self.budget_seconds)
            request.meta["download_timeout"] = max(MIN_TRY_SECONDS, min(timeout, left))
        if wait:
            from twisted.internet import reactor
            from twisted.internet.task import deferLater

            return deferLater(reactor, wait, lambda: None)
        return None
