"""Rendering of the demo world's outlets (see the package docstring). Plain string templates."""

from __future__ import annotations

import hashlib
import html
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit
from zoneinfo import ZoneInfo

import yaml

from crawlers.testserver import LocalServer, Reply, Request, not_found

CONTENT_FILE = Path(__file__).parent / "content.yaml"
SHANGHAI = ZoneInfo("Asia/Shanghai")
HANOI = ZoneInfo("Asia/Ho_Chi_Minh")
JRDZ_PAGE_SIZE = 4
WEIBO_PAGE_SIZE = 3
# The origin written in presswatch/templates/sources.example.yaml; the demo rewrites it to the
# real (free) port, and `presswatch sources serve-demo` listens on it by default.
DEFAULT_DEMO_ORIGIN = "http://127.0.0.1:8765"


@dataclass
class Piece:
    id: str
    outlet: str
    published: datetime  # UTC
    title: str
    byline: str
    paragraphs: list[str]
    author: str = ""
    metrics: dict[str, int] = field(default_factory=dict)


def load_pieces(now: datetime) -> list[Piece]:
    raw = yaml.safe_load(CONTENT_FILE.read_text(encoding="utf-8"))["pieces"]
    by_id = {p["id"]: p for p in raw}
    pieces = []
    for p in raw:
        paragraphs = list(p.get("body") or [])
        if p.get("repost_of"):
            original = by_id[p["repost_of"]]
            paragraphs = [p["header"], *original["body"], p["footer"]]
        pieces.append(Piece(
            id=p["id"], outlet=p["outlet"], published=now - timedelta(hours=float(p["age_hours"])),
            title=p.get("title") or "", byline=p.get("byline") or "", paragraphs=paragraphs,
            author=p.get("author") or "", metrics=dict(p.get("metrics") or {}),
        ))
    pieces.sort(key=lambda x: x.published, reverse=True)
    return pieces


def _page(title: str, body: str, charset: str, lang: str) -> str:
    return (
        f'<!DOCTYPE html>\n<html lang="{lang}"><head><meta http-equiv="Content-Type" '
        f'content="text/html; charset={charset}"><title>{html.escape(title)}</title></head>\n'
        f"<body>\n{body}\n</body></html>\n"
    )


def _article_html(p: Piece, site: str, charset: str, lang: str, date_text: str) -> str:
    paras = "\n".join(f"<p>{html.escape(t)}</p>" for t in p.paragraphs)
    body = (
        f'<div class="header">{html.escape(site)}</div>\n'
        f'<div class="article"><h1 class="title">{html.escape(p.title)}</h1>\n'
        f'<div class="meta"><span class="date">{date_text}</span> <span class="byline">'
        f"{html.escape(p.byline)}</span></div>\n"
        f'<div class="content">\n{paras}\n</div></div>\n'
        f'<div class="footer">{html.escape(site)} 版权所有 / All rights reserved</div>'
    )
    return _page(f"{p.title} - {site}", body, charset, lang)


class DemoSite:
    """The request handler of the demo site (use with :class:`crawlers.testserver.LocalServer`)."""

    def __init__(self, now: datetime | None = None) -> None:
        self.now = now or datetime.now(UTC)
        self.pieces = load_pieces(self.now)
        self.by_id = {p.id: p for p in self.pieces}

    def of(self, outlet: str) -> list[Piece]:
        return [p for p in self.pieces if p.outlet == outlet]

    def __call__(self, req: Request) -> Reply:
        parts = urlsplit(req.path)
        path, query = parts.path, parse_qs(parts.query)
        base = req.base_url
        if path == "/robots.txt":
            return Reply(200, b"User-agent: *\nDisallow: /admin/\n", {"Content-Type": "text/plain"})
        if path.startswith("/jrdz/"):
            return self._jrdz(path)
        if path.startswith("/fzsb/"):
            return self._feed(req, path, base, "fazhi-shibao", "/fzsb/", "法制时报", "zh-cn", SHANGHAI)
        if path.startswith("/phapluat/"):
            return self._feed(req, path, base, "baophapluat", "/phapluat/", "Báo Pháp luật Việt Nam", "vi", HANOI)
        if path.startswith("/court/"):
            return self._court(path, base)
        if path.startswith("/weibo/"):
            return self._weibo(path, query, base)
        if path.startswith("/hy/"):
            return self._hungyen(path, query)
        return not_found(req)

    # 今日儋州: GBK list pages (header charset) and article pages (meta charset only).
    def _jrdz(self, path: str) -> Reply:
        pieces = self.of("jinri-danzhou")
        pages = max(1, -(-len(pieces) // JRDZ_PAGE_SIZE))
        if path.startswith("/jrdz/list_") and path.endswith(".html"):
            try:
                n = int(path.removeprefix("/jrdz/list_").removesuffix(".html"))
            except ValueError:
                return Reply(404)
            if not 1 <= n <= pages:
                return Reply(404)
            chunk = pieces[(n - 1) * JRDZ_PAGE_SIZE : n * JRDZ_PAGE_SIZE]
            items = "\n".join(
                f'<li><a href="/jrdz/content/{p.id}.html">{html.escape(p.title)}</a>'
                f'<span class="date">{p.published.astimezone(SHANGHAI):%Y-%m-%d}</span></li>'
                for p in chunk
            )
            nav = f'<a class="next" href="/jrdz/list_{n + 1}.html">下一页</a>' if n < pages else ""
            body = f'<div class="header">今日儋州 首页 | 时政 | 法治</div>\n<ul class="news-list">\n{items}\n</ul>\n' \
                   f'<div class="pager">第{n}页 {nav}</div>'
            text = _page("法治新闻 - 今日儋州", body, "GBK", "zh-CN")
            return Reply(200, text.encode("gbk"), {"Content-Type": "text/html; charset=GBK"})
        if path.startswith("/jrdz/content/"):
            p = self.by_id.get(path.removeprefix("/jrdz/content/").removesuffix(".html"))
            if p is None or p.outlet != "jinri-danzhou":
                return Reply(404)
            date = f"{p.published.astimezone(SHANGHAI):%Y-%m-%d %H:%M}"
            text = _article_html(p, "今日儋州", "gb2312", "zh-CN", date)
            return Reply(200, text.encode("gbk"), {"Content-Type": "text/html"})
        return Reply(404)

    # 法制时报 and Báo Pháp luật: RSS 2.0 with conditional GET, plus their article pages.
    def _feed(self, req: Request, path: str, base: str, outlet: str, prefix: str, site: str, lang: str,
              tz: ZoneInfo) -> Reply:
        pieces = self.of(outlet)
        if path.endswith(".xml") or path.endswith(".rss"):
            items = "\n".join(
                f"<item><title>{html.escape(p.title)}</title><link>{base}{prefix}{p.id}.html</link>"
                f"<guid>{base}{prefix}{p.id}.html</guid>"
                f"<pubDate>{format_datetime(p.published.astimezone(tz))}</pubDate>"
                f"<description>{html.escape(p.paragraphs[0])}</description></item>"
                for p in pieces
            )
            last = max(p.published for p in pieces)
            etag = '"' + hashlib.sha256(items.encode()).hexdigest()[:16] + '"'
            last_modified = format_datetime(last.astimezone(UTC), usegmt=True)
            headers = {"Content-Type": "application/rss+xml; charset=utf-8", "ETag": etag,
                       "Last-Modified": last_modified}
            if req.headers.get("if-none-match") == etag or req.headers.get("if-modified-since") == last_modified:
                return Reply(304, b"", {"ETag": etag, "Last-Modified": last_modified})
            xml = (
                f'<?xml version="1.0" encoding="utf-8"?>\n<rss version="2.0"><channel><title>{html.escape(site)}'
                f"</title><link>{base}{prefix}</link><language>{lang}</language>\n{items}\n</channel></rss>\n"
            )
            return Reply(200, xml.encode("utf-8"), headers)
        p = self.by_id.get(path.removeprefix(prefix).removesuffix(".html"))
        if p is None or p.outlet != outlet:
            return Reply(404)
        date = f"{p.published.astimezone(tz):%Y-%m-%d %H:%M}"
        text = _article_html(p, site, "utf-8", lang, date)
        return Reply(200, text.encode("utf-8"), {"Content-Type": "text/html; charset=utf-8"})

    # 儋州法院网: a sitemap index -> a news sitemap and a pages sitemap.
    def _court(self, path: str, base: str) -> Reply:
        xml_headers = {"Content-Type": "application/xml; charset=utf-8"}
        if path == "/court/sitemap_index.xml":
            xml = (
                '<?xml version="1.0" encoding="UTF-8"?>\n'
                '<sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">\n'
                f"<sitemap><loc>{base}/court/sitemap-pages.xml</loc></sitemap>\n"
                f"<sitemap><loc>{base}/court/sitemap-news.xml</loc></sitemap>\n</sitemapindex>\n"
            )
            return Reply(200, xml.encode(), xml_headers)
        if path == "/court/sitemap-news.xml":
            urls = "\n".join(
                f"<url><loc>{base}/court/art/{p.id}.html</loc><news:news><news:publication>"
                f"<news:name>儋州法院网</news:name><news:language>zh</news:language></news:publication>"
                f"<news:publication_date>{p.published.astimezone(SHANGHAI).isoformat(timespec='seconds')}"
                f"</news:publication_date><news:title>{html.escape(p.title)}</news:title></news:news></url>"
                for p in reversed(self.of("danzhou-court"))  # oldest first: the crawler must sort
            )
            xml = (
                '<?xml version="1.0" encoding="UTF-8"?>\n<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9" '
                'xmlns:news="http://www.google.com/schemas/sitemap-news/0.9">\n' + urls + "\n</urlset>\n"
            )
            return Reply(200, xml.encode("utf-8"), xml_headers)
        if path == "/court/sitemap-pages.xml":
            xml = (
                '<?xml version="1.0" encoding="UTF-8"?>\n<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
                f"<url><loc>{base}/court/about.html</loc><lastmod>2019-01-01</lastmod></url></urlset>\n"
            )
            return Reply(200, xml.encode(), xml_headers)
        if path == "/court/about.html":
            about = "<h1>法院概况</h1><p>儋州市人民法院位于那大镇。</p>"
            text = _page("法院概况 - 儋州法院网", about, "utf-8", "zh-CN")
            return Reply(200, text.encode(), {"Content-Type": "text/html; charset=utf-8"})
        p = self.by_id.get(path.removeprefix("/court/art/").removesuffix(".html"))
        if p is None or p.outlet != "danzhou-court":
            return Reply(404)
        date = f"{p.published.astimezone(SHANGHAI):%Y年%m月%d日 %H:%M}"
        text = _article_html(p, "儋州法院网", "utf-8", "zh-CN", date)
        return Reply(200, text.encode("utf-8"), {"Content-Type": "text/html; charset=utf-8"})

    # 儋州发布 微博: a JSON posts API, paged, Weibo-style field names and dates.
    def _weibo(self, path: str, query: dict[str, list[str]], base: str) -> Reply:
        pieces = self.of("weibo-danzhou")
        if path == "/weibo/api/posts":
            page = int((query.get("page") or ["1"])[0] or 1)
            chunk = pieces[(page - 1) * WEIBO_PAGE_SIZE : page * WEIBO_PAGE_SIZE]
            posts: list[dict[str, Any]] = [
                {
                    "mid": p.id, "text": p.paragraphs[0], "user": {"screen_name": p.author},
                    "created_at": p.published.astimezone(SHANGHAI).strftime("%a %b %d %H:%M:%S %z %Y"),
                    "url": f"{base}/weibo/status/{p.id}", "reposts_count": p.metrics.get("reposts", 0),
                    "comments_count": p.metrics.get("comments", 0), "attitudes_count": p.metrics.get("likes", 0),
                }
                for p in chunk
            ]
            doc = {"ok": 1, "data": {"list": posts, "page": page,
                                     "has_more": page * WEIBO_PAGE_SIZE < len(pieces)}}
            return Reply(200, json.dumps(doc, ensure_ascii=False).encode("utf-8"),
                         {"Content-Type": "application/json; charset=utf-8"})
        return Reply(404)

    # Báo Hưng Yên: Vietnamese UTF-8 list pages (?p=2) and article pages.
    def _hungyen(self, path: str, query: dict[str, list[str]]) -> Reply:
        pieces = self.of("bao-hungyen")
        per_page = 3
        headers = {"Content-Type": "text/html; charset=utf-8"}
        if path == "/hy/thi-hanh-an/":
            n = int((query.get("p") or ["1"])[0] or 1)
            chunk = pieces[(n - 1) * per_page : n * per_page]
            if not chunk:
                return Reply(404)
            items = "\n".join(
                f'<article class="story"><h3><a class="story-link" href="/hy/tin/{p.id}.html">'
                f"{html.escape(p.title)}</a></h3></article>"
                for p in chunk
            )
            nav = f'<a rel="next" href="/hy/thi-hanh-an/?p={n + 1}">Trang sau</a>' if n * per_page < len(pieces) else ""
            text = _page("Thi hành án - Báo Hưng Yên", f'<section class="list">{items}</section>{nav}', "utf-8", "vi")
            return Reply(200, text.encode("utf-8"), headers)
        p = self.by_id.get(path.removeprefix("/hy/tin/").removesuffix(".html"))
        if p is None or p.outlet != "bao-hungyen":
            return Reply(404)
        date = f"{p.published.astimezone(HANOI):%d/%m/%Y %H:%M} (GMT+7)"
        text = _article_html(p, "Báo Hưng Yên", "utf-8", "vi", date)
        return Reply(200, text.encode("utf-8"), headers)


def start_demo_site(port: int = 0, now: datetime | None = None) -> LocalServer:
    """Start the demo site on 127.0.0.1 (a free port by default); call ``.stop()`` when done."""
    return LocalServer(DemoSite(now), port=port).start()
