"""Small pure parts of the crawler: due sources, import files, API times, outcome statuses."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from crawlers.imports import ImportError_, paste_url, read_import_file, row_item
from crawlers.jobs import scheduled_jobs
from crawlers.plan import Outcome
from crawlers.registry import iter_due
from crawlers.spiders import api_time, dotted
from models import Source
from models.enums import SourceKind
from settings import Settings


def test_due_sources_follow_their_interval() -> None:
    now = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
    rows = [
        Source(key="never", kind=SourceKind.FEED, enabled=True, interval_minutes=30, last_attempt_at=None),
        Source(key="fresh", kind=SourceKind.FEED, enabled=True, interval_minutes=30,
               last_attempt_at=now - timedelta(minutes=10)),
        Source(key="stale", kind=SourceKind.FEED, enabled=True, interval_minutes=30,
               last_attempt_at=now - timedelta(minutes=31)),
        Source(key="default", kind=SourceKind.FEED, enabled=True, interval_minutes=None,
               last_attempt_at=now - timedelta(minutes=16)),
        Source(key="off", kind=SourceKind.FEED, enabled=False, interval_minutes=1, last_attempt_at=None),
    ]
    assert [r.key for r in iter_due(rows, 15, now)] == ["never", "stale", "default"]
    # An open risk plan polls "fresh" every 5 minutes (in seconds): due now; a slower ask never slows
    # a source down.
    assert [r.key for r in iter_due(rows, 15, now, {"fresh": 300, "stale": 36000})] == [
        "never", "fresh", "stale", "default"]
    # An urgent source polled every 20 seconds (interval_seconds in the registry, kept in its config).
    urgent = Source(key="urgent", kind=SourceKind.FEED, enabled=True, interval_minutes=30,
                    config={"interval_seconds": 20}, last_attempt_at=now - timedelta(seconds=25))
    calm = Source(key="calm", kind=SourceKind.FEED, enabled=True, interval_minutes=None,
                  config={"interval_seconds": 20}, last_attempt_at=now - timedelta(seconds=15))
    assert [r.key for r in iter_due([urgent, calm], 15, now)] == ["urgent"]
    assert [r.key for r in iter_due([urgent, calm], 15, now, {"calm": 10})] == ["urgent", "calm"]
    # A crawl scheduled its next poll: that time decides (it holds back-off, learning and jitter).
    backing_off = Source(key="backoff", kind=SourceKind.FEED, enabled=True, interval_minutes=30,
                         last_attempt_at=now - timedelta(minutes=31), next_poll_at=now + timedelta(minutes=29))
    learned = Source(key="learned", kind=SourceKind.FEED, enabled=True, interval_minutes=30,
                     last_attempt_at=now - timedelta(minutes=5), next_poll_at=now - timedelta(seconds=1))
    assert [r.key for r in iter_due([backing_off, learned], 15, now)] == ["learned"]
    assert [r.key for r in iter_due([backing_off], 15, now, {"backoff": 300})] == ["backoff"]
    job, _purge = scheduled_jobs(Settings())
    assert job.func == "crawlers.jobs:ensure_worker" and job.trigger == "interval"  # the long-lived worker
    job, _purge = scheduled_jobs(Settings.model_validate({"crawl": {"worker": False}}))
    assert job.func == "crawlers.jobs:crawl_due" and job.trigger == "interval"


def test_import_files(tmp_path: Path) -> None:
    (tmp_path / "links.txt").write_text("# seen in WeChat\nhttps://mp.weixin.qq.com/s/abc\n\nhttps://x.cn/1\n")
    assert read_import_file(tmp_path / "links.txt").urls == ["https://mp.weixin.qq.com/s/abc", "https://x.cn/1"]
    (tmp_path / "a.csv").write_text("url,title,text,published\nhttps://x.cn/2,标题,正文内容,2026-11-20\n"
                                    "https://x.cn/3,,,\n", encoding="gbk")
    batch = read_import_file(tmp_path / "a.csv")
    assert batch.urls == ["https://x.cn/3"] and batch.rows[0]["text"] == "正文内容"
    (tmp_path / "a.jsonl").write_text('{"text": "Khiếu nại", "title": "Tin"}\n{"url": "https://y.vn/1"}\n')
    batch = read_import_file(tmp_path / "a.jsonl")
    item = row_item(batch.rows[0], source_key="manual-import", lang="vi", timezone="Asia/Ho_Chi_Minh")
    assert item.url == paste_url("Khiếu nại") and item.url.startswith("urn:presswatch:paste:")
    assert batch.urls == ["https://y.vn/1"]
    (tmp_path / "bad.jsonl").write_text('{"text": "ok"}\nnot json\n')
    with pytest.raises(ImportError_, match=r"bad\.jsonl:2"):
        read_import_file(tmp_path / "bad.jsonl")


def test_api_times_and_paths() -> None:
    assert api_time("Sat Nov 21 07:45:00 +0800 2026") == "2026-11-21T07:45:00+08:00"
    assert api_time(1763681100) == "2025-11-20T23:25:00+00:00"
    assert api_time("1763681100000") == "2025-11-20T23:25:00+00:00"
    assert api_time("3小时前") == "3小时前"  # left for the pipeline's date parser
    assert dotted({"data": {"list": [{"id": 7}]}}, "data.list.0.id") == 7
    assert dotted({"data": None}, "data.list") is None


def test_outcome_status_separates_quiet_days_from_silence() -> None:
    assert Outcome("a", items_found=3).status == "ok"
    assert Outcome("a", not_modified=True).status == "ok"  # a 304: verified unchanged
    silent = Outcome("a", empty_reason="feed has no entries")
    assert silent.status == "empty" and silent.reason == "feed has no entries"
    failed = Outcome("a", errors=["HTTP 500 at x", "HTTP 500 at y"])
    assert failed.status == "failed" and failed.reason == "HTTP 500 at x"
    partial = Outcome("a", items_found=2, errors=["HTTP 404 at z", "timeout"])
    assert partial.status == "ok" and partial.reason == "HTTP 404 at z (+1 more)"


def test_sitemap_schedules_the_newest_articles_first() -> None:
    """The order requests are scheduled in (Scrapy pops the highest priority first); the live crawl
    test cannot check it, because concurrent requests reach the server in any order."""
    from scrapy.http import Request, XmlResponse

    from crawlers.plan import CrawlPlan
    from crawlers.registry import SourceDecl
    from crawlers.spiders import SitemapSpider

    base = "https://court.example.cn"
    body = (Path(__file__).parent / "fixtures" / "crawl" / "news_sitemap.xml").read_text("utf-8").replace("{base}", base)
    decl = SourceDecl(key="sm", name="sitemap", kind="sitemap", start_urls=[f"{base}/sitemap.xml"])
    spider = SitemapSpider(CrawlPlan(source_key="sm", decl=decl.config()), Outcome(source_key="sm"))
    response = XmlResponse(url=f"{base}/sitemap.xml", body=body.encode("utf-8"), encoding="utf-8")
    requests = [r for r in spider.parse_sitemap(response) if isinstance(r, Request)]
    by_priority = [r.url.removeprefix(base) for r in sorted(requests, key=lambda r: -r.priority)]
    assert by_priority == ["/sm/art/newest.html", "/sm/art/middle.html", "/sm/art/old.html"]  # listed old first
    assert requests[0].meta["prefill"]["title"] == "最新的稿件"


def test_host_map_is_declared_per_source_and_checked() -> None:
    from pydantic import ValidationError

    from crawlers.registry import SourceDecl

    decl = SourceDecl(key="s", name="s", kind="feed", start_urls=["https://x.cn/rss"],
                      host_map={" M.X.cn ": "www.x.cn"})
    assert decl.host_map == {"m.x.cn": "www.x.cn"} and decl.config()["host_map"] == {"m.x.cn": "www.x.cn"}
    with pytest.raises(ValidationError, match=r"not a host name: 'https://m\.x\.cn/'"):
        SourceDecl(key="s", name="s", kind="feed", start_urls=["https://x.cn/rss"],
                   host_map={"https://m.x.cn/": "www.x.cn"})
