"""Extraction: main text, title, publication time, byline and source line from an article page.

The order, most specific first: a source's own selectors (its registry entry, passed on
``RawItem.extra["selectors"]``), then the site rule for the page's host (``site_rules.yaml``,
``pipeline.siterules``), then the generic path (``pipeline.density``: comment threads and
link lists out, the densest prose container in), and trafilatura only when that finds no prose:

    {"title": "h1.arti-title", "text": "div#zoom", "date": "span.pubtime",
     "byline": "div.arti-info", "remove": ["div.share", "//div[@class='xgyd']"]}

CSS selectors, or XPath when the selector starts with "/" or "(". A selector that matches nothing
falls back to the generic extraction (and the result says so in ``notes``), never to an empty text.

Dates come from the page's own context only: structured data (JSON-LD, meta tags, a page-data
script), the headline block (between the headline and the body), a byline-style info line; a
body paragraph about another event never dates the page. ``Extracted.date_anchor`` (the URL's
date) lets ``pipeline.dates.page_date`` read "昨天" and "3小时前" from the page's day.
"""

from __future__ import annotations

import copy
import functools
import json
import logging
import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any
from urllib.parse import urlsplit

import lxml.html
from lxml import etree

from pipeline.normalize import clean_text, clean_title
from pipeline.siterules import rule_for

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
    r"|(?:19|20)\d{2}\s+\d{1,2}\s*/\s*\d{1,2}"
    r"|ngày\s*\d{1,2}\s*tháng|\d{1,2}月\d{1,2}日|\d+\s*(?:小时|分钟|天)前|昨天|前天|giờ trước|hôm qua",
    re.IGNORECASE,
)
_NAME = r"[\u4e00-\u9fff·]{2,4}"
# A name ends at a boundary: "记者就此联系法院" names nobody.
_NAME_END = r"(?=$|[\s、，,。；;:：)）\]】|/]|通讯员|记者|摄影|实习生|发布|来源|时间|编辑)"
# Names run on within one line only: "记者 赵红梅" followed on the next line by a menu of short
# words (首页 新闻 娱乐) must not take the menu for more names.
_HSPACE = r"[ \t\u3000\u00a0]"
_NAMES = rf"{_NAME}{_NAME_END}(?:{_HSPACE}*[、，,和及]{_HSPACE}*{_NAME}{_NAME_END}|{_HSPACE}+{_NAME}(?=\s|$|[)）]))*"
_SOURCE_CN = re.compile(r"来\s*源\s*[:：]\s*(?P<org>[^\s　|)）\]】,，。;；]{2,40})")
_CORRESPONDENT = re.compile(rf"通讯员{_HSPACE}*[:：]?{_HSPACE}*(?P<names>{_NAMES})")
_REPORTER = re.compile(rf"(?<!通讯员)记者{_HSPACE}*[:：]?{_HSPACE}*(?P<names>{_NAMES})")
_AUTHOR_CN = re.compile(rf"(?:作\s*者|撰\s*稿|文\s*/|文\s*[:：]){_HSPACE}*[:：]?{_HSPACE}*(?P<names>{_NAMES})")
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
    date_anchor: date | None = None  # the day the page's URL gives: relative times count from it


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


_INLINE_TAGS = {"span", "a", "em", "i", "b", "strong", "font", "label", "small", "cite", "time"}


def _block_text(node: Any, inline_space: bool = False) -> str:
    """Text of an element with line breaks between block elements (lxml's text_content has none).
    ``inline_space``: a space after each inline element too, for info lines written as a row of
    spans ("<span>作者：记者 周杰</span><span>通讯员 王芳</span>"); never for prose."""
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
        elif inline_space and tag in _INLINE_TAGS:
            out.append(" ")
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


def _metas(tree: Any) -> dict[str, str]:
    metas: dict[str, str] = {}
    for meta in tree.iter("meta"):
        key = (meta.get("property") or meta.get("name") or meta.get("itemprop") or "").strip().lower()
        content = (meta.get("content") or "").strip()
        if key and content and key not in metas:
            metas[key] = content
    return metas


def _json_ld(tree: Any) -> list[dict[str, Any]]:
    """The JSON-LD objects of the page (``@graph`` flattened); broken blocks are skipped."""
    out: list[dict[str, Any]] = []
    for node in tree.xpath("//script[@type='application/ld+json']"):
        try:
            doc = json.loads((node.text or "").strip() or "null")
        except ValueError:
            continue
        stack = doc if isinstance(doc, list) else [doc]
        while stack:
            obj = stack.pop(0)
            if isinstance(obj, dict):
                out.append(obj)
                graph = obj.get("@graph")
                if isinstance(graph, list):
                    stack.extend(graph)
    return out


_SCRIPT_DATE = re.compile(
    r"[\"']?(?:pubtime|pubTime|publish_?time|publishTime|createTime|create_time|pubDate|datePublished)[\"']?"
    r"\s*[:=]\s*[\"']((?:19|20)\d{2}[-/.]\d{1,2}[-/.]\d{1,2}[^\"']{0,12})[\"']"
)


def structured_date(tree: Any, rule: dict[str, Any]) -> str | None:
    """The publication time the page states as data: JSON-LD, meta tags, a page-data script."""
    for obj in _json_ld(tree):
        for key in ("datePublished", "dateCreated"):
            value = obj.get(key)
            if isinstance(value, str) and value.strip():
                return value.strip()
    metas = _metas(tree)
    for key in DATE_META:
        value = metas.get(key)
        if value and (_DATE_SHAPE.search(value) or re.match(r"\d{4}-\d{2}-\d{2}", value)):
            return value
    scripts = "\n".join((s.text or "")[:20000] for s in tree.iter("script") if s.get("type") != "application/ld+json")
    if rule.get("date_script"):
        found = re.search(rule["date_script"], scripts)
        if found:
            return found.group(1)
    if rule.get("date_script_unix"):
        found = re.search(rule["date_script_unix"], scripts)
        if found:
            return datetime.fromtimestamp(int(found.group(1)), UTC).isoformat()
    found = _SCRIPT_DATE.search(scripts)
    if found:
        return found.group(1)
    return None


# A date in the page's own address: /2024/0514/, /2024-04-16/, /t20231120_, /art/2022/3/15/.
_URL_DATE = (
    re.compile(r"(?<!\d)((?:19|20)\d{2})[-/_]?(0[1-9]|1[0-2])[-/_]?(0[1-9]|[12]\d|3[01])(?!\d)"),
    re.compile(r"/((?:19|20)\d{2})/(\d{1,2})/(\d{1,2})/"),
)


def url_date(url: str | None) -> date | None:
    """The day a page's URL says it was published, when it says one."""
    if not url:
        return None
    path = urlsplit(url).path
    for pattern in _URL_DATE:
        for found in pattern.finditer(path):
            try:
                return date(int(found.group(1)), int(found.group(2)), int(found.group(3)))
            except ValueError:
                continue
    return None


_SITE_SUFFIX_MAX = 16  # a trailing "_channel_site" part of a <title> is shorter than this


def _strip_site_suffix(title: str, site_names: set[str]) -> str:
    """``headline_channel_site name`` -> ``headline``: trailing short parts after a separator go."""
    parts = _TITLE_SEP.split(title)
    if len(parts) < 3:
        return title
    # parts: text, sep, text, sep, text ...
    while len(parts) >= 3:
        last = parts[-1].strip()
        rest = "".join(parts[:-2]).strip()
        if last and (last in site_names or len(last) <= _SITE_SUFFIX_MAX) and len(rest) > len(last):
            parts = parts[:-2]
        else:
            break
    return "".join(parts).strip()


_TITLE_SEP = re.compile(r"(\s*(?:[_|｜]|--|\s[-–—]\s)\s*)")
_TITLE_CLASS = re.compile(r"title|tit\b|tit_|headline|bt\b|heading", re.IGNORECASE)


def _usable_declared(title: str, head_title: str, site_names: set[str]) -> bool:
    """A declared title (og:title, ArticleTitle, JSON-LD headline) that is not the site's name and
    was not cut short: an unescaped ASCII quote ends the attribute, so "法院开展"雷霆"行动" arrives
    as "法院开展", a prefix of the <title> that the <title> continues without a separator."""
    if not title or title in site_names:
        return False
    if head_title and len(title) < len(head_title):
        if head_title.endswith(title) and _TITLE_SEP.search(head_title[: -len(title)][-4:]):
            return False  # the last part of "headline - Site": the site's name
        if head_title.startswith(title) and not _TITLE_SEP.match(head_title[len(title):]):
            return False
    return True


def find_title(tree: Any, rule: dict[str, Any]) -> tuple[str, Any]:
    """The headline and its element (None when it came from metadata)."""
    metas = _metas(tree)
    head_title = clean_title(tree.findtext(".//title") or "")
    site_names = {clean_title(metas.get("og:site_name", ""))} - {""}
    declared = [clean_title(v) for v in (
        metas.get("og:title", ""), metas.get("articletitle", ""), metas.get("twitter:title", ""),
        *(o.get("headline", "") for o in _json_ld(tree) if isinstance(o.get("headline"), str)))]
    declared = [d for d in declared if _usable_declared(d, head_title, site_names)]
    headings: list[tuple[str, Any]] = []
    for el in tree.iter("h1", "h2", "div", "td", "span", "p", "strong"):
        if el.tag in ("div", "td", "span", "p", "strong") and not _TITLE_CLASS.search(
                f"{el.get('class') or ''} {el.get('id') or ''}") and el.tag != "strong":
            continue
        text = clean_title(_block_text(el))
        if 4 <= len(text) <= 200:
            headings.append((text, el))
    # 1. a heading the <title> or a declared title contains (the site logo is often an h1 too)
    refs = [r for r in (head_title, *declared) if r]
    inside = [(h, el) for h, el in headings if any(h in r or r.startswith(h) for r in refs)
              and len(h) >= 6 and h not in site_names]
    if inside:
        best = max(inside, key=lambda he: (len(he[0]), he[1].tag == "h1"))
        # a declared title that extends the heading (a heading cut by a line break) wins
        return best[0], best[1]
    for d in declared:
        stripped = _strip_site_suffix(d, site_names)
        if len(stripped) >= 4:
            return stripped, None
    if head_title:
        return _strip_site_suffix(head_title, site_names), None
    h1 = [(h, el) for h, el in headings if el.tag == "h1"]
    return h1[0] if h1 else ("", None)

# Words the name patterns catch after 记者 / 作者 that are not names: "记者表示", "记者获悉",
# "作者：个人观点", "回答了记者提问". Calibrated on the bylines the issue-19 pages carried.
_NOT_NAMES = {
    "表示", "获悉", "了解", "介绍", "报道", "发现", "采访", "获知", "看到", "注意到", "提问", "问", "会见", "来到",
    "近日", "日前", "昨天", "今天", "昨日", "今日", "个人观点", "观点", "本文", "仅代表", "独家", "整理", "综合",
    "编译", "编辑", "实习", "调查", "走访", "现场", "连线", "手记", "观察", "评论", "专访", "一行", "团队", "报道组",
    "本人", "网友", "读者", "未知", "佚名", "不详", "匿名", "admin", "管理员", "联系", "询问", "证实", "得知",
}
# Organizations, not people: a "name" ending in these is a unit ("作者：执行局 李明").
_ORG_ENDINGS = ("局", "院", "厅", "部", "处", "科", "室", "所", "庭", "队", "办", "委", "会", "社", "台", "站", "网",
                "报", "中心", "公司", "政府", "法院", "频道", "编辑部")


def _is_org(name: str) -> bool:
    return bool(re.fullmatch(r"[\u4e00-\u9fff·]+", name)) and name.endswith(_ORG_ENDINGS)


def is_person_name(name: str) -> bool:
    """Whether a word a byline pattern caught can be a person's name."""
    if not name or name in _NOT_NAMES or any(word in name for word in ("观点", "表示", "获悉", "了解到")):
        return False
    if re.fullmatch(r"[\u4e00-\u9fff·]+", name):
        return not name.endswith(_ORG_ENDINGS) and name[0] not in "从在向对就与跟据经和"
    return True


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
                if not is_person_name(name):
                    if _is_org(name):
                        continue  # "作者：执行局 李明": the unit, then the person
                    break  # "作者：个人观点 仅供参考": what follows a non-name is no name either
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


def _select_nodes(tree: Any, selector: str) -> list[Any]:
    """Elements a selector matches, outermost only (``div.a, div#b`` may match one inside the other)."""
    found = compile_selector(selector)(tree)
    nodes = [n for n in (found if isinstance(found, list) else [found]) if hasattr(n, "itertext")]
    chosen = set(nodes)
    out = []
    for node in nodes:
        parent = node.getparent()
        while parent is not None and parent not in chosen:
            parent = parent.getparent()
        if parent is None:
            out.append(node)
    return out


def _rule_text(tree: Any, selector: str, inline_space: bool = False) -> str:
    return "\n".join(_block_text(n, inline_space) for n in _select_nodes(tree, selector))


# Lines under the headline that are the info line, not prose: a date, a source or author label,
# counters, font-size and print buttons.
_INFO_LINE = re.compile(
    r"^.{0,40}(?:来源|作者|编辑|责编|发布时间|发布日期|发布机构|发表时间|时间|日期|点击数?|浏览(?:次数)?|阅读(?:量|数)?|字号"
    r"|Ngày đăng|Cập nhật|Lượt xem|Tác giả)\s*[:：]"
    r"|^\S{0,12}(?:记者|通讯员)\s*[\u4e00-\u9fff·]{2,4}(?:\s|$)|^.{0,30}(?:打印|关闭窗口)"
    r"|^\s*\(?\s*(?:19|20)\d{2}[-/.年]\d{1,2}[-/.月]\d{1,2}.{0,60}$",
    re.IGNORECASE,
)
HEADLINE_BLOCK_LINES = 6  # info lines sit within this many lines under the headline


def _trim_head(text: str, title: str) -> str:
    """Drop the headline and info lines an extractor kept at the start of the text."""
    lines = text.split("\n")
    i = 0
    while i < len(lines) and i < HEADLINE_BLOCK_LINES:
        line = lines[i].strip()
        is_title = bool(title) and (line == title or (len(line) < len(title) + 4 and title in line))
        is_info = len(line) <= 80 and bool(_INFO_LINE.search(line)) and not re.search(r"[。！？.!?]$", line)
        if not line or is_title or is_info:
            i += 1
        else:
            break
    return "\n".join(lines[i:]).strip()


# Editor and source lines a CMS prints under the text: "本文来源：法制日报 责任编辑：王晓_NN1234",
# "(责编：王震、仲音)", "编辑：刘小敏". Not prose: they leave the body (after the bylines are read).
_TAIL_INFO = re.compile(
    r"^[（(【\[]?\s*(?:本文)?(?:来源|责任编辑|责编|编辑|审核|审校|校对|监制|编审|值班编辑|签发)\s*[:：].{0,60}$")
TAIL_INFO_LINES = 3


def _trim_tail(text: str) -> str:
    lines = text.rstrip().split("\n")
    cut = 0
    for line in reversed(lines):
        stripped = line.strip()
        if cut >= TAIL_INFO_LINES + 2:
            break
        if not stripped or _TAIL_INFO.match(stripped):
            cut += 1
            continue
        break
    return "\n".join(lines[: len(lines) - cut]).rstrip() if cut else text


def headline_block(page_text: str, title: str, body: str) -> str:
    """The lines between the headline and the start of the body: where sites print the time,
    source and author of the piece (nothing from the body itself)."""
    lines = [ln.strip() for ln in page_text.split("\n") if ln.strip()]
    start = None
    if title:
        key = title[:12]
        for i, line in enumerate(lines):
            if key in line and len(line) < len(title) + 40:
                start = i + 1
                break
    if start is None:
        return ""
    body_first = next((ln.strip() for ln in body.split("\n") if ln.strip()), "")[:20]
    block = []
    for line in lines[start:start + HEADLINE_BLOCK_LINES]:
        if body_first and body_first in line:
            break
        block.append(line[:200])
    # Some layouts (xinhuanet) print time and source just above the headline; those lines come
    # after the ones below it, and never a top bar's "today is ..." date.
    for line in lines[max(0, start - 1 - HEADLINE_ABOVE_LINES): start - 1]:
        if not _TODAY_BAR.search(line):
            block.append(line[:200])
    return "\n".join(block)


HEADLINE_ABOVE_LINES = 2
_TODAY_BAR = re.compile(r"今天是|今日是|星期|礼拜|Hôm nay|Thứ\s+\w+\s*,?\s*ngày", re.IGNORECASE)


def byline_lines(body: str) -> str:
    """The body's own info lines: short first or last lines with a label (发布时间：..., Ngày ...)."""
    lines = [ln.strip() for ln in body.split("\n") if ln.strip()]
    # an info line, not a sentence: short, no full stop, no run of clauses
    edges = lines[:2] + [ln for ln in lines[-3:] if ln not in lines[:2]]
    picked = [ln for ln in edges if len(ln) <= 80 and _INFO_LINE.search(ln)
              and not re.search(r"[。！？!?]|[.](?:\s|$)", ln) and ln.count("，") < 2]
    return "\n".join(picked)


def _date_in(text: str) -> str | None:
    """A labelled date in ``text`` (发布时间：..., Ngày đăng: ...), else the first line with a date."""
    for found in _DATE_LABEL.finditer(text):
        if _DATE_SHAPE.search(found.group(1)):
            return found.group(1)
    shaped = _DATE_SHAPE.search(text)
    if shaped:
        line_start = text.rfind("\n", 0, shaped.start()) + 1
        line_end = text.find("\n", shaped.end())
        return text[line_start: line_end if line_end >= 0 else None]
    return None


def _generic_text(tree: Any, headline: Any, url: str | None) -> tuple[str, str]:
    """The article body by density, or trafilatura's when density finds no prose; and which one."""
    from pipeline import density

    work = copy.deepcopy(tree)
    head_copy = None
    if headline is not None:
        path = tree.getroottree().getpath(headline)
        found = work.getroottree().xpath(path)
        head_copy = found[0] if found else None
    result = density.find_main_text(work, headline=head_copy)
    if result is not None and len(result.text.strip()) >= MIN_GENERIC_CHARS:
        return result.text, "density"
    return _main_text(tree, url, []), "trafilatura"


MIN_GENERIC_CHARS = 40  # below this the density result is a caption or a button row


def extract_html(html: str, *, url: str | None = None, selectors: dict[str, Any] | None = None,
                 site_rules: bool = True) -> Extracted:
    """Extract an article from decoded HTML. Never raises on bad markup: returns what it found.

    The source's own selectors win, then the site rule for the page's host
    (``pipeline/site_rules.yaml``), then the generic path. ``site_rules=False`` measures the
    generic path alone (bench/extract.py).
    """
    selectors = selectors or {}
    out = Extracted()
    try:
        tree = lxml.html.fromstring(html)
    except (etree.ParserError, ValueError):
        out.notes.append("unparseable html")
        return out
    rule = rule_for(url) if site_rules else {}
    prune = list(selectors.get("remove") or [])
    if isinstance(selectors.get("remove"), str):
        prune = [selectors["remove"]]
    for sel in [*prune, *(rule.get("remove") or [])]:
        for node in compile_selector(sel)(tree):
            if hasattr(node, "getparent") and node.getparent() is not None:
                node.drop_tree()
    page_text = _block_text(tree.find("body") if tree.find("body") is not None else tree, inline_space=True)

    headline = None
    if selectors.get("title"):
        out.title = clean_title(_select_text(tree, selectors["title"]))
        if not out.title:
            out.notes.append("title selector matched nothing")
    if not out.title and rule.get("title"):
        nodes = _select_nodes(tree, rule["title"])
        if nodes:
            out.title, headline = clean_title(_block_text(nodes[0])), nodes[0]
    if not out.title:
        out.title, headline = find_title(tree, rule)

    if selectors.get("text"):
        out.text = clean_text(_select_text(tree, selectors["text"]))
        if not out.text:
            out.notes.append("text selector matched nothing")
    if not out.text and rule.get("text"):
        out.text = clean_text(_rule_text(tree, rule["text"]))
        if out.text:
            out.notes.append("site rule")
    if not out.text:
        text, how = _generic_text(tree, headline, url)
        out.text = clean_text(text)
        if how == "trafilatura" and out.text:
            out.notes.append("fallback extractor")
    out.text = _trim_head(out.text, out.title)

    block = headline_block(page_text, out.title, out.text)
    out.date_anchor = url_date(url)
    if selectors.get("date"):
        raw = clean_title(_select_text(tree, selectors["date"]))
        out.published_raw = raw or None
        if not raw:
            out.notes.append("date selector matched nothing")
    if out.published_raw is None and rule.get("date"):
        raw = clean_title(_rule_text(tree, rule["date"], inline_space=True))
        out.published_raw = (_date_in(raw) or raw) if raw else None
    if out.published_raw is None:
        out.published_raw = structured_date(tree, rule)
    if out.published_raw is None:
        out.published_raw = _date_in(block) or _date_in(byline_lines(out.text))
    if out.published_raw is None:
        for node in tree.iter("time"):
            value = node.get("datetime") or (node.text or "")
            if value.strip():
                out.published_raw = value.strip()
                break

    byline_text = clean_text(_select_text(tree, selectors["byline"])) if selectors.get("byline") else ""
    if not byline_text and rule.get("byline"):
        byline_text = clean_text(_rule_text(tree, rule["byline"], inline_space=True))
        names = [n.strip() for n in byline_text.split("\n") if n.strip()]
        if names and all(len(n) <= 40 and not _SOURCE_KEY.search(n) for n in names):
            out.authors.extend(n.title() if n.isupper() else n for n in names)
            byline_text = ""
    find_bylines("\n".join(filter(None, [byline_text, block, byline_zone(out.text)])), out)
    if not out.byline:
        author = declared_author(tree) or author_element(tree)
        if author:
            out.authors.append(author)
            out.byline = author
    out.text = _trim_tail(out.text)
    return out


_AUTHOR_ELEMENT = etree.XPath(
    "//*[@rel='author' or @itemprop='author' or contains(@class,'author') or contains(@id,'author')]")
_LABEL = re.compile(r"^(?:作\s*者|文|撰稿|Tác giả|Bài|Theo)\s*[:：/]?\s*", re.IGNORECASE)


def author_element(tree: Any) -> str | None:
    """A short name in an element marked as the author (class "author", rel/itemprop author)."""
    for el in _AUTHOR_ELEMENT(tree):
        text = clean_title(_block_text(el, inline_space=True))
        label, _, rest = text.rpartition("：") if "：" in text else text.rpartition(":")
        if re.search(r"编辑|责编|审核|校对|来源|Biên tập", label):
            continue  # the editor on duty is not the author
        text = _LABEL.sub("", rest.strip())
        if 2 <= len(text) <= 40 and not _SOURCE_KEY.search(text) and not re.search(r"\d|@|://", text) \
                and len(text.split()) <= 5 and is_person_name(text):
            return text.title() if text.isupper() else text
    return None


def declared_author(tree: Any) -> str | None:
    """The author the page states as data (JSON-LD author name, meta author), when it is a person."""
    names: list[str] = []
    for obj in _json_ld(tree):
        author = obj.get("author")
        for one in author if isinstance(author, list) else [author]:
            if isinstance(one, dict) and one.get("@type", "Person") == "Person" and isinstance(one.get("name"), str):
                names.append(one["name"])
            elif isinstance(one, str):
                names.append(one)
    metas = _metas(tree)
    names += [metas.get("author", ""), metas.get("article:author", "")]
    for name in names:
        name = clean_title(name)
        if 2 <= len(name) <= 40 and "://" not in name and is_person_name(name):
            return name.title() if name.isupper() else name
    return None
