"""Extraction: main text, title, publication time, byline and source line from an article page.

trafilatura finds the main text (it drops side bars, share bars, comment blocks, "相关阅读" lists
and footers well on the layouts Chinese and Vietnamese news and government sites use). A source
that needs help declares selectors in its registry entry, passed on ``RawItem.extra["selectors"]``:

    {"title": "h1.arti-title", "text": "div#zoom", "date": "span.pubtime",
     "byline": "div.arti-info", "remove": ["div.share", "//div[@class='xgyd']"]}

CSS selectors, or XPath when the selector starts with "/" or "(". A selector that matches nothing
falls back to the generic extraction (and the result says so in ``notes``), never to an empty text.
"""

from __future__ import annotations

import copy
import functools
import logging
import re
from dataclasses import dataclass, field
from typing import Any

import lxml.html
from lxml import etree

from pipeline.normalize import clean_text, clean_title

# Meta tags that carry the publication time, most specific first (Chinese government sites use
# PubDate / publishdate; news sites use Open Graph / article:*; Vietnamese CMSs use pubdate).
DATE_META = (
    "article:published_time", "og:published_time", "og:release_date", "pubdate", "publishdate",
    "publishdatetime", "publish-date", "publish_date", "datepublished", "dc.date.issued", "dc.date",
    "dcterms.created", "sailthru.date", "parsely-pub-date", "date", "firstpublishedtime",
)
_DATE_LABEL = re.compile(
    r"(?:发布时间|发布日期|发表时间|发稿时间|时间|日期|更新时间"
    r"|Ngày đăng|Ngày|Cập nhật|Đăng lúc|Thời gian)\s*[:：]?\s*(.{4,40})",
    re.IGNORECASE,
)
_DATE_SHAPE = re.compile(
    r"(?:19|20)\d{2}\s*[-/.年]\s*\d{1,2}\s*[-/.月]\s*\d{1,2}|\d{1,2}/\d{1,2}/(?:19|20)\d{2}"
    r"|ngày\s*\d{1,2}\s*tháng|\d{1,2}月\d{1,2}日|\d+\s*(?:小时|分钟|天)前|昨天|前天|giờ trước|hôm qua",
    re.IGNORECASE,
)
_NAME = r"[\u4e00-\u9fff·]{2,4}"
# A name ends at a boundary: "记者就此联系法院" names nobody.
_NAME_END = r"(?=$|[\s、，,。；;:：)）\]】|/]|通讯员|记者|摄影|实习生)"
_NAMES = rf"{_NAME}{_NAME_END}(?:\s*[、，,和及]\s*{_NAME}{_NAME_END}|\s+{_NAME}(?=\s|$|[)）]))*"
_SOURCE_CN = re.compile(r"来\s*源\s*[:：]\s*(?P<org>[^\s　|)）\]】,，。;；]{2,40})")
_CORRESPONDENT = re.compile(rf"通讯员\s*[:：]?\s*(?P<names>{_NAMES})")
_REPORTER = re.compile(rf"(?<!通讯员)记者\s*[:：]?\s*(?P<names>{_NAMES})")
_AUTHOR_CN = re.compile(rf"(?:作\s*者|撰\s*稿|文\s*/|文\s*[:：])\s*[:：]?\s*(?P<names>{_NAMES})")
_SOURCE_VI = re.compile(r"Nguồn\s*[:：]\s*(?P<org>[^\n|]{2,120})", re.IGNORECASE)
_AUTHOR_VI = re.compile(
    r"(?:Tác giả|Tác giả bài viết|Bài và ảnh|Bài, ảnh|PV)\s*[:：]\s*(?P<names>[^\n|]{2,80})", re.IGNORECASE
)
_SOURCE_KEY = re.compile(r"来\s*源\s*[:：]|通讯员|记者|作\s*者\s*[:：]|Nguồn\s*[:：]|Tác giả\s*[:：]", re.IGNORECASE)
# Source lines and bylines sit under the headline or at the very start or end of the text; only
# those lines are searched (searching a whole 200,000-character text costs more than extracting it).
BYLINE_HEAD_LINES = 3
BYLINE_TAIL_LINES = 5
_TITLE_SPLIT = re.compile(r"\s*(?:[_|｜—–]|--|\s-\s)\s*")
_ROLE_WORDS = {"通讯员", "记者", "编辑", "来源", "摄影", "实习生", "作者", "责任编辑", "发布", "时间", "本报", "本网"}
# A Vietnamese article ends with its author's name on a line of its own ("Nguyễn Văn An").
_VI_NAME_LINE = re.compile(r"^(?:[A-ZĐÂĂÊÔƠƯÁÀẢÃẠ][\wÀ-ỹ]*\.?\s){1,4}[A-ZĐÂĂÊÔƠƯÁÀẢÃẠ][\wÀ-ỹ]*$")


# trafilatura logs "discarding data" at WARNING for every page whose main text it finds too short
# (social posts, notices); the pipeline reports what it dropped itself, with the reason.
logging.getLogger("trafilatura").setLevel(logging.ERROR)


@dataclass
class Extracted:
    title: str = ""
    text: str = ""
    published_raw: str | None = None
    byline: str | None = None
    source_line: str | None = None
    source_org: str | None = None
    correspondents: list[str] = field(default_factory=list)
    reporters: list[str] = field(default_factory=list)
    authors: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # selector fallbacks and the like


class BadSelector(ValueError):
    """A selector in a source's declaration that does not compile."""


@functools.cache
def compile_selector(selector: str) -> etree.XPath:
    sel = selector.strip()
    try:
        if sel.startswith(("/", "(")):
            return etree.XPath(sel)
        # parsel's translator also reads the Scrapy forms the source registry uses (h1::text, a::attr(href)).
        from parsel.csstranslator import HTMLTranslator

        return etree.XPath(HTMLTranslator().css_to_xpath(sel))
    except Exception as exc:  # cssselect and lxml raise several unrelated types
        raise BadSelector(f"bad selector {selector!r}: {exc}") from None


def validate_selectors(selectors: dict[str, Any]) -> None:
    """Compile every selector of a source declaration (for the registry to call at load time)."""
    for key, value in selectors.items():
        for sel in value if isinstance(value, list) else [value]:
            if not isinstance(sel, str):
                raise BadSelector(f"selector {key!r}: expected a string, got {type(sel).__name__}")
            compile_selector(sel)


def _select_text(tree: Any, selector: str) -> str:
    found = compile_selector(selector)(tree)
    parts = []
    for node in found if isinstance(found, list) else [found]:
        if isinstance(node, str):
            parts.append(node)
        elif hasattr(node, "itertext"):
            parts.append(_block_text(node))
    return "\n".join(p for p in parts if p.strip())


_BLOCK_TAGS = {"p", "div", "br", "li", "tr", "h1", "h2", "h3", "h4", "h5", "h6", "section", "article",
               "blockquote", "pre", "table", "ul", "ol", "dd", "dt", "header", "footer"}


def _block_text(node: Any) -> str:
    """Text of an element with line breaks between block elements (lxml's text_content has none)."""
    out: list[str] = []

    def walk(el: Any) -> None:
        tag = el.tag if isinstance(el.tag, str) else ""
        if tag in ("script", "style", "noscript", "template"):
            if el.tail:
                out.append(el.tail)
            return
        if tag in _BLOCK_TAGS:
            out.append("\n")
        if el.text:
            out.append(el.text)
        for child in el:
            walk(child)
        if tag in _BLOCK_TAGS:
            out.append("\n")
        if el.tail:
            out.append(el.tail)

    walk(node)
    return "".join(out)


@functools.cache
def _trafilatura_config() -> Any:
    from trafilatura.settings import use_config

    config = use_config()
    # Court notices and social posts are short; the defaults (250 chars) would drop them.
    config.set("DEFAULT", "MIN_EXTRACTED_SIZE", "60")
    config.set("DEFAULT", "MIN_OUTPUT_SIZE", "20")
    config.set("DEFAULT", "MIN_EXTRACTED_COMM_SIZE", "10000")
    config.set("DEFAULT", "EXTRACTION_TIMEOUT", "0")
    return config


@functools.cache
def _trafilatura_options() -> Any:
    """trafilatura's options, built once: building them reads a dozen values through configparser,
    about 8% of the extraction time when done per page."""
    from trafilatura.settings import Extractor

    return Extractor(config=_trafilatura_config(), output_format="python", fast=True, precision=True,
                     comments=False, tables=True, with_metadata=False)


def _main_text(tree: Any, url: str | None, prune: list[str]) -> str:
    import trafilatura

    options = copy.copy(_trafilatura_options())
    options.url = options.source = url
    doc = trafilatura.bare_extraction(tree, url=url, prune_xpath=prune or None, options=options)
    text = getattr(doc, "text", None) if doc is not None else None
    return text or ""


def _meta_date(tree: Any) -> str | None:
    metas: dict[str, str] = {}
    for meta in tree.iter("meta"):
        key = (meta.get("property") or meta.get("name") or meta.get("itemprop") or "").strip().lower()
        content = (meta.get("content") or "").strip()
        if key and content and key not in metas:
            metas[key] = content
    for key in DATE_META:
        value = metas.get(key)
        if value and (_DATE_SHAPE.search(value) or re.match(r"\d{4}-\d{2}-\d{2}", value)):
            return value
    for node in tree.iter("time"):
        value = node.get("datetime") or (node.text or "")
        if value.strip():
            return value.strip()
    return None


def _title(tree: Any) -> str:
    heads = [clean_title(_block_text(h)) for tag in ("h1", "h2") for h in tree.iter(tag)]
    heads = [h for h in heads if 4 <= len(h) <= 200]
    og = tree.xpath("//meta[@property='og:title']/@content")
    head_title = clean_title(tree.findtext(".//title") or "")
    if og and clean_title(og[0]):
        return clean_title(og[0])
    # The longest heading that the <title> contains is the headline (the site logo is often an h1 too).
    inside = [h for h in heads if head_title and h in head_title]
    if inside:
        return max(inside, key=len)
    if head_title:
        parts = [p for p in _TITLE_SPLIT.split(head_title) if p]
        return max(parts, key=len) if parts else head_title
    return heads[0] if heads else ""


def byline_zone(text: str) -> str:
    """The first and last few lines of ``text`` (each cut to 300 characters)."""
    lines = [ln[:300] for ln in text.split("\n") if ln.strip()]
    if len(lines) > BYLINE_HEAD_LINES + BYLINE_TAIL_LINES:
        lines = lines[:BYLINE_HEAD_LINES] + lines[-BYLINE_TAIL_LINES:]
    return "\n".join(lines)


def find_bylines(text: str, into: Extracted) -> None:
    """Fill source line, source organization, correspondents, reporters and authors from ``text``
    (the caller passes the byline zone: info lines under the headline, start and end of the text)."""
    if into.source_line is None:
        key = _SOURCE_KEY.search(text)
        if key:
            start = text.rfind("\n", 0, key.start()) + 1
            end = text.find("\n", key.end())
            line = text[max(start, key.start() - 80): end if end >= 0 else len(text)]
            into.source_line = line.strip(" \t()（）[]【】")[:500] or None
    if into.source_org is None:
        org = _SOURCE_CN.search(text) or _SOURCE_VI.search(text)
        if org:
            into.source_org = org["org"].strip(" .)")[:200]
    for pattern, bucket in ((_CORRESPONDENT, into.correspondents), (_REPORTER, into.reporters),
                            (_AUTHOR_CN, into.authors), (_AUTHOR_VI, into.authors)):
        for found in pattern.finditer(text):
            for name in re.split(r"[、，,和及]|\s+(?=[\u4e00-\u9fff])", found["names"]):
                name = name.strip(" .")
                if name in _ROLE_WORDS:
                    break  # "记者 赵六 通讯员 张三": the next role starts here
                if name and name not in bucket:
                    bucket.append(name)
    if not into.authors and not into.correspondents and not into.reporters:
        lines = [ln.strip() for ln in text.split("\n") if ln.strip()][-4:]
        for candidate in lines:
            if _VI_NAME_LINE.match(candidate) and len(candidate) <= 40:
                into.authors.append(candidate)
                break
    parts = []
    if into.correspondents:
        parts.append("通讯员 " + "、".join(into.correspondents))
    if into.reporters:
        parts.append("记者 " + "、".join(into.reporters))
    if into.authors:
        parts.append("; ".join(into.authors))
    if parts:
        into.byline = " ".join(parts)[:500]


def extract_html(html: str, *, url: str | None = None, selectors: dict[str, Any] | None = None) -> Extracted:
    """Extract an article from decoded HTML. Never raises on bad markup: returns what it found."""
    selectors = selectors or {}
    out = Extracted()
    try:
        tree = lxml.html.fromstring(html)
    except (etree.ParserError, ValueError):
        out.notes.append("unparseable html")
        return out
    prune = selectors.get("remove") or []
    if isinstance(prune, str):
        prune = [prune]
    for sel in prune:
        for node in compile_selector(sel)(tree):
            if hasattr(node, "getparent") and node.getparent() is not None:
                node.drop_tree()
    page_text = _block_text(tree.find("body") if tree.find("body") is not None else tree)

    if selectors.get("title"):
        out.title = clean_title(_select_text(tree, selectors["title"]))
        if not out.title:
            out.notes.append("title selector matched nothing")
    if not out.title:
        out.title = _title(tree)

    if selectors.get("text"):
        out.text = clean_text(_select_text(tree, selectors["text"]))
        if not out.text:
            out.notes.append("text selector matched nothing")
    if not out.text:
        out.text = clean_text(_main_text(tree, url, []))
    if out.title and out.text.startswith(out.title):  # the extractor kept the headline as the first line
        out.text = out.text[len(out.title):].lstrip("\n ")

    if selectors.get("date"):
        raw = clean_title(_select_text(tree, selectors["date"]))
        out.published_raw = raw or None
        if not raw:
            out.notes.append("date selector matched nothing")
    if out.published_raw is None:
        out.published_raw = _meta_date(tree)
    if out.published_raw is None:
        out.published_raw = _labelled_date(page_text, out.title)

    byline_text = clean_text(_select_text(tree, selectors["byline"])) if selectors.get("byline") else ""
    find_bylines("\n".join(filter(None, [byline_text, _info_lines(page_text, out.title), byline_zone(out.text)])), out)
    return out


def _info_lines(page_text: str, title: str) -> str:
    """The few lines right under the headline: where sites print time, source and author."""
    lines = [ln.strip() for ln in page_text.split("\n") if ln.strip()]
    start = 0
    if title:
        for i, line in enumerate(lines):
            if title[:12] and title[:12] in line:
                start = i + 1
                break
    return "\n".join(lines[start:start + 4])


def _labelled_date(page_text: str, title: str) -> str | None:
    info = _info_lines(page_text, title)
    for candidate in (info, page_text[:3000]):
        for found in _DATE_LABEL.finditer(candidate):
            if _DATE_SHAPE.search(found.group(1)):
                return found.group(1)
        shaped = _DATE_SHAPE.search(candidate)
        if shaped and candidate is info:
            line_start = candidate.rfind("\n", 0, shaped.start()) + 1
            line_end = candidate.find("\n", shaped.end())
            return candidate[line_start: line_end if line_end >= 0 else None]
    return None
