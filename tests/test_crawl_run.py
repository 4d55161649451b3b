"""Crawls against a real local web site: every source kind, every bad answer, health, incremental.

One crawl run of all fixture sources (in a child process, as the scheduler does) feeds most tests;
a second run checks the 304, incremental fetching and the SourceFailing threshold. Sinks are
plain lists: the crawler is tested without the pipeline (and without jieba).
"""

from __future__ import annotations

import hashlib
import time
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, select

from crawlers.registry import parse_registry, sync_registry
from crawlers.run import SourceReport, crawl
from crawlers.spiders import NO_LINKS
from crawlers.testserver import LocalServer
from crawlers.urls import canonical_url
from models import Article, CrawlRun, Source
from models.db import make_engine, session_scope, upgrade
from presswatch.events import CrawlFinished, SourceFailing, bus
from presswatch.items import RawItem
from settings import Settings, load_settings
from tests.crawl_site import RSS_ETAG, fixture_registry, fixture_site

UA = "presswatch-test/1.0 (+fixture crawl)"


def _settings() -> Settings:
    return load_settings(environ={}, overrides={
        "crawl.download_delay_seconds": 0, "crawl.fetch_timeout_seconds": 2, "crawl.max_body_bytes": 1_000_000,
        "crawl.retry_times": 1, "crawl.source_failure_threshold": 2, "crawl.user_agent": UA,
        "crawl.concurrent_requests_per_domain": 8,
    }).settings


@dataclass
class Run:
    reports: dict[str, SourceReport]
    items: list[RawItem]
    events: list[Any]
    paths: list[str]
    seconds: float

    def of(self, key: str) -> list[RawItem]:
        return [i for i in self.items if i.source_key == key]


@dataclass
class World:
    server: LocalServer
    engine: Engine
    settings: Settings
    runs: list[Run] = field(default_factory=list)

    def crawl(self, keys: list[str] | None = None) -> Run:
        items: list[RawItem] = []
        events: list[Any] = []
        before = len(self.server.requests)
        bus.subscribe(SourceFailing, events.append)
        bus.subscribe(CrawlFinished, events.append)
        start = time.monotonic()
        try:
            reports = crawl(self.engine, self.settings, sink=items.extend, keys=keys, isolate=True)
        finally:
            bus.clear()
        run = Run({r.key: r for r in reports}, items, events, [r.path for r in self.server.requests[before:]],
                  time.monotonic() - start)
        self.runs.append(run)
        return run


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    url = f"sqlite:///{tmp_path_factory.mktemp('crawl') / 'crawl.db'}"
    upgrade(url)
    engine = make_engine(url)
    server = LocalServer(fixture_site).start()
    with session_scope(engine) as session:
        sync_registry(session, parse_registry(fixture_registry(server.base_url)))
    w = World(server, engine, _settings())
    w.crawl()
    yield w
    server.stop()
    engine.dispose()


@pytest.fixture(scope="module")
def first(world: World) -> Run:
    return world.runs[0]


def _source(engine: Engine, key: str) -> Source:
    with session_scope(engine) as session:
        row = session.scalars(select(Source).where(Source.key == key)).one()
        session.expunge(row)
        return row


def test_gbk_list_pages_with_pagination_redirects_404_and_robots(world: World, first: Run) -> None:
    items = {i.url.removeprefix(world.server.base_url): i for i in first.of("zh-gbk")}
    assert set(items) == {"/zh/a/1.html", "/zh/a/2.html", "/zh/a/3.html", "/zh/a/moved.html"}
    one = items["/zh/a/1.html"]
    assert one.title == "琼州法院集中执行兑现案款二百万元" and one.encoding == "gb18030"
    assert "兑现案款二百万元" in (one.text or "") and "兑现案款二百万元" in (one.html or "")
    assert one.body is not None and "兑现".encode("gbk") in one.body  # the raw snapshot, as fetched
    assert (one.published or "").startswith("发布时间：2026-11-21")
    moved = items["/zh/a/moved.html"]
    assert moved.final_url == world.server.url("/zh/a/4.html") and moved.title == "执行不能案件公开听证"
    assert "/zh/a/5.html" not in first.paths  # list page 3 is beyond max_depth 2
    assert "/zh/private/draft.html" not in first.paths  # robots.txt
    assert first.paths.count("/zh/a/1.html") == 1  # linked from two list pages, fetched once
    report = first.reports["zh-gbk"]
    assert report.status == "ok" and report.items_found == 7 and report.items_new == 4
    assert report.health == "warning" and "(+1 more)" in (report.reason or "")
    row = _source(world.engine, "zh-gbk")
    assert row.last_success_at is not None and row.consecutive_failures == 0
    with session_scope(world.engine) as session:
        run = session.scalars(select(CrawlRun).where(CrawlRun.source_id == row.id)).first()
        assert run is not None and run.status == "ok" and run.items_new == 4 and run.pages_fetched == 6
        assert sorted(e.split(":")[0] for e in run.errors) == ["HTTP 404 at http", "blocked by robots.txt"]


def test_vietnamese_site_is_nfc(first: Run) -> None:
    items = first.of("vi-site")
    assert len(items) == 2 and first.reports["vi-site"].health == "ok"
    for item in items:
        for text in (item.title, item.text, item.html):
            assert text and unicodedata.is_normalized("NFC", text)
    titles = {i.title for i in items}
    assert "Cưỡng chế thi hành án tại huyện Gia Lộc" in titles
    assert all(i.lang == "vi" and i.timezone == "Asia/Ho_Chi_Minh" for i in items)


def test_rss_fetches_pages_and_keeps_entry_when_page_is_gone(world: World, first: Run) -> None:
    items = {i.url.removeprefix(world.server.base_url): i for i in first.of("rss")}
    assert set(items) == {"/news/101.html", "/news/102.html", "/news/gone.html"}
    assert items["/news/101.html"].title == "全省法院执行工作推进会召开"
    assert items["/news/101.html"].published == "Sat, 21 Nov 2026 08:30:00 +0800"
    assert "会议通报" in (items["/news/101.html"].html or "")
    gone = items["/news/gone.html"]  # its page is 404: the feed's summary is kept
    assert gone.body is None and gone.text == "这篇稿件的摘要仍在，页面已经删除。"
    assert "HTTP 404" in gone.extra["page_error"]
    row = _source(world.engine, "rss")
    assert row.http_etag == RSS_ETAG and row.health == "warning"


def test_atom_entries_carry_their_content(world: World, first: Run) -> None:
    items = sorted(first.of("atom"), key=lambda i: i.url)
    assert [i.title for i in items] == ["Chi cục THADS tổ chức tuyên truyền pháp luật", "Kết quả thi hành án 10 tháng"]
    assert "Luật Thi hành án dân sự" in (items[0].text or "") and items[0].author == "Nguyễn Văn An"
    assert "/atom/1.html" not in first.paths  # fetch_articles: false


def test_news_sitemap_index_gzip_newest_first(world: World, first: Run) -> None:
    items = first.of("sitemap")
    assert {i.title for i in items} == {"最新的稿件", "中间的稿件", "较早的稿件"}
    newest = next(i for i in items if i.title == "最新的稿件")
    assert newest.published == "2026-11-21T09:00:00+08:00"
    # Newest first is the order requests are SCHEDULED in (test_crawl_units); with concurrent
    # requests the server may see them in any order, so only completeness is checked here.
    assert sorted(p for p in first.paths if p.startswith("/sm/art/")) == [
        "/sm/art/middle.html", "/sm/art/newest.html", "/sm/art/old.html"]


def test_json_api_posts_with_paging_and_metrics(world: World, first: Run) -> None:
    items = {i.extra["post_id"]: i for i in first.of("posts")}
    assert set(items) == {"9001", "9002", "9003"}
    post = items["9002"]
    assert post.url == world.server.url("/weibo/9002") and post.author == "网友甲"
    assert post.metrics == {"reposts": 980, "comments": 512, "likes": 66}
    assert post.published == "2026-11-21T07:45:00+08:00" and "执行现场" in (post.text or "")
    assert post.extra["published_raw"] == "Sat Nov 21 07:45:00 +0800 2026"
    assert "/api/posts?page=3" in first.paths and "/api/posts?page=4" not in first.paths
    assert first.reports["posts"].status == "ok"


def test_javascript_only_page_is_empty_not_a_quiet_day(world: World, first: Run) -> None:
    report = first.reports["js-only"]
    assert report.status == "empty" and report.items_found == 0
    assert (report.reason or "").startswith(NO_LINKS)
    row = _source(world.engine, "js-only")
    assert row.consecutive_failures == 1 and row.health == "warning" and row.last_success_at is None


@pytest.mark.parametrize(
    ("key", "reason"),
    [
        ("err-500", "HTTP 500 at"),
        ("slow", "timeout: 2 tries"),
        ("huge", "larger than the max_body_bytes"),
        ("gzip-bomb", "larger than the max_body_bytes"),
        ("entity-bomb", "entity-expansion bomb"),
        ("robots-blocked", "blocked by robots.txt"),
    ],
)
def test_bad_answers_become_clear_health_records(world: World, first: Run, key: str, reason: str) -> None:
    report = first.reports[key]
    assert report.status == "failed" and reason in (report.reason or ""), report
    assert first.of(key) == []
    row = _source(world.engine, key)
    assert row.consecutive_failures == 1 and reason in (row.last_error or "")
    with session_scope(world.engine) as session:
        run = session.scalars(select(CrawlRun).where(CrawlRun.source_id == row.id)).one()
        assert run.status == "failed" and any(reason in e for e in run.errors)


def test_retry_waits_with_backoff(first: Run, world: World) -> None:
    hits = [r for r in world.server.requests if r.path == "/err/500.xml"]
    assert len(hits) == 2  # retry_times = 1
    assert all(r.headers.get("user-agent") == UA for r in world.server.requests)


def test_malformed_feed_keeps_good_entries_and_warns(first: Run) -> None:
    report = first.reports["malformed"]
    assert report.status == "ok" and report.health == "warning"
    assert "feed malformed" in (report.reason or "")
    assert {i.title for i in first.of("malformed")} >= {"完整的第一条", "完整的第二条"}


def test_feed_with_wrong_declared_encoding(first: Run) -> None:
    (item,) = first.of("wrong-encoding")
    assert item.title == "儋州法院执行局开展集中清理积案行动" and "一百余件" in (item.text or "")


def test_rss10_big5_and_windows_1258_feeds(first: Run) -> None:
    (rdf,) = first.of("rss10")
    assert rdf.title == "县司法局开展法律援助进乡村活动" and rdf.author == "李四"
    assert rdf.published == "2026-11-20T10:00:00+08:00"
    (big5,) = first.of("big5")
    assert big5.title == "法院執行處查扣被執行人財產" and "車輛兩部" in (big5.text or "")
    (vi,) = first.of("cp1258")
    assert vi.title == "Cưỡng chế thi hành án dân sự ở Hưng Yên"
    assert unicodedata.is_normalized("NFC", vi.text or "") and "kê biên tài sản" in (vi.text or "")


def test_robots_can_be_switched_off_per_source(first: Run) -> None:
    assert first.reports["robots-ignored"].status == "ok" and len(first.of("robots-ignored")) == 3


def test_one_crawl_run_row_per_source(world: World, first: Run) -> None:
    with session_scope(world.engine) as session:
        runs = session.scalars(select(CrawlRun)).all()
        assert len(runs) >= len(first.reports) == 19
    finished = [e for e in first.events if isinstance(e, CrawlFinished)]
    assert len(finished) == 19 and not [e for e in first.events if isinstance(e, SourceFailing)]


def test_second_run_304_incremental_and_source_failing(world: World, first: Run) -> None:
    # The pipeline stored two of the first run's articles (simulated: the sink here is a list).
    stored = [world.server.url("/zh/a/1.html"), world.server.url("/zh/a/2.html")]
    with session_scope(world.engine) as session:
        zh = session.scalars(select(Source).where(Source.key == "zh-gbk")).one()
        for url in stored:
            canon = canonical_url(url)
            session.add(Article(source_id=zh.id, url=url, canonical_url=canon,
                                url_hash=hashlib.sha256(canon.encode()).hexdigest(), title="t", text="x",
                                fetched_at=datetime.now(UTC)))
    second = world.crawl(["zh-gbk", "rss", "js-only", "entity-bomb"])

    assert "/zh/a/1.html" not in second.paths and "/zh/a/2.html" not in second.paths
    assert "/zh/a/3.html" in second.paths  # not stored yet: fetched again
    assert second.reports["zh-gbk"].items_new == 2 and second.reports["zh-gbk"].items_found == 7

    rss = second.reports["rss"]  # unchanged feed: one 304, a quiet day, not a failure
    assert rss.status == "ok" and rss.items_new == 0 and rss.pages_fetched == 1 and rss.health == "ok"
    assert second.paths.count("/news/rss.xml") == 1 and not [p for p in second.paths if p.startswith("/news/1")]

    failing = {e.source_key: e for e in second.events if isinstance(e, SourceFailing)}
    assert set(failing) == {"js-only", "entity-bomb"}
    assert failing["js-only"].consecutive_failures == 2 and failing["js-only"].reason.startswith(NO_LINKS)
    assert _source(world.engine, "js-only").health == "failing"
    assert second.reports["rss"].consecutive_failures == 0


def test_crawl_time_stays_small(first: Run) -> None:
    assert first.seconds < 30  # a regression guard for the suite's total time, not a benchmark


def test_cli_crawl_of_the_demo_world(tmp_path: Path) -> None:
    """`presswatch crawl` in its own process (as a user runs it) over the bundled demo site."""
    import json
    import subprocess
    import sys

    from crawlers.demo_site import start_demo_site
    from crawlers.demo_site.site import DEFAULT_DEMO_ORIGIN
    from tests.conftest import subprocess_env

    example = Path(__file__).resolve().parents[1] / "presswatch" / "templates" / "sources.example.yaml"
    server = start_demo_site()
    try:
        (tmp_path / "sources.yaml").write_text(
            example.read_text(encoding="utf-8").replace(DEFAULT_DEMO_ORIGIN, server.base_url), encoding="utf-8")
        env = subprocess_env(PRESSWATCH_CRAWL__DOWNLOAD_DELAY_SECONDS="0")

        def cli(*args: str) -> subprocess.CompletedProcess[str]:
            return subprocess.run([sys.executable, "-m", "presswatch.cli", *args], cwd=tmp_path, env=env,
                                  capture_output=True, text=True, timeout=120)

        proc = cli("crawl", "--out", "items.jsonl")
        assert proc.returncode == 0, proc.stderr
        records = [json.loads(line) for line in (tmp_path / "items.jsonl").read_text(encoding="utf-8").splitlines()]
        by_source: dict[str, int] = {}
        for rec in records:
            by_source[rec["source_key"]] = by_source.get(rec["source_key"], 0) + 1
        assert by_source == {"jinri-danzhou": 10, "fazhi-shibao": 5, "danzhou-court": 6, "weibo-danzhou": 5,
                             "bao-hungyen": 5, "baophapluat": 4}
        negative = [r for r in records if r["title"] and "暴力执法" in r["title"]]
        assert {r["source_key"] for r in negative} >= {"jinri-danzhou", "fazhi-shibao"}
        assert all(r["body_sha256"] for r in records)
        check = cli("sources", "check")
        assert check.returncode == 0 and "failing" not in check.stdout and check.stdout.count("ok") >= 6
    finally:
        server.stop()
