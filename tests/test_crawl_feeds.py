"""Feeds and list pages nobody on the project wrote (issue 19): UTF-16 / UTF-32 without a
byte-order mark, Korean and Japanese feeds with no charset label, entries with no <link>, and
list pages that are binary or empty; every entry a run does not keep is counted with its reason."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import select

from crawlers.encoding import decode_body, sniff_wide_encoding
from crawlers.registry import parse_registry, sync_registry
from crawlers.run import SourceReport, crawl, pipeline_sink
from crawlers.spiders import NO_LINK_NO_TEXT, NO_LINKS
from crawlers.testserver import LocalServer, Reply, Request
from models import CrawlRun, Source
from models.db import make_engine, session_scope, upgrade
from presswatch.items import RawItem
from settings import load_settings

ZH_RSS = ('<?xml version="1.0" encoding="{enc}"?><rss version="2.0"><channel><title>儋州法院</title>'
          "<item><title>法院开展集中执行行动</title><link>{base}/a/1.html</link>"
          "<description>儋州市人民法院执行局近日开展集中执行行动。</description></item></channel></rss>")
KO_RSS = ('<?xml version="1.0"?><rss version="2.0"><channel><title>서울중앙지방법원 소식</title>'
          "<item><title>법원, 채무자 재산 압류 집행</title><link>{base}/ko/1.html</link>"
          "<description>서울중앙지방법원은 판결을 이행하지 않은 채무자의 재산을 압류했다고 밝혔다.</description></item>"
          "</channel></rss>")
JA_RSS = ('<?xml version="1.0"?><rss version="2.0"><channel><title>東京地方裁判所のお知らせ</title>'
          "<item><title>強制執行の手続きについて</title><link>{base}/ja/1.html</link>"
          "<description>判決に従わない債務者の財産を差し押さえる手続きについて説明します。</description></item>"
          "</channel></rss>")
NO_LINK_RSS = """<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>执行公开</title>
<item><title>有链接的一条</title><link>{base}/n/1.html</link><description>有链接的一条的摘要。</description></item>
<item><title>只有永久链接 guid 的一条</title><guid isPermaLink="true">{base}/n/2.html</guid>
  <description>只有 guid 的一条的摘要。</description></item>
<item><title>只有文字的一条</title><guid isPermaLink="false">tag:court.example,2024:3</guid>
  <description>这一条没有链接，但有全文：法院依法拘留拒不履行义务的被执行人一名。</description></item>
<item><title>什么都没有的一条</title></item>
<item><title>又一条什么都没有的</title><guid isPermaLink="false">12345</guid></item>
</channel></rss>"""


def site(req: Request) -> Reply:
    base = req.base_url
    rss = {"Content-Type": "application/rss+xml"}
    if req.path == "/utf16.rss":  # valid UTF-16 LE, no byte-order mark, labelled only in the declaration
        return Reply(200, ZH_RSS.format(enc="UTF-16", base=base).encode("utf-16-le"), rss)
    if req.path == "/utf32.rss":
        return Reply(200, ZH_RSS.format(enc="UTF-32", base=base).encode("utf-32-be"), rss)
    if req.path == "/ko.rss":
        return Reply(200, KO_RSS.format(base=base).encode("euc-kr"), rss)
    if req.path == "/ja.rss":
        return Reply(200, JA_RSS.format(base=base).encode("shift_jis"), rss)
    if req.path == "/nolink.rss":
        return Reply(200, NO_LINK_RSS.format(base=base).encode("utf-8"), rss)
    if req.path.startswith("/n/"):
        return Reply(200, (f"<html><head><title>页面 {req.path}</title></head><body><h1>页面 {req.path}</h1>"
                           "<p>法院依法对被执行人采取强制措施，案件得到顺利执结，申请执行人拿到了全部案款。</p>"
                           "</body></html>").encode(), {"Content-Type": "text/html; charset=utf-8"})
    if req.path == "/list/binary":
        return Reply(200, b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)) * 8, {"Content-Type": "image/png"})
    if req.path == "/list/binary-untyped":
        return Reply(200, b"\x00\x01\x02\x03garbage\x00\xff" * 100, {"Content-Type": "text/html"})
    if req.path == "/droppy.rss":
        return Reply(200, (f'<?xml version="1.0"?><rss><channel><title>t</title>'
                           f"<item><title>导航页</title><link>{base}/nav.html</link></item>"
                           f"<item><title>文章</title><link>{base}/n/9.html</link></item></channel></rss>").encode(), rss)
    if req.path == "/nav.html":
        return Reply(200, ('<html><body><ul class="menu">' + "".join(
            f'<li><a href="/c/{i}.html">栏目{i}</a></li>' for i in range(20)) + "</ul></body></html>").encode(),
            {"Content-Type": "text/html; charset=utf-8"})
    if req.path == "/slow.rss":
        return Reply(200, ZH_RSS.format(enc="utf-8", base=base).encode(), rss, delay_seconds=6)
    if req.path == "/list/empty":
        return Reply(200, b"", {"Content-Type": "text/html"})
    return Reply(404, b"not found", {"Content-Type": "text/plain"})


def registry(base: str) -> dict[str, Any]:
    def feed(key: str, path: str, **kw: object) -> dict[str, Any]:
        return {"key": key, "name": key, "kind": "feed", "start_urls": [base + path], "fetch_articles": False, **kw}

    def html(key: str, path: str) -> dict[str, Any]:
        return {"key": key, "name": key, "kind": "html", "start_urls": [base + path],
                "selectors": {"links": "ul a::attr(href)"}}

    return {"sources": [
        feed("utf16", "/utf16.rss"), feed("utf32", "/utf32.rss"), feed("ko", "/ko.rss", language="ko"),
        feed("ja", "/ja.rss", language="ja"), feed("nolink", "/nolink.rss", fetch_articles=True),
        html("binary-list", "/list/binary"), html("binary-untyped", "/list/binary-untyped"),
        html("empty-list", "/list/empty"), feed("slow", "/slow.rss"), feed("droppy", "/droppy.rss", fetch_articles=True),
    ]}


class Run:
    def __init__(self, reports: list[SourceReport], items: list[RawItem]) -> None:
        self.reports = {r.key: r for r in reports}
        self.items = items
        self.slow_hits = 0

    def of(self, key: str) -> list[RawItem]:
        return [i for i in self.items if i.source_key == key]


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Run, Any]]:
    url = f"sqlite:///{tmp_path_factory.mktemp('feeds') / 'feeds.db'}"
    upgrade(url)
    engine = make_engine(url)
    server = LocalServer(site).start()
    with session_scope(engine) as session:
        sync_registry(session, parse_registry(registry(server.base_url)))
    settings = load_settings(environ={}, overrides={
        "crawl.download_delay_seconds": 0, "crawl.fetch_timeout_seconds": 2, "crawl.retry_times": 3,
        "crawl.fetch_budget_seconds": 3.5, "crawl.obey_robots_txt": False}).settings
    items: list[RawItem] = []
    reports = crawl(engine, settings, sink=items.extend, isolate=True,
                    keys=[k["key"] for k in registry(server.base_url)["sources"] if k["key"] != "droppy"])
    # one source through the real pipeline: what it does not store is told on the run
    stored = load_settings(environ={}, overrides={"pipeline.snapshot_dir": str(tmp_path_factory.mktemp("snap"))})
    reports += crawl(engine, settings.model_copy(update={"pipeline": stored.settings.pipeline}),
                     sink=pipeline_sink(engine, stored.settings), isolate=True, keys=["droppy"])
    run = Run(reports, items)
    run.slow_hits = sum(1 for r in server.requests if r.path == "/slow.rss")
    yield run, engine
    server.stop()
    engine.dispose()


@pytest.mark.parametrize("key", ["utf16", "utf32"])
def test_utf16_and_utf32_feeds_without_bom(world: tuple[Run, Any], key: str) -> None:
    run, _ = world
    report = run.reports[key]
    assert report.status == "ok" and report.reason is None, report
    (item,) = run.of(key)
    assert item.title == "法院开展集中执行行动" and item.text == "儋州市人民法院执行局近日开展集中执行行动。"


@pytest.mark.parametrize(("key", "title"), [("ko", "법원, 채무자 재산 압류 집행"), ("ja", "強制執行の手続きについて")])
def test_korean_and_japanese_feeds_without_a_charset_label(world: tuple[Run, Any], key: str, title: str) -> None:
    run, _ = world
    assert run.reports[key].status == "ok" and run.reports[key].reason is None
    (item,) = run.of(key)
    assert item.title == title


def test_entries_without_a_link_are_kept_or_counted_with_a_reason(world: tuple[Run, Any]) -> None:
    run, engine = world
    report = run.reports["nolink"]
    by_title = {i.title: i for i in run.of("nolink")}
    assert set(by_title) == {"有链接的一条", "只有永久链接 guid 的一条", "只有文字的一条"}
    assert by_title["只有永久链接 guid 的一条"].url.endswith("/n/2.html")
    kept = by_title["只有文字的一条"]
    assert kept.extra["no_link"] and kept.text and "拘留" in kept.text and "#entry-" in kept.url
    # the two entries with nothing to keep are counted, said in the run's reason, kept in its row
    assert report.skipped == {NO_LINK_NO_TEXT: 2}
    assert report.status == "ok" and report.health == "warning"
    assert report.reason == f"2 entries not kept: {NO_LINK_NO_TEXT} (2)"
    with session_scope(engine) as session:
        source = session.scalars(select(Source).where(Source.key == "nolink")).one()
        row = session.scalars(select(CrawlRun).where(CrawlRun.source_id == source.id)).one()
        assert row.skipped == {NO_LINK_NO_TEXT: 2}


@pytest.mark.parametrize(("key", "reason"), [
    ("binary-list", "list page is not HTML but image/png"),
    ("binary-untyped", "list page is binary data"),
    ("empty-list", "list page is empty"),
])
def test_binary_or_empty_list_pages_say_so(world: tuple[Run, Any], key: str, reason: str) -> None:
    report = world[0].reports[key]
    assert report.status == "empty" and (report.reason or "").startswith(reason), report
    assert NO_LINKS not in (report.reason or "")


@pytest.mark.parametrize("codec", ["utf-16-le", "utf-16-be", "utf-32-le", "utf-32-be"])
def test_wide_encodings_are_seen_in_the_zero_bytes(codec: str) -> None:
    text = '<?xml version="1.0"?><rss><channel><title>Tòa án nhân dân 儋州法院</title></channel></rss>'
    assert sniff_wide_encoding(text.encode(codec)) == codec
    assert decode_body(text.encode(codec), "application/xml; charset=utf-8").text == text
    assert sniff_wide_encoding(text.encode("utf-8")) is None


def test_chinese_with_spaces_is_not_taken_for_korean() -> None:
    zh = "<p>儋州市人民法院 执行局 公布 第三批 失信被执行人 名单 依法惩戒 拒不履行 义务的 被执行人</p>"
    assert decode_body(zh.encode("gbk")).text == zh


def test_retries_stay_within_the_time_budget_and_say_what_they_cost(world: tuple[Run, Any]) -> None:
    """3 retries of a 2 s timeout would cost 4 tries and 15 s; a 3.5 s budget allows one try
    (2 s), a 1 s back-off, and then less than a second: no second try. The reason says so."""
    run, _ = world
    report = run.reports["slow"]
    assert report.status == "failed"
    assert run.slow_hits == 1
    assert (report.reason or "").startswith("timeout: 1 try in "), report.reason
    assert "(2 s per try, 3.5 s budget)" in (report.reason or "")


def test_utf16_page_without_bom_is_text_for_the_pipeline() -> None:
    from pipeline.decode import decode_body as pipeline_decode

    page = "<html><head><title>法院</title></head><body><p>儋州法院执行</p></body></html>"
    assert pipeline_decode(page.encode("utf-16-le")) == (page, "utf-16-le")


def test_pages_the_pipeline_does_not_store_are_told_on_the_run(world: tuple[Run, Any]) -> None:
    report = world[0].reports["droppy"]
    assert report.status == "ok" and report.items_new == 2
    assert report.skipped in ({"dropped: empty": 1}, {"dropped: no_text": 1}), report.skipped
    assert (report.reason or "").startswith("1 entry not kept: dropped: "), report.reason
    assert report.health == "warning"
