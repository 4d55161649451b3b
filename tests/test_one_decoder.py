"""One byte decoder for the crawler and the pipeline: the same bytes give the same text in both.

The pipeline kept a second decoder that read Big5 as Big5-HKSCS and did not NFC-normalize, so a
Vietnamese page with decomposed diacritics (Windows-1258 pages often have them) stored text that
matched nothing the crawler or the watch queries produced.
"""

from __future__ import annotations

import unicodedata

import pytest

from crawlers.encoding import decode_body as crawler_decode
from pipeline.decode import NotText
from pipeline.decode import decode_body as pipeline_decode

VI = "Cưỡng chế thi hành án tại huyện Gia Lộc"
ZH_TRAD = "臺灣高等法院強制執行公告：債務人財產拍賣"


@pytest.mark.parametrize(("body", "content_type"), [
    (ZH_TRAD.encode("cp950"), "text/html; charset=big5"),
    (f"<html><head><meta charset='big5'></head><body>{ZH_TRAD}</body></html>".encode("cp950"), "text/html"),
    (unicodedata.normalize("NFD", VI).encode("utf-8"), "text/html; charset=utf-8"),
    ("琼州法院集中执行兑现案款".encode("gbk"), "text/html; charset=gb2312"),
])
def test_crawler_and_pipeline_decode_the_same_bytes_to_the_same_text(body: bytes, content_type: str) -> None:
    crawled = crawler_decode(body, content_type)
    text, codec = pipeline_decode(body, content_type=content_type)
    assert (text, codec) == (crawled.text, crawled.encoding)
    assert text == unicodedata.normalize("NFC", text)


def test_big5_is_cp950_and_text_is_nfc_in_the_pipeline() -> None:
    assert pipeline_decode(ZH_TRAD.encode("cp950"), content_type="text/html; charset=big5") == (ZH_TRAD, "cp950")
    text, _ = pipeline_decode(unicodedata.normalize("NFD", VI).encode("utf-8"), content_type="text/html")
    assert text == VI


def test_binary_is_still_refused() -> None:
    with pytest.raises(NotText):
        pipeline_decode(b"%PDF-1.7\n" + bytes(range(256)) * 10, content_type="application/pdf")
    with pytest.raises(NotText):
        pipeline_decode(bytes(range(256)) * 10)
