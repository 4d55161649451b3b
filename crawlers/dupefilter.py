"""The seen-URL set crawl workers share in distributed mode (scrapy-redis' set under a lasting key).

scrapy-redis' own dupefilter, outside its scheduler, keys the set by the start time and deletes
it when the spider closes; workers that come and go need one set per kind that outlives them all.
"""

from __future__ import annotations

from typing import Any

from scrapy_redis.dupefilter import RFPDupeFilter


class SharedDupeFilter(RFPDupeFilter):
    @classmethod
    def from_crawler(cls, crawler: Any) -> SharedDupeFilter:
        from scrapy_redis.connection import get_redis_from_settings

        kind = getattr(crawler.spidercls, "kind", crawler.spidercls.name)
        return cls(get_redis_from_settings(crawler.settings), key=f"presswatch:{kind}:dupefilter")

    def close(self, reason: str = "") -> None:
        return None  # other workers share the set
