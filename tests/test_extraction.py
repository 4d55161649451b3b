"""Article extraction on real-structure pages (issue 19): the gold set, comment threads, dates in
the page's own context, bylines, titles, site rules; and the pipeline keeping what it should."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.orm import Session

from models import Article
from pipeline import density
from pipeline.dates import page_date, zone
from pipeline.extract import Extracted, extract_html, find_bylines, is_person_name, url_date
from pipeline.ingest import SUSPECT_EXTRACTION, SourceLookup, process_item
from pipeline.siterules import BadRule, _validate, load_rules, rule_for
from presswatch.items import RawItem
from settings import load_settings
from tests import factories

FIXTURES = Path(__file__).parent / "fixtures" / "extraction"
CRAWLED = datetime(2026, 12, 4, 2, 0, tzinfo=UTC)


def _gold() -> list[dict[str, Any]]:
    pages: list[dict[str, Any]] = json.loads((FIXTURES / "gold.json").read_text(encoding="utf-8"))["pages"]
    for name in ("heldout.json", "heldout2.json"):
        pages += json.loads((FIXTURES / "heldout" / name).read_text(encoding="utf-8"))["pages"]
    return pages


def _html(page: dict[str, Any]) -> str:
    return (FIXTURES / page["file"]).read_text(encoding="utf-8")


def _flat(text: str) -> str:
    return " ".join(text.split())


@pytest.mark.parametrize("rules", [True, False], ids=["site-rules", "generic"])
@pytest.mark.parametrize("page", _gold(), ids=lambda p: p["file"])
def test_gold_page(page: dict[str, Any], rules: bool) -> None:
    got = extract_html(_html(page), url=page["url"], site_rules=rules)
    assert got.title == page["title"]
    published, _ = page_date(got.published_raw, anchor=got.date_anchor, fetched_at=CRAWLED, tz=page["tz"],
                             lang=page["lang"])
    assert published is not None and published.astimezone(zone(page["tz"])).date().isoformat() == page["date"]
    # exactly the page's names: no menu word, editor or unit taken for one
    assert {*got.correspondents, *got.reporters, *got.authors} == set(page["byline"]), got.byline
    body = _flat(got.text)
    assert body.startswith(_flat(page["body_start"])), body[:60]
    assert body.endswith(_flat(page["body_end"])) or _flat(page["body_end"]) in body[-80:], body[-60:]
    for snippet in page["with"]:
        assert _flat(snippet) in body
    for snippet in page["without"]:
        assert _flat(snippet) not in body


def test_comment_thread_longer_than_the_article_is_not_the_body() -> None:
    """163.com-style: the hot comments outweigh the article; the generic path must still find it."""
    page = next(p for p in _gold() if p["file"] == "163_comments.html")
    got = extract_html(_html(page), url="https://example.com/a.html")  # no site rule for this host
    assert got.text.startswith("本报讯") and "网友" not in got.text and "顶[" not in got.text


def test_comment_thread_without_telling_class_names_is_found_by_its_content() -> None:
    posts = "".join(
        f"<div class='x{i}'><b>用户{i}</b> 2024-03-22 1{i}:05 <p>这条留言写得比较长，说的是对执行工作的看法，"
        f"希望法院能够加大力度，让胜诉的当事人早日拿到钱，第{i}条。</p><a>回复</a> <a>举报</a></div>" for i in range(5))
    html = (f"<html><body><div class='a'><h1>标题很长的一篇文章</h1><div class='b'><p>{'正文第一段，说明案件经过。' * 6}</p>"
            f"<p>{'正文第二段，说明执行结果。' * 6}</p></div></div><div class='zz'>{posts}</div></body></html>")
    from lxml import html as lxml_html

    tree = lxml_html.fromstring(html)
    found = density.find_main_text(tree)
    assert found is not None and found.removed_comments >= 1
    assert "留言" not in found.text and found.text.strip().startswith("正文第一段")


@pytest.mark.parametrize("name", ["wechat.html", "roundup.html", "gov_decision.html"])
def test_real_articles_are_not_dropped_as_navigation(name: str, session: Session, tmp_path: Path) -> None:
    page = next(p for p in _gold() if p["file"] == name)
    settings = load_settings(environ={}, overrides={"pipeline.snapshot_dir": str(tmp_path / "s")}).settings
    item = RawItem(url=page["url"], source_key="gold", fetched_at=CRAWLED, html=_html(page))
    result = process_item(session, item, settings, lookup=SourceLookup(), now=CRAWLED)
    assert result.outcome == "stored", result.reason
    art = session.get(Article, result.article_id)
    assert art is not None and art.title == page["title"]


def test_navigation_page_is_still_dropped(session: Session, tmp_path: Path) -> None:
    settings = load_settings(environ={}, overrides={"pipeline.snapshot_dir": str(tmp_path / "s")}).settings
    html = (Path(__file__).parent / "fixtures" / "pipeline" / "nav_only.html").read_text(encoding="utf-8")
    result = process_item(session, RawItem(url="https://e.example.cn/list.html", source_key="x", fetched_at=CRAWLED,
                                           html=html), settings, lookup=SourceLookup(), now=CRAWLED)
    assert result.outcome == "dropped" and result.reason


# -- dates ---------------------------------------------------------------------------------------

def test_a_body_paragraph_date_is_never_the_publication_date() -> None:
    """A page with no date of its own: "9月3日" in the body must not become this year's 3 September."""
    html = ("<html><head><title>某法院执行一起案件_某某网</title></head><body><h1>某法院执行一起案件</h1>"
            "<div class='c'><p>2019年的这起案件中，9月3日，执行干警前往被执行人家中，依法扣押了车辆。执行干警表示，将继续推进。</p>"
            "<p>时间：9月5日，被执行人主动履行了全部义务，案件执行完毕，申请执行人送来锦旗。</p></div></body></html>")
    got = extract_html(html, url="https://e.example.cn/a.html")
    assert got.published_raw is None


def test_relative_time_counts_from_the_pages_own_day() -> None:
    page = next(p for p in _gold() if p["file"] == "relative_portal.html")
    got = extract_html(_html(page), url=page["url"])
    assert got.date_anchor == date(2019, 5, 10)
    published, flags = page_date(got.published_raw, anchor=got.date_anchor, fetched_at=CRAWLED, tz="Asia/Shanghai")
    assert published == datetime(2019, 5, 9, 8, 45, tzinfo=UTC) and flags == []


def test_relative_time_without_a_page_date_is_flagged() -> None:
    published, flags = page_date("3小时前", anchor=None, fetched_at=CRAWLED, tz="Asia/Shanghai")
    assert published == datetime(2026, 12, 3, 23, 0, tzinfo=UTC) and flags == ["published_relative"]
    _, flags = page_date("5月9日 10:05", anchor=None, fetched_at=CRAWLED, tz="Asia/Shanghai")
    assert flags == ["published_year_inferred"]
    dated, flags = page_date("5月9日 10:05", anchor=date(2019, 5, 10), fetched_at=CRAWLED, tz="Asia/Shanghai")
    assert dated == datetime(2019, 5, 9, 2, 5, tzinfo=UTC) and flags == []


def test_relative_time_is_stored_relative_to_the_page_date(session: Session, tmp_path: Path) -> None:
    page = next(p for p in _gold() if p["file"] == "relative_portal.html")
    settings = load_settings(environ={}, overrides={"pipeline.snapshot_dir": str(tmp_path / "s")}).settings
    item = RawItem(url=page["url"], source_key="gold", fetched_at=CRAWLED, html=_html(page))
    result = process_item(session, item, settings, lookup=SourceLookup(), now=CRAWLED)
    art = session.get(Article, result.article_id)
    assert art is not None and art.published_at.replace(tzinfo=UTC) == datetime(2019, 5, 9, 8, 45, tzinfo=UTC)


@pytest.mark.parametrize(("url", "day"), [
    ("http://legal.people.com.cn/n1/2024/0514/c42510-40235678.html", date(2024, 5, 14)),
    ("https://news.sina.com.cn/c/2024-04-16/doc-inarxyzw1234567.shtml", date(2024, 4, 16)),
    ("https://www.spp.gov.cn/spp/xwfbh/wsfbt/202311/t20231120_634567.shtml", date(2023, 11, 20)),
    ("http://www.xxx.gov.cn/art/2022/3/15/art_1229063382_1812345.html", date(2022, 3, 15)),
    ("https://vnexpress.net/cuong-che-4745123.html", None),
])
def test_url_dates(url: str, day: date | None) -> None:
    assert url_date(url) == day


def test_date_in_the_byline_line_is_found() -> None:
    html = ("<html><body><div class='top'><a href='/'>首页</a></div><div class='w'><h1>法院开展送法进校园活动</h1>"
            "<div><p>发布日期：2024/06/12　来源：某某法院</p><p>" + "为增强学生法治意识，法官走进校园开展普法讲座，并与同学们互动交流。" * 4 +
            "</p><p>" + "活动中，法官结合典型案例，讲解了未成年人保护法的相关规定。" * 4 + "</p></div></div></body></html>")
    got = extract_html(html, url="https://e.example.cn/x.html")
    assert page_date(got.published_raw, anchor=None, fetched_at=CRAWLED)[0] == datetime(2024, 6, 11, 16, tzinfo=UTC)
    assert not got.text.startswith("发布日期")


# -- bylines and titles --------------------------------------------------------------------------

@pytest.mark.parametrize(("line", "reporters", "authors"), [
    ("记者表示，案件正在办理中。", [], []),
    ("记者获悉，该院已立案。", [], []),
    ("作者：个人观点 仅供参考", [], []),
    ("作者：执行局 李明", [], ["李明"]),
    ("回答了记者提问。", [], []),
    ("记者 周杰 通讯员 王芳", ["周杰"], []),
])
def test_bylines_hold_names_only(line: str, reporters: list[str], authors: list[str]) -> None:
    got = Extracted()
    find_bylines(line, got)
    assert got.reporters == reporters and got.authors == authors


def test_person_names() -> None:
    assert is_person_name("王芳") and is_person_name("Nguyễn Thị Hoa")
    assert not is_person_name("表示") and not is_person_name("获悉") and not is_person_name("执行局")


@pytest.mark.parametrize(("head", "expected"), [
    # an unescaped ASCII quote cut the og:title attribute
    ('<meta property="og:title" content="法院开展"雷霆"执行行动"><title>法院开展"雷霆"执行行动_某某法院网</title>',
     '法院开展"雷霆"执行行动'),
    # og:title is the site's name
    ('<meta property="og:title" content="中国法院网"><title>巡回审判进村居 普法宣传入人心 - 中国法院网</title>',
     "巡回审判进村居 普法宣传入人心"),
    # the site suffix and channel go
    ("<title>最高法发布执行工作典型案例 涉及拒执罪|执行|最高法_新浪新闻</title>", "最高法发布执行工作典型案例 涉及拒执罪"),
    # a "|" inside the headline itself stays
    ("<title>法治早报｜5月14日：最高法发布执行典型案例；多地开展集中执行行动 - 法治网</title>",
     "法治早报｜5月14日：最高法发布执行典型案例；多地开展集中执行行动"),
])
def test_titles(head: str, expected: str) -> None:
    html = f"<html><head>{head}</head><body><div class='logo'><h1><a href='/'>某某网</a></h1></div>" \
           f"<p>{'正文内容，说明案件的经过和结果。' * 5}</p></body></html>"
    assert extract_html(html, url="https://e.example.cn/t.html").title == expected


# -- site rules ----------------------------------------------------------------------------------

def test_site_rules_load_and_match_by_longest_host_suffix() -> None:
    assert "163.com" in load_rules()
    assert rule_for("https://mp.weixin.qq.com/s/abc") is load_rules()["mp.weixin.qq.com"]
    assert rule_for("https://new.qq.com/rain/a/1") is load_rules()["qq.com"]
    assert rule_for("https://notqq.com/a") == {}


def test_a_bad_site_rule_fails_when_loaded() -> None:
    with pytest.raises(BadRule):
        _validate("x.cn", {"text": "div[["})
    with pytest.raises(BadRule):
        _validate("x.cn", {"txt": "div.a"})


def test_a_site_rule_that_matches_nothing_falls_back_to_the_generic_path() -> None:
    page = next(p for p in _gold() if p["file"] == "sina.html")
    html = _html(page).replace('id="artibody"', 'id="renamed"')
    got = extract_html(html, url=page["url"])
    assert "site rule" not in got.notes and got.text.startswith("原标题")


# -- duplicates ----------------------------------------------------------------------------------

def test_two_articles_of_one_outlet_with_the_same_text_are_both_kept(session: Session, tmp_path: Path) -> None:
    settings = load_settings(environ={}, overrides={"pipeline.snapshot_dir": str(tmp_path / "s")}).settings
    factories.outlet(session, key="dup-outlet", name="某某网")
    same = "<div class='c'>" + "<p>本网站所有内容均为原创，转载请注明出处，违者必究。联系电话：12345678。</p>" * 4 + "</div>"
    results = []
    for n, title in enumerate(("法院开展集中执行行动", "法院召开新闻发布会")):
        html = f"<html><head><title>{title}</title></head><body><h1>{title}</h1>{same}</body></html>"
        item = RawItem(url=f"https://dup.example.cn/{n}.html", source_key="dup", outlet_key="dup-outlet",
                       fetched_at=CRAWLED, html=html)
        results.append(process_item(session, item, settings, lookup=SourceLookup(), now=CRAWLED))
    assert [r.outcome for r in results] == ["stored", "stored"]
    second = session.get(Article, results[1].article_id)
    assert second is not None and SUSPECT_EXTRACTION in second.flags
    assert second.extra["same_text_as"]["article_id"] == results[0].article_id
    assert results[0].story_id != results[1].story_id
    # the same article under a second URL (a print view) is still a duplicate
    html = f"<html><head><title>法院召开新闻发布会</title></head><body><h1>法院召开新闻发布会</h1>{same}</body></html>"
    again = process_item(session, RawItem(url="https://dup.example.cn/1.html?print=1&x=2", source_key="dup",
                                          outlet_key="dup-outlet", fetched_at=CRAWLED, html=html),
                         settings, lookup=SourceLookup(), now=CRAWLED)
    assert again.outcome == "duplicate"


def test_an_article_wrapper_named_for_comments_is_not_dropped() -> None:
    para = "法院依法对被执行人采取强制措施，案件得到顺利执结。"
    html = (f"<html><body><div class='article has-comments'><h1>法院执行一案</h1><p>{para * 3}</p>"
            f"<p>{para * 2}</p></div><div class='comment-box'><p>写得好，支持法院依法执行。</p></div></body></html>")
    got = extract_html(html, url="https://e.example.cn/a.html")
    assert got.text.startswith(para) and "支持法院" not in got.text


def test_a_byline_does_not_run_on_into_the_next_line() -> None:
    got = Extracted()
    find_bylines("记者 赵红梅\n腾讯首页 新闻 娱乐 科技", got)
    assert got.reporters == ["赵红梅"]
