"""Bytes -> Unicode: declared charset, BOM, meta tag, detection, mislabels, Vietnamese NFC."""

from __future__ import annotations

import codecs
import unicodedata

import pytest

from crawlers.encoding import decode_body, to_utf8_xml
from crawlers.urls import canonical_url, url_hash
from tests.crawl_site import cp1258

ZH = "儋州市人民法院执行局公布第三批失信被执行人名单，依法惩戒拒不履行义务的被执行人。"
ZH_TRAD = "儋州市人民法院執行局公佈失信被執行人名單"
VI = "Cục Thi hành án dân sự tỉnh Hưng Yên tổ chức cưỡng chế, kê biên tài sản để thi hành án ở Văn Lâm"


@pytest.mark.parametrize(
    ("body", "content_type", "expected_how"),
    [
        (ZH.encode("gbk"), "text/html; charset=gb2312", "header"),
        (ZH.encode("gb18030"), "text/html; charset=GB18030", "header"),
        (f'<meta charset="gbk"><p>{ZH}</p>'.encode("gbk"), "text/html", "meta"),
        (f'<meta http-equiv="Content-Type" content="text/html; charset=GBK"><p>{ZH}'.encode("gbk"), None, "meta"),
        (codecs.BOM_UTF8 + ZH.encode("utf-8"), "text/html; charset=gbk", "bom"),
        (ZH.encode("utf-8"), "text/html; charset=gbk", "utf8-override"),  # UTF-8 page, old GBK header
        (ZH.encode("gbk"), "text/html; charset=utf-8", "detected"),  # GBK page, header says UTF-8
        (f"<p>{ZH}</p>".encode("gbk"), None, "detected"),  # nothing declared at all
    ],
)
def test_chinese_pages_decode_correctly(body: bytes, content_type: str | None, expected_how: str) -> None:
    decoded = decode_body(body, content_type)
    assert ZH in decoded.text
    assert decoded.how == expected_how


def test_big5_and_forced_encoding() -> None:
    assert decode_body(ZH_TRAD.encode("big5"), "text/html; charset=big5").text == ZH_TRAD
    # A site staff marked `encoding: gbk` in sources.yaml: the override beats a wrong header.
    decoded = decode_body(ZH.encode("gbk"), "text/html; charset=iso-8859-1", forced="gbk")
    assert decoded.text == ZH and decoded.how == "declared"


def test_vietnamese_windows_1258_comes_out_nfc() -> None:
    raw = cp1258(VI)
    assert unicodedata.normalize("NFC", raw.decode("cp1258")) == VI and raw.decode("cp1258") != VI
    decoded = decode_body(raw, "text/html; charset=windows-1258")
    assert decoded.text == VI and unicodedata.is_normalized("NFC", decoded.text)
    nfd_utf8 = unicodedata.normalize("NFD", VI).encode("utf-8")
    assert decode_body(nfd_utf8, "text/html; charset=utf-8").text == VI


def test_feed_declaring_wrong_encoding_is_rewritten_as_utf8() -> None:
    xml = f'<?xml version="1.0" encoding="iso-8859-1"?><rss><channel><title>{ZH}</title></channel></rss>'
    body, decoded = to_utf8_xml(xml.encode("utf-8"), "application/rss+xml")
    assert decoded.encoding == "utf-8"
    assert body.startswith(b'<?xml version="1.0" encoding="utf-8"?>') and ZH.encode() in body


def test_canonical_url_and_hash() -> None:
    a = canonical_url("HTTP://News.Example.CN:80/a/1.html?utm_source=wx&id=3&b=2#top")
    assert a == "http://news.example.cn/a/1.html?b=2&id=3"
    assert url_hash("http://news.example.cn/a/1.html?id=3&b=2&spm=x") == url_hash(a)
