"""Extraction details, dates, normalization, canonical URLs and language identification."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from pipeline.dates import parse_date
from pipeline.decode import NotText, decode_body
from pipeline.extract import BadSelector, extract_html, validate_selectors
from pipeline.normalize import clean_text, detect_language, fold_width, match_form, to_simplified
from pipeline.urls import BadUrl, canonical_url

FIXTURES = Path(__file__).parent / "fixtures" / "pipeline"
NOW = datetime(2024, 5, 20, 4, 0, tzinfo=UTC)  # 12:00 in Shanghai, 11:00 in Hanoi


@pytest.mark.parametrize(
    ("raw", "lang", "tz", "expected"),
    [
        ("2024-05-14 08:30", None, "Asia/Shanghai", datetime(2024, 5, 14, 0, 30, tzinfo=UTC)),
        ("发布时间：2024年05月14日 08:30:12　来源：儋州法院", None, "Asia/Shanghai",
         datetime(2024, 5, 14, 0, 30, 12, tzinfo=UTC)),
        ("2018年7月3日", None, "Asia/Shanghai", datetime(2018, 7, 2, 16, 0, tzinfo=UTC)),
        ("２０２４年５月１４日", None, "Asia/Shanghai", datetime(2024, 5, 13, 16, 0, tzinfo=UTC)),
        # No year: the latest such date not in the future (this year's 5月19日, last year's 7月3日).
        ("5月19日 10:05", None, "Asia/Shanghai", datetime(2024, 5, 19, 2, 5, tzinfo=UTC)),
        ("7月3日 10:05", None, "Asia/Shanghai", datetime(2023, 7, 3, 2, 5, tzinfo=UTC)),
        ("05-14 08:30", None, "Asia/Shanghai", datetime(2024, 5, 14, 0, 30, tzinfo=UTC)),
        ("3小时前", None, "Asia/Shanghai", datetime(2024, 5, 20, 1, 0, tzinfo=UTC)),
        ("半小时前", None, "Asia/Shanghai", datetime(2024, 5, 20, 3, 30, tzinfo=UTC)),
        ("昨天 10:05", None, "Asia/Shanghai", datetime(2024, 5, 19, 2, 5, tzinfo=UTC)),
        ("刚刚", None, "Asia/Shanghai", NOW),
        ("ngày 14 tháng 5 năm 2024", "vi", "Asia/Ho_Chi_Minh", datetime(2024, 5, 13, 17, 0, tzinfo=UTC)),
        ("14/5/2024", "vi", "Asia/Ho_Chi_Minh", datetime(2024, 5, 13, 17, 0, tzinfo=UTC)),
        ("04/05/2024", "vi", "Asia/Ho_Chi_Minh", datetime(2024, 5, 3, 17, 0, tzinfo=UTC)),  # day first
        ("Thứ ba, 14/05/2024 - 08:30", "vi", "Asia/Ho_Chi_Minh", datetime(2024, 5, 14, 1, 30, tzinfo=UTC)),
        ("08:30 14/5/2024", "vi", "Asia/Ho_Chi_Minh", datetime(2024, 5, 14, 1, 30, tzinfo=UTC)),
        ("3 giờ trước", "vi", "Asia/Ho_Chi_Minh", datetime(2024, 5, 20, 1, 0, tzinfo=UTC)),
        ("hôm qua 10:20", "vi", "Asia/Ho_Chi_Minh", datetime(2024, 5, 19, 3, 20, tzinfo=UTC)),
        ("2024-05-14T08:30:00+07:00", None, "Asia/Shanghai", datetime(2024, 5, 14, 1, 30, tzinfo=UTC)),
        ("Tue, 14 May 2024 08:30:00 +0800", None, "Asia/Shanghai", datetime(2024, 5, 14, 0, 30, tzinfo=UTC)),
        ("来源：今日儋州 2024-05-14", None, "Asia/Shanghai", datetime(2024, 5, 13, 16, 0, tzinfo=UTC)),
    ],
)
def test_dates(raw: str, lang: str | None, tz: str, expected: datetime) -> None:
    assert parse_date(raw, tz=tz, now=NOW, lang=lang) == expected


@pytest.mark.parametrize("raw", ["", "无日期", "2024-13-45", "点击量 1024", "31/02/2024"])
def test_unreadable_dates_are_none(raw: str) -> None:
    assert parse_date(raw, tz="Asia/Shanghai", now=NOW, lang="vi") is None


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://WWW.Example.CN:443/a/1.html?utm_source=wx&utm_medium=x&id=5#comments",
         "https://www.example.cn/a/1.html?id=5"),
        ("http://news.example.cn:80/a//b.shtml?spm=a1.b2&from=timeline&b=2&a=1", "http://news.example.cn/a/b.shtml?a=1&b=2"),
        ("https://mp.weixin.qq.com/s?__biz=MzA&mid=22&idx=1&sn=ab&chksm=xx&scene=21",
         "https://mp.weixin.qq.com/s?idx=1&mid=22&sn=ab"),
        ("http://127.0.0.1:8123/court/a.html", "http://127.0.0.1:8123/court/a.html"),
    ],
)
def test_canonical_url(url: str, expected: str) -> None:
    assert canonical_url(url) == expected


def test_mobile_and_desktop_variants_when_the_source_says_so() -> None:
    mapping = {"m.dzcourt.gov.cn": "www.dzcourt.gov.cn"}
    assert canonical_url("https://m.dzcourt.gov.cn/a/1.html", mapping) == canonical_url("https://www.dzcourt.gov.cn/a/1.html")
    assert canonical_url("https://m.dzcourt.gov.cn/a/1.html") != canonical_url("https://www.dzcourt.gov.cn/a/1.html")


@pytest.mark.parametrize("url", ["javascript:void(0)", "ftp://x.cn/a", "/relative/path", "https://x.cn:99999/"])
def test_bad_urls(url: str) -> None:
    with pytest.raises(BadUrl):
        canonical_url(url)


def test_normalization() -> None:
    assert fold_width("２０２４年ＡＢＣ，（执行）") == "2024年ABC,(执行)"
    assert to_simplified("儋州法院執行難題") == "儋州法院执行难题"
    assert to_simplified("儋州法院执行难题") == "儋州法院执行难题"
    assert match_form("執行局ＡＢＣ") == "执行局abc"
    cleaned = clean_text("正文第一段。\r\n\r\n\r\n\r\n第二段\u3000\u3000内容\n分享到：微信 微博\n"
                         "琼ICP备12003456号-1\n上一篇：某某")
    assert cleaned == "正文第一段。\n\n第二段 内容"
    assert clean_text("Ca\u0301c") == "Các"  # NFC: a combining accent becomes one code point


@pytest.mark.parametrize(
    ("text", "lang"),
    [
        ("儋州市人民法院执行局开展集中执行行动", "zh"),
        ("儋州市人民法院執行局開展集中執行行動", "zh"),
        ("Cục Thi hành án dân sự tỉnh Hưng Yên tổ chức cưỡng chế thi hành án", "vi"),
        ("The provincial court enforced a judgment against the company yesterday", "en"),
        ("😀😀👍", "und"),
        ("OK", "und"),
        ("", "und"),
    ],
)
def test_language_identification(text: str, lang: str) -> None:
    assert detect_language(text) == lang


def test_selector_overrides_and_fallback() -> None:
    html = (FIXTURES / "zh_court_news.html").read_text(encoding="utf-8")
    selectors = {"title": "h1.arti-title", "text": "#zoom", "date": "div.arti-info", "byline": "div.arti-info",
                 "remove": ["div.xgyd", "//div[@class='share']"]}
    got = extract_html(html, url="https://www.dzcourt.gov.cn/a.html", selectors=selectors)
    assert got.title.startswith("儋州法院开展“雷霆行动”")
    assert got.text.startswith("5月13日凌晨5时") and got.text.endswith("切实维护胜诉当事人合法权益。")
    assert parse_date(got.published_raw, tz="Asia/Shanghai", now=NOW) == datetime(2024, 5, 14, 0, 30, tzinfo=UTC)
    assert got.correspondents == ["张三"] and not got.notes
    stale = extract_html(html, selectors={"text": "div.no-such-block"})
    assert "text selector matched nothing" in stale.notes
    assert stale.text.startswith("5月13日凌晨5时")  # generic extraction took over


def test_bad_selectors_fail_validation() -> None:
    validate_selectors({"title": "h1.x", "remove": ["div.share", "//div[@id='c']"]})
    with pytest.raises(BadSelector):
        validate_selectors({"text": "div[[["})
    with pytest.raises(BadSelector):
        validate_selectors({"remove": ["//div[@id="]})


def test_decoding() -> None:
    text, enc = decode_body((FIXTURES / "zh_portal_gbk.html").read_bytes())
    assert enc == "gb18030" and "失信被执行人" in text
    mislabelled = "<html><body>儋州法院执行局</body></html>".encode("gbk")
    text2, _enc = decode_body(mislabelled, content_type="text/html")
    assert "儋州法院执行局" in text2
    with pytest.raises(NotText):
        decode_body(b"%PDF-1.7\n" + bytes(range(256)) * 10, content_type="application/pdf")
    with pytest.raises(NotText):
        decode_body(bytes(range(256)) * 10)


def test_lookup_hashes_cover_the_keys_a_pasted_link_may_be_stored_under() -> None:
    from pipeline.urls import canonical_url, lookup_hashes, url_hash

    stored = url_hash(canonical_url("http://www.court.example.cn/news/7"))
    pasted = "https://WWW.court.example.cn/news/7?utm_source=wechat#top"
    assert stored in lookup_hashes(pasted)  # scheme, host case, tracking parameter and fragment differ
    assert url_hash(canonical_url("https://www.court.example.cn/news/7")) in lookup_hashes(
        "https://www.court.example.cn/news/7/")  # trailing slash dropped
    desktop = url_hash(canonical_url("https://www.court.example.cn/a/1.html"))
    assert desktop not in lookup_hashes("https://m.court.example.cn/a/1.html")
    assert desktop in lookup_hashes("https://m.court.example.cn/a/1.html", [{"m.court.example.cn": "www.court.example.cn"}])
    assert lookup_hashes("报纸第3版") == {url_hash("报纸第3版")}  # not a link: only its own text
