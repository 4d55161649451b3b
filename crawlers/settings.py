"""Scrapy's settings, derived from ``settings.crawl`` (never kept by hand in a second file).

``COOKIES_ENABLED`` is off: we read public pages, and the cookies middleware is what makes
tldextract try to download the Public Suffix List. Robots.txt is obeyed per request (a source may
switch it off with ``obey_robots_txt: false``, carried as ``dont_obey_robotstxt`` in the request
meta), so the middleware is always on. Distributed mode swaps in scrapy-redis' scheduler and
dupefilter so several crawler processes share one frontier and one seen-URL set.
"""

from __future__ import annotations

import logging
from typing import Any

from settings import CrawlSettings

BACKOFF_BASE_SECONDS = 1.0  # first retry waits 1 s, then 2 s, 4 s ...: polite to a struggling server


def require_distributed_extra() -> None:
    """scrapy-redis and redis are an extra (``presswatch[distributed]``): say so in one line."""
    try:
        import redis  # noqa: F401
        import scrapy_redis  # noqa: F401
    except ImportError as exc:
        from settings import ConfigError

        raise ConfigError(
            f"crawl.distributed = true needs the 'distributed' extra ({exc.name} is not installed): "
            "pip install 'presswatch[distributed]'") from None


def scrapy_settings(cfg: CrawlSettings, *, log_level: int | str = logging.WARNING) -> dict[str, Any]:
    out: dict[str, Any] = {
        "BOT_NAME": "presswatch",
        "USER_AGENT": cfg.user_agent,
        "ROBOTSTXT_OBEY": True,
        "CONCURRENT_REQUESTS": cfg.concurrent_requests,
        "CONCURRENT_REQUESTS_PER_DOMAIN": cfg.concurrent_requests_per_domain,
        "DOWNLOAD_DELAY": cfg.download_delay_seconds,
        "DOWNLOAD_DELAY_JITTER": 0.5,  # 0.5x-1.5x the delay, as a person reading would
        "RETRY_ENABLED": cfg.retry_times > 0,
        "RETRY_TIMES": cfg.retry_times,
        "DOWNLOAD_TIMEOUT": cfg.fetch_timeout_seconds,
        "DOWNLOAD_MAXSIZE": cfg.max_body_bytes,
        "DOWNLOAD_WARNSIZE": 0,
        "COOKIES_ENABLED": False,
        "TELNETCONSOLE_ENABLED": False,
        "REMOTE_CONTROL_ENABLED": False,  # Scrapy 2.19 opens an HTTP control port per crawler: not ours to expose
        "LOG_LEVEL": logging.getLevelName(log_level) if isinstance(log_level, int) else log_level,
        "LOG_ENABLED": True,
        "MEMUSAGE_ENABLED": False,
        "DOWNLOADER_MIDDLEWARES": {"crawlers.middleware.BackoffMiddleware": 551},
        "BACKOFF_BASE_SECONDS": BACKOFF_BASE_SECONDS,
        "FETCH_BUDGET_SECONDS": cfg.fetch_budget_seconds,
        "HTTPERROR_ALLOW_ALL": False,
    }
    if cfg.distributed:
        require_distributed_extra()
        out.update({
            "SCHEDULER": "scrapy_redis.scheduler.Scheduler",
            "DUPEFILTER_CLASS": "scrapy_redis.dupefilter.RFPDupeFilter",
            "SCHEDULER_PERSIST": True,  # the seen-URL set outlives one run: no URL is fetched twice
            "REDIS_URL": cfg.redis_url,
        })
    return out
