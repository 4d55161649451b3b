"""Retries with exponential back-off.

Scrapy's RetryMiddleware re-schedules a failed request at once; this middleware makes each retry
wait ``BACKOFF_BASE_SECONDS * 2**(n-1)`` before it is downloaded (n = the retry number Scrapy
puts in ``meta["retry_times"]``), without blocking other requests.
"""

from __future__ import annotations

from typing import Any

from scrapy import Request
from scrapy.crawler import Crawler


class BackoffMiddleware:
    def __init__(self, base_seconds: float) -> None:
        self.base_seconds = base_seconds

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> BackoffMiddleware:
        return cls(crawler.settings.getfloat("BACKOFF_BASE_SECONDS", 1.0))

    def process_request(self, request: Request, spider: Any = None) -> Any:
        # Synchronous on the common path (no retry): no coroutine per request.
        tries = int(request.meta.get("retry_times", 0))
        if tries and self.base_seconds > 0:
            from twisted.internet import reactor
            from twisted.internet.task import deferLater

            return deferLater(reactor, self.base_seconds * 2 ** (tries - 1), lambda: None)
        return None
