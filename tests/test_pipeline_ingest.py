"""The pipeline end to end: extract -> normalize -> dedupe -> store, idempotent on both backends."""

from __future__ import annotations

import json
import threading
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, delete, func, select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from models import Article, FingerprintBand, Snapshot, Story
from pipeline.ingest import SourceLookup, ingest_items, process_item
from presswatch.events import ArticleStored, EventBus
from presswatch.items import RawItem
from settings import Settings, load_settings
from tests import factories
from tests.conftest import BACKENDS

FIXTURES = Path(__file__).parent / "fixtures" / "pipeline"
NOW = datetime(2024, 5, 20, 4, 0, tzinfo=UTC)


def _settings(tmp_path: Path) -> Settings:
    return load_settings(environ={}, overrides={"pipeline.snapshot_dir": str(tmp_path / "snapshots")}).settings


def _page(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def _item(url: str, source: str = "danzhou-court", **kw: object) -> RawItem:
    return RawItem(url=url, source_key=source, fetched_at=kw.pop("fetched_at", NOW), **kw)  # type: ignore[arg-type]


def test_court_page_is_extracted_and_stored(session: Session, tmp_path: Path) -> None:
    outlet = factories.outlet(session, key="danzhou-court", name="儋州法院网")
    result = process_item(session, _item("https://www.dzcourt.gov.cn/fyxw/1234.html?utm_source=wx#top",
                                         body=_page("zh_court_news.html"),
                                         headers={"content-type": "text/html; charset=utf-8"}),
                          _settings(tmp_path), now=NOW)
    assert result.outcome == "stored", result.reason
    art = session.get(Article, result.article_id)
    assert art is not None
    assert art.canonical_url == "https://www.dzcourt.gov.cn/fyxw/1234.html"
    assert art.title == "儋州法院开展“雷霆行动”集中执行 拘留拒不履行被执行人3名"
    assert art.text.startswith("5月13日凌晨5时")
    for furniture in ("相关阅读", "分享到", "ICP", "热点新闻", "上一篇", "打印本页", "网上立案"):
        assert furniture not in art.text
    assert art.published_at == datetime(2024, 5, 14, 0, 30, tzinfo=UTC)  # 08:30 in Asia/Shanghai
    assert not art.published_at_missing
    assert art.lang == "zh"
    assert art.byline == "通讯员 张三"
    assert art.source_line is not None and "来源：儋州市人民法院" in art.source_line
    assert art.extra["correspondents"] == ["张三"] and art.extra["source_org"] == "儋州市人民法院"
    assert art.outlet_id == outlet.id
    story = session.get(Story, result.story_id)
    assert story is not None and story.first_article_id == art.id and story.first_outlet_id == outlet.id
    assert result.is_new_story
    snap = session.get(Snapshot, art.snapshot_id)
    assert snap is not None and snap.size_bytes == len(_page("zh_court_news.html"))


def test_gbk_portal_page_and_vietnamese_page(session: Session, tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    zh = process_item(session, _item("http://www.jinridanzhou.cn/fz/2024/0510/88.html", source="jinri-danzhou",
                                     body=_page("zh_portal_gbk.html")), settings, now=NOW)
    vi = process_item(session, _item("https://baohungyen.vn/phap-luat/cuong-che-123.html", source="bao-hungyen",
                                     body=_page("vi_news.html"), lang="vi", timezone="Asia/Ho_Chi_Minh"),
                      settings, now=NOW)
    assert zh.outcome == "stored" and vi.outcome == "stored"
    a_zh, a_vi = session.get(Article, zh.article_id), session.get(Article, vi.article_id)
    assert a_zh is not None and a_vi is not None
    assert a_zh.title == "儋州法院公布第三批失信被执行人名单"
    assert "失信被执行人名单" in a_zh.text and "网友评论" not in a_zh.text and "老赖" not in a_zh.text
    assert a_zh.extra["reporters"] == ["赵六"] and a_zh.extra["correspondents"] == ["张三"]
    assert a_zh.published_at == datetime(2024, 5, 10, 2, 5, tzinfo=UTC)
    assert a_vi.lang == "vi"
    assert a_vi.published_at == datetime(2024, 5, 14, 1, 30, tzinfo=UTC)  # 08:30 +07:00
    assert a_vi.extra["source_org"] == "Chi cục THADS huyện Văn Lâm"
    assert "Bình luận" not in a_vi.text and "Chia sẻ" not in a_vi.text and "Đọc nhiều" not in a_vi.text


def test_same_url_twice_is_a_duplicate_and_changed_content_updates(session: Session, tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    text = ("儋州法院召开执行工作推进会，通报今年以来执行工作情况，部署下一阶段重点任务。"
            "会议要求各执行团队加大执行力度。")
    url = f"https://news.example.cn/{uuid.uuid4().hex}.html"
    first = process_item(session, _item(url, title="执行工作推进会", text=text, published="2024-05-14 09:00"),
                         settings, now=NOW)
    again = process_item(session, _item(url + "?spm=a.b.c", title="执行工作推进会", text=text), settings, now=NOW)
    edited = process_item(session, _item(url, title="执行工作推进会（更正）", text=text + "会上还表彰了先进集体。"),
                          settings, now=NOW)
    assert (first.outcome, again.outcome, edited.outcome) == ("stored", "duplicate", "updated")
    assert again.reason.startswith("same_url")
    assert edited.article_id == first.article_id and edited.story_id == first.story_id
    assert session.scalar(select(func.count()).select_from(Article).where(Article.url_hash == _hash(url))) == 1
    art = session.get(Article, first.article_id, populate_existing=True)
    assert art is not None and art.title == "执行工作推进会（更正）" and "edited" in art.flags
    assert art.extra["revisions"] == 1


def _hash(url: str) -> str:
    from pipeline.urls import canonical_url, url_hash

    return url_hash(canonical_url(url))


def test_same_text_other_outlet_is_a_repost_same_outlet_is_a_duplicate(session: Session, tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    factories.outlet(session, key="fazhi-shibao", name="法制时报")
    factories.outlet(session, key="danzhou-court", name="儋州法院网")
    text = "儋州市人民法院审结一起拒不执行判决、裁定案，被告人李某有能力履行而拒不履行，被判处有期徒刑一年。" * 2
    a = process_item(session, _item("https://www.dzcourt.gov.cn/a/9.html", title="拒执罪案宣判", text=text),
                     settings, now=NOW)
    b = process_item(session, _item("https://www.fzsb.cn/a/77.html", source="fazhi-shibao", title="儋州一男子拒执获刑",
                                    text=text), settings, now=NOW)
    c = process_item(session, _item("https://www.dzcourt.gov.cn/print/9.html", title="拒执罪案宣判", text=text),
                     settings, now=NOW)
    assert (a.outcome, b.outcome, c.outcome) == ("stored", "stored", "duplicate")
    assert b.story_id == a.story_id and not b.is_new_story and "exact_repost" in b.flags
    assert c.reason.startswith("same_content")
    story = session.get(Story, a.story_id, populate_existing=True)
    assert story is not None and story.article_count == 2 and story.outlet_count == 2


def test_story_counts_outlets_of_reposts_once_and_unknown_outlets_as_one(session: Session, tmp_path: Path) -> None:
    """The outlet count a repost leaves (on PostgreSQL it is computed in the statement that
    inserts the repost, which does not see its own row): a second article of the same outlet adds
    none, articles of unregistered sources count as one outlet together, another outlet adds one."""
    settings = _settings(tmp_path)
    factories.outlet(session, key="fazhi-shibao", name="法制时报")
    factories.outlet(session, key="danzhou-court", name="儋州法院网")
    tag = uuid.uuid4().hex[:8]
    text = (f"儋州市人民法院{tag}审结一起拒不执行判决、裁定案，被告人李某有能力履行而拒不履行，被判处有期徒刑一年。"
            "法院表示将继续加大对拒执犯罪的打击力度，维护司法权威。")
    steps = [("https://www.dzcourt.gov.cn/a/1.html", "danzhou-court", "", 1),
             ("https://www.dzcourt.gov.cn/m/1.html", "danzhou-court", "（转）", 1),
             ("https://blog.example.cn/1.html", f"unregistered-{tag}", "", 2),
             ("https://forum.example.cn/1.html", f"unregistered2-{tag}", "（转载）", 2),
             ("https://www.fzsb.cn/a/1.html", "fazhi-shibao", "（来源：儋州法院）", 3)]
    story_id = None
    for n, (url, source, suffix, outlets) in enumerate(steps, 1):
        result = process_item(session, _item(url, source=source, title="拒执罪案宣判", text=text + suffix),
                              settings, now=NOW)
        assert result.outcome == "stored", result.reason
        story_id = story_id or result.story_id
        assert result.story_id == story_id
        story = session.get(Story, story_id, populate_existing=True)
        assert story is not None and (story.article_count, story.outlet_count) == (n, outlets), url


def test_ingest_items_publishes_events_and_counts_every_outcome(engine: Engine, tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    bus = EventBus()
    seen: list[ArticleStored] = []
    bus.subscribe(ArticleStored, seen.append)
    tag = uuid.uuid4().hex
    items = [
        _item(f"https://a.example.cn/{tag}/1.html", title="儋州法院开展普法宣传",
              text="12月4日国家宪法日，儋州法院干警走上街头开展普法宣传，发放资料500余份，解答群众法律咨询。"),
        _item(f"https://a.example.cn/{tag}/1.html", title="儋州法院开展普法宣传",
              text="12月4日国家宪法日，儋州法院干警走上街头开展普法宣传，发放资料500余份，解答群众法律咨询。"),
        _item(f"https://a.example.cn/{tag}/2.html", body=b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" * 50),
        _item(f"ftp://a.example.cn/{tag}/3.html", text="正文内容足够长的一段文字，用来测试错误的地址。"),
    ]
    try:
        stats = ingest_items(items, engine=engine, settings=settings, bus=bus)
        assert (stats.seen, stats.stored, stats.duplicate, stats.dropped, stats.errors) == (4, 1, 1, 2, 0)
        assert {r.split(":")[0] for _, r in stats.problems} == {"binary", "bad_url"}
        assert len(seen) == 1 and seen[0].is_new_story
        with Session(engine) as s:
            art = s.get(Article, seen[0].article_id)
            assert art is not None and art.story_id == seen[0].story_id
    finally:
        _cleanup(engine, tag)


def _cleanup(engine: Engine, tag: str) -> None:
    with Session(engine) as s, s.begin():
        ids = list(s.scalars(select(Article.id).where(Article.url.contains(tag))))
        story_ids = list(s.scalars(select(Article.story_id).where(Article.id.in_(ids))))
        snap_ids = list(s.scalars(select(Article.snapshot_id).where(Article.id.in_(ids))))
        s.execute(delete(FingerprintBand).where(FingerprintBand.article_id.in_(ids)))
        s.execute(delete(Article).where(Article.id.in_(ids)))
        s.execute(delete(Story).where(Story.id.in_([i for i in story_ids if i is not None])))
        s.execute(delete(Snapshot).where(Snapshot.id.in_([i for i in snap_ids if i is not None])))


def test_two_workers_storing_the_same_articles_never_duplicate(engine: Engine, tmp_path: Path) -> None:
    """Two threads, each with its own connection, race through the same items: one row per URL."""
    settings = _settings(tmp_path)
    tag = uuid.uuid4().hex
    items = [
        _item(f"https://race.example.cn/{tag}/{n}.html", title=f"第{n}批失信被执行人名单公布",
              text=f"儋州法院今日公布第{n}批失信被执行人名单，共有{n + 20}名被执行人被纳入名单，限制高消费。"
                   f"编号{tag}{n}。")
        for n in range(12)
    ]
    barrier = threading.Barrier(2)
    results = []

    def worker() -> None:
        barrier.wait()
        results.append(ingest_items(list(items), engine=engine, settings=settings, bus=EventBus()))

    threads = [threading.Thread(target=worker) for _ in range(2)]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert len(results) == 2
        assert sum(r.errors for r in results) == 0, [r.problems for r in results]
        assert sum(r.stored for r in results) == len(items)
        assert sum(r.duplicate for r in results) == len(items)
        with Session(engine) as s:
            rows = s.scalar(select(func.count()).select_from(Article).where(Article.url.contains(tag)))
            assert rows == len(items)
    finally:
        _cleanup(engine, tag)


def test_bad_input_never_crashes(session: Session, tmp_path: Path) -> None:
    settings = load_settings(environ={}, overrides={"pipeline.snapshot_dir": str(tmp_path / "s"),
                                                    "pipeline.max_text_chars": "50000"}).settings
    lookup = SourceLookup()
    huge = ("儋州法院执行局开展集中执行行动，依法拘留拒不履行义务的被执行人。" * 400 + "\n") * 100  # ~10 MB of UTF-8
    cases = {
        "empty": _item("https://e.example.cn/1.html", html=""),
        "blank_html": _item("https://e.example.cn/2.html", html="<html><body>   </body></html>"),
        "nav": _item("https://e.example.cn/3.html", body=_page("nav_only.html")),
        "junk": _item("https://e.example.cn/4.html", body=bytes(range(256)) * 40),
        "huge": _item("https://e.example.cn/5.html", title="超长文本", text=huge),
        "future": _item("https://e.example.cn/6.html", title="未来日期的稿件",
                        text="这是一篇发布时间写错的稿件，页面上的日期在未来，不能当真。",
                        published="2031-01-01 08:00"),
        "nodate": _item("https://e.example.cn/7.html", title="没有日期的稿件",
                        text="这是一篇页面上找不到发布时间的稿件，只能用抓取时间，并标记。"),
        "status": _item("https://e.example.cn/8.html", status=404, html="<html><body>Not found</body></html>"),
    }
    outcome = {name: process_item(session, item, settings, lookup=lookup, now=NOW) for name, item in cases.items()}
    for name in ("empty", "blank_html", "nav", "junk", "status"):
        assert outcome[name].outcome == "dropped" and outcome[name].reason, name
    assert outcome["junk"].reason.startswith("binary")
    assert outcome["status"].reason.startswith("http_status")
    assert outcome["nav"].reason.startswith(("empty", "no_text"))
    assert outcome["huge"].outcome == "stored"
    huge_art = session.get(Article, outcome["huge"].article_id)
    assert huge_art is not None and len(huge_art.text) == 50000 and "text_truncated" in huge_art.flags
    fut = session.get(Article, outcome["future"].article_id)
    assert fut is not None and "future_published_at" in fut.flags and fut.published_at == NOW
    assert fut.extra["published_raw"] == "2031-01-01 08:00"
    nod = session.get(Article, outcome["nodate"].article_id)
    assert nod is not None and nod.published_at_missing and nod.published_at == NOW
    assert "published_at_missing" in nod.flags


def test_cli_ingest_reports_bad_lines_and_is_idempotent(tmp_path: Path) -> None:
    from presswatch.cli import app

    good = {"url": "https://www.dzcourt.gov.cn/a/55.html", "title": "儋州法院开展普法宣传",
            "text": "12月4日国家宪法日，儋州市人民法院在市区广场开展普法宣传活动。来源：儋州市人民法院 通讯员 王五",
            "published_at": "2024-12-04 10:00", "source": "danzhou-court"}
    vi = {"url": "https://baohungyen.vn/a.html", "lang": "vi", "source": "bao-hungyen",
          "html": _page("vi_news.html").decode("utf-8"), "published_at": "14/5/2024"}
    lines = [json.dumps(good, ensure_ascii=False), "{not json", json.dumps({"title": "no url"}),
             json.dumps(vi, ensure_ascii=False), json.dumps({"url": "https://x.cn/1", "text": "x", "bogus": 1})]
    path = tmp_path / "import.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    runner = CliRunner()
    first = runner.invoke(app, ["--set", f"db.url=sqlite:///{tmp_path / 'cli.db'}", "ingest", str(path)])
    assert first.exit_code == 0, first.output
    assert "2 stored" in first.output
    assert "import.jsonl:2: not valid JSON" in first.output
    assert "import.jsonl:3: missing 'url'" in first.output
    assert "import.jsonl:5: unknown field(s): bogus" in first.output
    second = runner.invoke(app, ["--set", f"db.url=sqlite:///{tmp_path / 'cli.db'}", "ingest", str(path)])
    assert second.exit_code == 0 and "0 stored" in second.output and "2 duplicate" in second.output
    listed = runner.invoke(app, ["--set", f"db.url=sqlite:///{tmp_path / 'cli.db'}", "stories", "--since", "3650d"])
    assert listed.exit_code == 0 and "儋州法院开展普法宣传" in listed.output
    assert "1 article, 1 outlet;" in listed.output


def test_published_dates_in_the_last_day_are_not_future(session: Session, tmp_path: Path) -> None:
    fetched = datetime.now(UTC)
    r = process_item(session, _item(f"https://d.example.cn/{uuid.uuid4().hex}.html", fetched_at=fetched,
                                    title="三小时前发布的稿件",
                                    text="儋州法院执行局三小时前发布了集中执行行动的通报，通报了执行到位金额。",
                                    published="3小时前"), _settings(tmp_path))
    art = session.get(Article, r.article_id)
    assert art is not None and abs(art.published_at - (fetched - timedelta(hours=3))) < timedelta(seconds=5)
    assert not art.flags or "future_published_at" not in art.flags


def test_a_failing_item_costs_only_itself(engine: Engine, tmp_path: Path) -> None:
    """A crawler bug (metrics that are not JSON) fails its own insert; the batch is redone item by item."""
    tag = uuid.uuid4().hex
    good = [_item(f"https://b.example.cn/{tag}/{n}.html", title=f"儋州法院执行快讯第{n}期",
                  text=f"儋州法院执行局第{n}期执行快讯：本周执结案件{n + 30}件，执行到位金额{n + 100}万元。{tag}")
            for n in range(3)]
    bad = _item(f"https://b.example.cn/{tag}/bad.html", title="坏数据", metrics={"reposts": {1, 2}},
                text="这一条的转发数是集合而不是数字，存储时会失败，但不能连累同一批的其他文章。")
    try:
        stats = ingest_items([good[0], bad, good[1], good[2]], engine=engine, settings=_settings(tmp_path),
                             bus=EventBus(), batch_size=10)
        assert (stats.stored, stats.errors) == (3, 1)
        assert stats.problems[0][0].endswith("/bad.html") and stats.problems[0][1].startswith("error: ")
    finally:
        _cleanup(engine, tag)


@pytest.mark.parametrize("backend", BACKENDS)
def test_near_duplicate_reads_of_a_batch_match_reads_item_by_item(
    tmp_path: Path, backend: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On PostgreSQL a batch reads every item's near-duplicate candidates and short posts in one
    statement at its start. Items whose answer an earlier item of the batch changed (a repost of
    an article stored just before; a full article after the 转发 post that carries its headline)
    must be read again, so that the batch comes out as one transaction per item does."""
    import pipeline.dedupe as dedupe_module
    from models.db import make_engine, upgrade
    from tests.conftest import POSTGRES_URL, _create_pg_database, _drop_pg_database

    stories = FIXTURES / "stories"

    def story(name: str) -> tuple[str, str]:
        title, body = (stories / name).read_text(encoding="utf-8").split("\n", 1)
        return title, body

    c_title, _c_body = story("zh_z_other_enforcement.txt")
    items = []
    for n, (source, name) in enumerate([("fazhi-shibao", "zh_y_commentary.txt"), ("jinri-danzhou", "zh_a_original.txt"),
                                        ("fazhi-shibao", "zh_b_repost_headers.txt"), ("weibo", None),
                                        ("danzhou-court", "zh_z_other_enforcement.txt"),
                                        ("bao-hungyen", "vi_a_original.txt"), ("baomoi", "vi_d_repost_truncated.txt")]):
        if name is None:  # a Weibo 转发 of the court's article, crawled before the article itself
            items.append(_item("https://weibo.example.cn/p9", source=source, text=f"转发 {c_title} #儋州法院#",
                               published=(NOW - timedelta(minutes=20)).isoformat()))
        else:
            title, body = story(name)
            items.append(_item(f"https://{source}.example.cn/{n}.html", source=source, title=title, text=body,
                               published=NOW.isoformat()))
    live_reads: list[int] = []
    real_find = dedupe_module.near_candidates

    def counting_find(*args: Any, **kw: Any) -> Any:
        live_reads.append(1)
        return real_find(*args, **kw)

    monkeypatch.setattr(dedupe_module, "near_candidates", counting_find)

    def run(batch_size: int) -> tuple[str, list[tuple[Any, ...]], int]:
        name = None
        if backend == "sqlite":
            url = f"sqlite:///{tmp_path / f'near{batch_size}.db'}"
        else:
            url, name = _create_pg_database(POSTGRES_URL)
        upgrade(url)
        engine = make_engine(url)
        settings = load_settings(environ={}, overrides={
            "pipeline.snapshot_dir": str(tmp_path / f"snap-near{batch_size}")}).settings
        live_reads.clear()
        try:
            stats = ingest_items(items, engine=engine, settings=settings, bus=EventBus(), now=NOW,
                                 batch_size=batch_size)
            with Session(engine) as s:
                rows = [tuple(r) for r in s.execute(select(Article.url, Article.story_id, Article.flags)
                                                    .order_by(Article.id))]
            return stats.summary(), rows, len(live_reads)
        finally:
            engine.dispose()
            if name:
                _drop_pg_database(POSTGRES_URL, name)

    (batched, batched_rows, batched_live), (single, single_rows, _) = run(50), run(1)
    assert (batched, batched_rows) == (single, single_rows)
    story_of = {url: story_id for url, story_id, _flags in batched_rows}
    assert story_of["https://fazhi-shibao.example.cn/2.html"] == story_of["https://jinri-danzhou.example.cn/1.html"]
    assert story_of["https://weibo.example.cn/p9"] == story_of["https://danzhou-court.example.cn/4.html"]
    assert story_of["https://baomoi.example.cn/6.html"] == story_of["https://bao-hungyen.example.cn/5.html"]
    assert len(set(story_of.values())) == 4
    if backend == "postgresql":  # the repost, and the article after the post, were read again; not all
        assert 2 <= batched_live < 6, batched_live


def test_a_bug_in_extraction_costs_only_its_item(engine: Engine, tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """Extraction runs ahead on a helper thread; an exception there (not a drop: a bug) is counted
    as that item's error with its message, and the items around it are stored."""
    import pipeline.ingest as ingest

    tag = uuid.uuid4().hex
    items = [_item(f"https://b.example.cn/{tag}/{n}.html", title=f"儋州法院执行快讯第{n}期",
                   text=f"儋州法院执行局第{n}期执行快讯：本周执结案件{n + 30}件，执行到位金额{n + 100}万元。{tag}")
             for n in range(5)]
    real_prepare = ingest.prepare

    def flaky_prepare(item: RawItem, *args: Any, **kw: Any) -> Any:
        if item.url.endswith("/2.html"):
            raise RuntimeError("extractor bug")
        return real_prepare(item, *args, **kw)

    real_digest = ingest.input_digest

    def flaky_digest(item: RawItem, *args: Any) -> str:
        if item.url.endswith("/3.html"):  # raised first in the pre-extraction check (layer 0)
            raise ValueError("digest bug")
        return real_digest(item, *args)

    monkeypatch.setattr(ingest, "prepare", flaky_prepare)
    monkeypatch.setattr(ingest, "input_digest", flaky_digest)
    try:
        stats = ingest_items(items, engine=engine, settings=_settings(tmp_path), bus=EventBus(), batch_size=2)
        assert (stats.stored, stats.errors) == (3, 2), stats.summary()
        assert sorted(stats.problems) == [(items[2].url, "error: RuntimeError: extractor bug"),
                                          (items[3].url, "error: ValueError: digest bug")]
    finally:
        _cleanup(engine, tag)


@pytest.mark.parametrize("ahead", [0, 2])
def test_items_read_before_a_reader_error_are_stored(engine: Engine, tmp_path: Path, ahead: int) -> None:
    """A reader that gives up half way (``presswatch ingest --strict`` on a bad line) raises out of
    ``ingest_items``, but every item it produced before is stored and announced first, including
    the part-filled batch and the batches still being extracted ahead."""
    tag = uuid.uuid4().hex
    items = [_item(f"https://b.example.cn/{tag}/{n}.html", title=f"儋州法院执行快讯第{n}期",
                   text=f"儋州法院执行局第{n}期执行快讯：本周执结案件{n + 30}件，执行到位金额{n + 100}万元。{tag}")
             for n in range(7)]

    def reader() -> Any:
        yield from items
        raise ValueError("line 8: not JSON")

    bus = EventBus()
    seen: list[ArticleStored] = []
    bus.subscribe(ArticleStored, seen.append)
    try:
        with pytest.raises(ValueError, match="line 8"):
            ingest_items(reader(), engine=engine, settings=_settings(tmp_path), bus=bus, batch_size=3,
                         prepare_ahead=ahead)
        with Session(engine) as s:
            stored = s.scalar(select(func.count()).select_from(Article).where(Article.url.contains(tag)))
        assert stored == 7
        assert len(seen) == 7
    finally:
        _cleanup(engine, tag)


def test_mobile_and_desktop_pages_of_a_source_with_a_host_map_are_one_article(
    session: Session, tmp_path: Path
) -> None:
    from crawlers.registry import SourceDecl

    decl = SourceDecl(key="dz-mobile", name="儋州法院网", kind="html", start_urls=["https://www.dzcourt.gov.cn/"],
                      selectors={"links": "a::attr(href)"}, host_map={"M.DZCOURT.gov.cn": "www.dzcourt.gov.cn"})
    factories.source(session, key="dz-mobile", kind="html", config=decl.config())
    settings = _settings(tmp_path)
    text = "儋州法院召开执行工作推进会，通报今年以来执行工作情况，部署下一阶段重点任务。会议要求各执行团队加大执行力度。"
    desktop = process_item(session, _item("https://www.dzcourt.gov.cn/fyxw/88.html", source="dz-mobile",
                                          title="执行工作推进会", text=text, published="2024-05-14 09:00"),
                           settings, now=NOW)
    mobile = process_item(session, _item("https://m.dzcourt.gov.cn/fyxw/88.html", source="dz-mobile",
                                         title="执行工作推进会", text=text, published="2024-05-14 09:00"),
                          settings, now=NOW)
    assert (desktop.outcome, mobile.outcome) == ("stored", "duplicate") and mobile.reason.startswith("same_url")
    # The crawler's pre-fetch check hashes the mobile link the same way, so it is not fetched again.
    from crawlers.urls import url_hashes

    stored = session.scalar(select(Article.url_hash).where(Article.id == desktop.article_id))
    assert stored in url_hashes("https://m.dzcourt.gov.cn/fyxw/88.html", decl.host_map)
    assert stored not in url_hashes("https://m.dzcourt.gov.cn/fyxw/88.html")


def test_a_batch_stores_exactly_what_items_one_by_one_would(tmp_path: Path,
                                                            caplog: pytest.LogCaptureFixture) -> None:
    """``ingest_items`` answers a batch's URL and content lookups from two queries at its start;
    items that depend on earlier items of the same batch (same URL, same text, an edit, a merge of
    short posts) must come out as they do one transaction per item."""
    from models.db import make_engine, upgrade

    stories = FIXTURES / "stories"
    title, body = (stories / "zh_a_original.txt").read_text(encoding="utf-8").split("\n", 1)
    other_title, other_body = (stories / "zh_z_other_enforcement.txt").read_text(encoding="utf-8").split("\n", 1)
    post = "转发 今日儋州：那大镇居民称法院强制腾房现场发生冲突 一老人倒地受伤。#儋州强制腾房#"
    early = (NOW - timedelta(minutes=30)).isoformat()
    first_call = [_item("https://dc.example.cn/z.html", title=other_title, text=other_body),
                  _item("https://weibo.example.cn/p1", source="weibo", text=post, published=early)]
    second_call = [
        _item("https://dc.example.cn/z.html", title=other_title, text=other_body),  # stored by the first call
        _item("https://b.example.cn/z.html", source="fazhi-shibao", title=other_title, text=other_body),
        _item("https://jr.example.cn/1.html", source="jinri-danzhou", title=title, text=body),  # absorbs p1
        _item("https://weibo2.example.cn/p2", source="weibo2", text=post, published=early),  # after the merge
        _item("https://jr.example.cn/1.html", source="jinri-danzhou", title=title, text=body),  # same URL again
        _item("https://jr.example.cn/1.html", source="jinri-danzhou", title=title, text=body + "\n（编辑更正）"),
        _item("https://jr.example.cn/1-print.html", source="jinri-danzhou", title=title, text=body),  # old text
        _item("https://fz.example.cn/9.html", source="fazhi-shibao", title=title,
              text=body + "\n（编辑更正）"),  # the edited text, from another outlet
    ]

    def run(batch_size: int, ahead: int) -> tuple[str, list[tuple[Any, ...]], list[tuple[Any, ...]]]:
        url = f"sqlite:///{tmp_path / f'b{batch_size}-{ahead}.db'}"
        upgrade(url)
        engine = make_engine(url)
        settings = load_settings(environ={}, overrides={
            "pipeline.snapshot_dir": str(tmp_path / f"snap{batch_size}-{ahead}")}).settings
        try:
            ingest_items(first_call, engine=engine, settings=settings, bus=EventBus(), now=NOW)
            stats = ingest_items(second_call, engine=engine, settings=settings, bus=EventBus(), now=NOW,
                                 batch_size=batch_size, prepare_ahead=ahead)
            with Session(engine) as s:
                articles = [tuple(r) for r in s.execute(select(
                    Article.id, Article.url, Article.story_id, Article.flags, Article.content_hash).order_by(Article.id))]
                story_rows = [tuple(r) for r in s.execute(select(
                    Story.id, Story.article_count, Story.first_article_id, Story.outlet_count).order_by(Story.id))]
            return f"{stats.summary()} {sorted(stats.reasons.items())}", articles, story_rows
        finally:
            engine.dispose()

    # One batch; one item per transaction with everything on this thread; batches of three
    # extracted two ahead on the helper thread while earlier ones are stored.
    batched, one_by_one, overlapped = run(50, 2), run(1, 0), run(3, 2)
    assert batched == one_by_one == overlapped
    assert "redoing them one by one" not in caplog.text  # the batch went through as one transaction
    summary, articles, _story_rows = batched
    assert summary.startswith("8 items: 5 stored, 1 updated, 2 duplicate"), summary
    story_of = {url: story for _id, url, story, _flags, _hash in articles}
    assert story_of["https://weibo.example.cn/p1"] == story_of["https://jr.example.cn/1.html"]
    assert story_of["https://weibo2.example.cn/p2"] == story_of["https://jr.example.cn/1.html"]
    assert story_of["https://b.example.cn/z.html"] == story_of["https://dc.example.cn/z.html"]
    assert story_of["https://fz.example.cn/9.html"] == story_of["https://jr.example.cn/1.html"]


def test_reimporting_the_same_input_skips_extraction_and_new_input_is_extracted(
        engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Layer 0: a re-import of the same pages is answered from the stored input digest without
    extracting them again; a changed page, changed crawler fields or changed source selectors are
    extracted as before (an update, or the same duplicate for the same reason as before)."""
    import pipeline.ingest as ingest_module

    extracted: list[str] = []
    real_extract = ingest_module.extract_html

    def counting_extract(html: str, **kw: Any) -> Any:
        extracted.append(kw.get("url") or "")
        return real_extract(html, **kw)

    monkeypatch.setattr(ingest_module, "extract_html", counting_extract)
    settings = _settings(tmp_path)
    tag = uuid.uuid4().hex
    page = _page("zh_court_news.html")
    urls = [f"https://www.dzcourt.example.cn/{tag}/{n}.html" for n in range(3)]
    feed_text = "儋州法院召开执行工作推进会，通报今年以来执行工作情况，部署下一阶段重点任务。"

    def items(selectors: dict[str, Any] | None = None, text: str = feed_text) -> list[RawItem]:
        extra = {"selectors": selectors} if selectors else {}
        return [_item(urls[0], body=page, extra=extra),
                _item(urls[1], body=page.replace("儋州".encode(), "海口".encode()), extra=extra),
                _item(urls[2], html="<html><body><p>页面</p></body></html>", title="执行工作推进会", text=text)]

    try:
        first = ingest_items(items(), engine=engine, settings=settings, bus=EventBus())
        assert (first.stored, first.duplicate) == (3, 0) and len(extracted) == 3
        with Session(engine) as s:
            digests = dict(s.execute(select(Article.url, Article.extra["input_digest"].as_string())
                                     .where(Article.url.in_(urls))).all())
        assert len(set(digests.values())) == 3 and all(len(d or "") == 64 for d in digests.values())

        extracted.clear()
        again = ingest_items(items(), engine=engine, settings=settings, bus=EventBus())
        assert (again.seen, again.duplicate, again.stored, again.updated) == (3, 3, 0, 0)
        assert extracted == []  # nothing was extracted again
        assert again.reasons == {"same_url": 3}

        # The source's selectors changed: its pages are extracted again (the same text: duplicates),
        # once: the new input's digest is kept.
        extracted.clear()
        selectors = {"text": "div.article-content"}
        reselected = ingest_items(items(selectors), engine=engine, settings=settings, bus=EventBus())
        assert len(extracted) == 2 and (reselected.duplicate, reselected.errors) == (3, 0)
        extracted.clear()
        assert ingest_items(items(selectors), engine=engine, settings=settings, bus=EventBus()).duplicate == 3
        assert extracted == []

        # The crawler's text changed on the same page: extracted, and the article is updated.
        edited = ingest_items(items(selectors, text=feed_text + "会议表彰了先进集体。"),
                              engine=engine, settings=settings, bus=EventBus())
        assert (edited.updated, edited.duplicate) == (1, 2) and len(extracted) == 1
        with Session(engine) as s:
            art = s.scalars(select(Article).where(Article.url == urls[2])).one()
            assert "会议表彰了先进集体" in art.text and art.extra["input_digest"] != digests[urls[2]]
    finally:
        _cleanup(engine, tag)
