"""The crawl tests' fixture web site: good pages and every kind of bad answer, on 127.0.0.1.

Page text lives in tests/fixtures/crawl/; this module serves it the way real sites do (GBK with
and without a charset header, gzip, redirects, 304s) and misbehaves on purpose where asked.
"""

from __future__ import annotations

import gzip
import unicodedata
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from crawlers.testserver import Reply, Request

FIXTURES = Path(__file__).parent / "fixtures" / "crawl"
RSS_ETAG = '"rss-v1"'
ZH_ARTICLES = {
    "1": ("琼州法院集中执行兑现案款二百万元", "琼州市人民法院执行局开展集中执行行动，兑现案款二百万元。"),
    "2": ("失信被执行人名单再添十二人", "琼州市人民法院依法将十二名有履行能力而拒不履行的被执行人纳入失信名单。"),
    "3": ("拒执罪判决敲响警钟", "被执行人转移财产拒不履行判决，被依法判处有期徒刑八个月。"),
    "4": ("执行不能案件公开听证", "法院邀请人大代表参加执行不能案件听证，申请执行人表示理解。"),
    "5": ("第三页的旧闻", "这一页超出了分页深度，不应被抓取。"),
}
VI_ARTICLES = {
    "cuong-che-1": ("Cưỡng chế thi hành án tại huyện Gia Lộc",
                    "Chi cục Thi hành án dân sự huyện Gia Lộc tổ chức cưỡng chế kê biên tài sản."),
    "khieu-nai-2": ("Người dân khiếu nại về việc kê biên tài sản",
                    "Nhiều hộ dân gửi đơn khiếu nại việc kê biên tài sản chưa đúng quy định."),
}
NEWS_PAGES = {
    "/news/101.html": ("全省法院执行工作推进会召开", "会议通报了全省法院执行工作情况。"),
    "/news/102.html": ("“执行直播”走进乡镇", "执行法官通过网络直播展示执行全过程。"),
    "/sm/art/newest.html": ("最新的稿件", "最新的稿件正文。"),
    "/sm/art/middle.html": ("中间的稿件", "中间的稿件正文。"),
    "/sm/art/old.html": ("较早的稿件", "较早的稿件正文。"),
    "/bad/1.html": ("完整的第一条", "第一条正文。"),
    "/bad/2.html": ("完整的第二条", "第二条正文。"),
    "/atom/1.html": ("should not be fetched", "fetch_articles is off for the Atom source"),
}


def _file(name: str, base: str) -> str:
    return (FIXTURES / name).read_text(encoding="utf-8").replace("{base}", base)


def _fill(template: str, **values: str) -> str:
    for key, value in values.items():
        template = template.replace("{" + key + "}", value)
    return template


def cp1258(text: str) -> bytes:
    """Encode Vietnamese as Windows-1258 sites do: precomposed base letters, combining tone marks."""
    out = bytearray()
    for ch in unicodedata.normalize("NFC", text):
        try:
            out += ch.encode("cp1258")
            continue
        except UnicodeEncodeError:
            pass
        base, *marks = unicodedata.normalize("NFD", ch)
        for mark in marks:  # the letter cp1258 has precomposed (ê, ơ, ư, â, ă), then the tone mark
            try:
                head = unicodedata.normalize("NFC", base + mark).encode("cp1258")
            except UnicodeEncodeError:
                continue
            base, marks = "", [m for m in marks if m != mark]
            out += head
            break
        out += base.encode("cp1258")
        for mark in marks:
            out += mark.encode("cp1258")
    return bytes(out)


def fixture_site(req: Request) -> Reply:
    parts = urlsplit(req.path)
    path, base = parts.path, req.base_url
    html_utf8 = {"Content-Type": "text/html; charset=utf-8"}
    if path == "/robots.txt":
        return Reply(200, _file("robots.txt", base).encode(), {"Content-Type": "text/plain"})
    # A Chinese site in GBK: the first list page declares its charset only in a meta tag.
    if path in ("/zh/list_1.html", "/zh/list_2.html", "/zh/list_3.html"):
        ctype = "text/html" if path.endswith("1.html") else "text/html; charset=GBK"
        return Reply(200, _file("zh_" + path.removeprefix("/zh/"), base).encode("gbk"),
                     {"Content-Type": ctype})
    if path == "/zh/a/moved.html":
        return Reply(302, b"", {"Location": "/zh/a/4.html"})
    if path.startswith("/zh/a/"):
        key = path.removeprefix("/zh/a/").removesuffix(".html")
        if key not in ZH_ARTICLES:
            return Reply(404, "页面不存在".encode("gbk"), {"Content-Type": "text/html; charset=GBK"})
        title, body = ZH_ARTICLES[key]
        page = _fill(_file("zh_article.html", base), title=title, body=body, date="2026-11-2" + key + " 09:30")
        return Reply(200, page.encode("gbk"), {"Content-Type": "text/html"})
    if path.startswith("/zh/private/"):
        return Reply(200, "不应被抓取".encode("gbk"), {"Content-Type": "text/html; charset=GBK"})
    # A Vietnamese site in UTF-8 whose CMS stores decomposed (NFD) diacritics.
    if path == "/vi/list.html":
        return Reply(200, _file("vi_list.html", base).encode("utf-8"), html_utf8)
    if path.startswith("/vi/tin/"):
        key = path.removeprefix("/vi/tin/").removesuffix(".html")
        title, body = VI_ARTICLES[key]
        page = _fill(_file("vi_article.html", base), title=title, body=body, date="21/11/2026 08:15")
        return Reply(200, unicodedata.normalize("NFD", page).encode("utf-8"), html_utf8)
    if path == "/js/":
        return Reply(200, _file("js_only.html", base).encode(), html_utf8)
    if path in ("/news/rss.xml", "/blocked/feed.xml"):
        headers = {"Content-Type": "application/rss+xml", "ETag": RSS_ETAG,
                   "Last-Modified": "Sat, 21 Nov 2026 00:30:00 GMT"}
        if req.headers.get("if-none-match") == RSS_ETAG:
            return Reply(304, b"", headers)
        return Reply(200, _file("rss.xml", base).encode(), headers)
    if path in NEWS_PAGES:
        title, body = NEWS_PAGES[path]
        return Reply(200, _fill(_file("news_page.html", base), title=title, body=body).encode(), html_utf8)
    if path == "/atom.xml":
        return Reply(200, _file("atom.xml", base).encode(), {"Content-Type": "application/atom+xml; charset=utf-8"})
    if path == "/sm/index.xml":
        return Reply(200, _file("sitemap_index.xml", base).encode(), {"Content-Type": "application/xml"})
    if path == "/sm/news.xml.gz":  # a gzipped sitemap file, not a gzip transfer encoding
        return Reply(200, gzip.compress(_file("news_sitemap.xml", base).encode()),
                     {"Content-Type": "application/x-gzip"})
    if path == "/api/posts":
        page = (parse_qs(parts.query).get("page") or ["1"])[0]
        return Reply(200, _file(f"posts_p{page}.json", base).encode(), {"Content-Type": "application/json"})
    if path == "/err/500.xml":
        return Reply(500, b"Internal Server Error", {"Content-Type": "text/plain"})
    if path == "/slow/feed.xml":
        return Reply(200, _file("rss.xml", base).encode(), {"Content-Type": "application/rss+xml"},
                     delay_seconds=3.5)
    if path == "/huge/feed.xml":  # announces 50 MB up front
        return Reply(200, b"<rss>", {"Content-Type": "application/rss+xml"}, content_length=50 * 1024 * 1024)
    if path == "/bomb/gzip.xml":  # 30 MB of whitespace in 30 KB of gzip
        body = gzip.compress(b"<rss>" + b" " * (30 * 1024 * 1024) + b"</rss>")
        return Reply(200, body, {"Content-Type": "application/rss+xml", "Content-Encoding": "gzip"})
    if path == "/bad/malformed.rss":
        return Reply(200, _file("malformed.rss", base).encode(), {"Content-Type": "application/rss+xml"})
    if path == "/bomb/entities.rss":
        return Reply(200, _file("bomb.rss", base).encode(), {"Content-Type": "application/rss+xml"})
    if path == "/rdf.xml":  # RSS 1.0 (RDF)
        return Reply(200, _file("rss10.rdf", base).encode(), {"Content-Type": "application/rdf+xml"})
    if path == "/big5/feed.rss":  # Traditional Chinese, Big5, declared correctly in the XML declaration
        return Reply(200, _file("big5.rss", base).encode("big5"), {"Content-Type": "application/rss+xml"})
    if path == "/vn1258/feed.rss":  # Windows-1258: base letters plus combining tone marks
        return Reply(200, cp1258(_file("cp1258.rss", base)), {"Content-Type": "text/xml; charset=windows-1258"})
    if path == "/wrong/feed.rss":  # says utf-8 in its XML declaration, is GBK
        return Reply(200, _file("wrong_encoding.rss", base).encode("gbk"), {"Content-Type": "application/rss+xml"})
    return Reply(404, b"not found", {"Content-Type": "text/plain"})


def fixture_registry(base: str) -> dict:  # type: ignore[type-arg]
    """sources.yaml content for the fixture site (one source per behaviour)."""
    def feed(key: str, path: str, **kw: object) -> dict:  # type: ignore[type-arg]
        return {"key": key, "name": key, "kind": "feed", "start_urls": [base + path], **kw}

    return {
        "outlets": [{"key": "nanhai", "name": "南海法治网", "tier": "provincial"}],
        "sources": [
            {"key": "zh-gbk", "name": "南海法治网", "kind": "html", "outlet": "nanhai",
             "start_urls": [base + "/zh/list_1.html"], "link_pattern": r"/zh/(a|private)/", "max_depth": 2,
             "selectors": {"links": "ul.news a::attr(href)", "next_page": "a.next::attr(href)",
                           "title": "h1.title::text", "body": "#article p", "published": "div.info::text"}},
            {"key": "vi-site", "name": "Báo Pháp lý", "kind": "html", "language": "vi",
             "timezone": "Asia/Ho_Chi_Minh", "start_urls": [base + "/vi/list.html"],
             "selectors": {"links": "//a[@class='title-link']/@href", "title": "h1.title::text",
                           "body": "div.detail p", "published": "div.time::text"}},
            {"key": "js-only", "name": "新闻中心", "kind": "html", "start_urls": [base + "/js/"],
             "selectors": {"links": "ul.news a::attr(href)"}},
            feed("rss", "/news/rss.xml"),
            feed("atom", "/atom.xml", language="vi", fetch_articles=False),
            {"key": "sitemap", "name": "琼州法院网", "kind": "sitemap", "start_urls": [base + "/sm/index.xml"]},
            {"key": "posts", "name": "琼州法院微博", "kind": "json_api", "start_urls": [base + "/api/posts?page=1"],
             "max_depth": 5, "fields": {"items": "data.list", "id": "mid", "text": "text",
                                        "author": "user.screen_name", "time": "created_at",
                                        "url_template": base + "/weibo/{mid}", "reposts": "reposts_count",
                                        "comments": "comments_count", "likes": "attitudes_count",
                                        "next_page_param": "page"}},
            feed("err-500", "/err/500.xml"),
            feed("slow", "/slow/feed.xml"),
            feed("huge", "/huge/feed.xml"),
            feed("gzip-bomb", "/bomb/gzip.xml"),
            feed("malformed", "/bad/malformed.rss"),
            feed("entity-bomb", "/bomb/entities.rss"),
            feed("wrong-encoding", "/wrong/feed.rss", fetch_articles=False),
            feed("rss10", "/rdf.xml", fetch_articles=False),
            feed("big5", "/big5/feed.rss", fetch_articles=False),
            feed("cp1258", "/vn1258/feed.rss", language="vi", fetch_articles=False),
            feed("robots-blocked", "/blocked/feed.xml", fetch_articles=False),
            feed("robots-ignored", "/blocked/feed.xml", fetch_articles=False, obey_robots_txt=False),
        ],
    }
