"""Distributed mode: two crawler processes share one frontier and one seen-URL set in Redis.

Needs the Redis server on 127.0.0.1:6379; skipped when it is not reachable.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator

import pytest

from crawlers.engine import run_plans_isolated
from crawlers.plan import CrawlPlan, Outcome
from crawlers.registry import parse_registry
from crawlers.testserver import LocalServer
from presswatch.items import RawItem
from settings import CrawlSettings
from tests.crawl_site import fixture_registry, fixture_site

REDIS_URL = "redis://127.0.0.1:6379/15"


@pytest.fixture
def redis_client() -> Iterator[object]:
    redis = pytest.importorskip("redis")
    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1)
    try:
        client.ping()
    except Exception as exc:  # any connection problem means: no Redis here
        pytest.skip(f"no Redis on 127.0.0.1:6379 ({exc})")
    yield client
    client.close()


@pytest.mark.redis
def test_two_processes_share_one_crawl_without_fetching_twice(redis_client: object) -> None:
    key = f"dist-{uuid.uuid4().hex[:8]}"
    # A generous timeout: if robots.txt timed out on a loaded machine, Scrapy would allow every URL
    # (its documented behaviour) and the disallowed draft page would be fetched.
    cfg = CrawlSettings(distributed=True, redis_url=REDIS_URL, download_delay_seconds=0, fetch_timeout_seconds=30,
                        retry_times=0)
    with LocalServer(fixture_site) as server:
        decl = parse_registry(fixture_registry(server.base_url)).get("zh-gbk").model_copy(update={"key": key})
        plan = CrawlPlan(source_key=key, decl=decl.config(), max_depth=2)
        items: list[RawItem] = []
        outcomes: list[Outcome] = []
        lock = threading.Lock()

        def worker() -> None:
            def on_item(item: RawItem) -> None:
                with lock:
                    items.append(item)

            result = run_plans_isolated([plan], cfg, on_item, timeout_seconds=120)
            with lock:
                outcomes.extend(result.values())

        try:
            threads = [threading.Thread(target=worker) for _ in range(2)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            article_hits = [p for p in server.paths() if p.startswith("/zh/a/")]
            # Each article page was fetched once across both processes (the 302 target included).
            assert sorted(article_hits) == sorted(set(article_hits))
            assert {i.url.removeprefix(server.base_url) for i in items} == {
                "/zh/a/1.html", "/zh/a/2.html", "/zh/a/3.html", "/zh/a/moved.html"}
            assert len(items) == 4 and len(outcomes) == 2
            assert redis_client.exists(f"pw-{key}:dupefilter")  # type: ignore[attr-defined]

            # A third run later: the shared seen-URL set remembers the articles; list pages are re-read.
            before = len(server.requests)
            again: list[RawItem] = []
            run_plans_isolated([plan], cfg, again.append, timeout_seconds=120)
            later = [r.path for r in server.requests[before:]]
            assert "/zh/list_1.html" in later and not [p for p in later if p.startswith("/zh/a/")]
            assert again == []
        finally:
            for name in redis_client.keys(f"pw-{key}:*"):  # type: ignore[attr-defined]
                redis_client.delete(name)  # type: ignore[attr-defined]
