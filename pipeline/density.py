"""The generic main-text finder: text and punctuation density per node, with comment blocks and
related-link lists taken out first.

Chinese and Vietnamese news pages put the article in one container of ``<p>`` (or ``<br>``-split
text) whose text is long, carries sentence punctuation and few links. Two other blocks look like
that to a pure density measure, and both are the classic failures of generic extractors on
portals (the 163.com-style page where the "body" found is the comment thread):

- **comment blocks**: many short posts, each with a user name, a time stamp and reply / like /
  report buttons; recognised by their class / id words (``comment``, ``tie``, ``pinglun``,
  ``binh-luan``...) and, without them, by their content: several time stamps plus action words;
- **related-link lists and round-up rails**: link text is most of their text.

The method is the one the density extractors (CEPF, GNE, readability) share: each paragraph
scores by its length and sentence punctuation, the score flows to its parent (and half to the
grandparent), and the best container, weighed down by its link density, is the article. Its
siblings that score well too (a lead paragraph in its own ``<div>``) are kept.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

# Elements that never hold article prose.
JUNK_TAGS = ("script", "style", "noscript", "template", "textarea", "input", "button", "select", "option",
             "iframe", "svg", "canvas", "nav", "aside", "footer", "form[@role='search']", "label")
# class / id words of blocks that are not the article (matched as whole words of the attribute:
# "post_body" must not match "body" rules, "comment-count" in an info line must not drop it all).
COMMENT_WORDS = re.compile(
    r"(?:^|[\s_-])(?:comments?|cmt|cmts|tie|tie-area|post_comment|pinglun|pl_box|reply|replies|discuss"
    r"|binh-?luan|box-comment|comment-box|disqus|respond|guestbook)(?:$|[\s_-])",
    re.IGNORECASE,
)
FURNITURE_WORDS = re.compile(
    r"(?:^|[\s_-])(?:related|relate|xgyd|xgxw|xgwz|recommend|recom|tuijian|hot|hotnews|rank|ranking|share"
    r"|sharebar|bdsharebuttonbox|breadcrumbs?|crumbs?|sidebar|side|footer|foot|copyright|banner|ad|ads|advert"
    r"|gg|nav|navbar|menu|subnav|toolbar|print|pages?|pager|pagination|tags?|keywords|qrcode|ewm"
    r"|tin-lien-quan|lienquan|box-tinlienquan|social|widget)(?:$|[\s_-])",
    re.IGNORECASE,
)
# Action words and counters of one comment post; several of them together with time stamps are
# a comment thread whatever its class names say.
_COMMENT_ACTIONS = re.compile(
    r"回复|举报|点赞|[顶踩赞]\s*[\[(（]\d+[\])）]|跟贴|跟帖|网友|\d+\s*楼|盖楼|Trả lời|Thích|Báo cáo|Bình luận"
)
_TIMESTAMP = re.compile(
    r"\d+\s*(?:分钟|小时|天)前|刚刚|\d{4}[-/.年]\d{1,2}[-/.月]\d{1,2}.{0,3}\d{1,2}:\d{2}"
    r"|\d{1,2}[-/]\d{1,2}\s+\d{1,2}:\d{2}|\d+\s*(?:phút|giờ|ngày)\s*trước"
)
# Sentence punctuation, Chinese and Latin: prose has it, menus and link lists do not.
_PUNCT = re.compile(r"[。，、；：！？,;:!?.“”\"「」（）()]")
_BLOCKS = {"p", "div", "section", "article", "td", "li", "blockquote", "main", "dd", "h2", "h3", "h4", "h5",
           "h6", "pre", "table", "tbody", "tr", "ul", "ol", "center", "font", "span", "strong"}
_CONTAINERS = {"div", "section", "article", "td", "main", "body", "tbody", "table", "center"}
_INLINE = {"span", "strong", "font", "a", "em", "b", "i", "u", "small", "sup", "sub", "label"}
LEAD_MIN_CHARS = 60  # a sibling paragraph this long, with prose punctuation, is the article's lead
_PARAGRAPHS = {"p", "pre", "blockquote", "h2", "h3", "h4", "h5", "h6", "li", "dd"}

MIN_PARAGRAPH_CHARS = 10  # shorter "paragraphs" are captions, buttons and menu entries
SIBLING_SCORE_SHARE = 0.2  # a sibling this good (of the best container's score) is part of the article
MAX_LINK_DENSITY = 0.5  # a container whose text is mostly link text is a list, not an article
MAX_COMMENT_SHARE = 0.8  # a block named for comments holding more of the page's text is the article's wrapper


@dataclass
class Found:
    text: str
    node: Any
    score: float
    removed_comments: int  # comment blocks taken out before scoring (0 when none)


def _attr_words(el: Any) -> str:
    return f"{el.get('class') or ''} {el.get('id') or ''}"


def _link_text_len(el: Any) -> int:
    return sum(len("".join(a.itertext()).strip()) for a in el.iter("a"))


def _all_text(el: Any) -> str:
    return "".join(el.itertext())


def looks_like_comments(el: Any) -> bool:
    """A block of posts: several time stamps and several reply / like / report marks."""
    text = _all_text(el)
    if len(text) < 40:
        return False
    stamps = len(_TIMESTAMP.findall(text))
    actions = len(_COMMENT_ACTIONS.findall(text))
    return stamps >= 3 and actions >= 3


def strip_comments_and_furniture(root: Any, keep: Any = None) -> int:
    """Drop comment threads and page furniture from ``root`` in place; returns the comment blocks dropped.
    ``keep``: an element (the headline) whose ancestors are never dropped."""
    keep_ancestors = set()
    node = keep
    while node is not None:
        keep_ancestors.add(node)
        node = node.getparent()
    for expr in JUNK_TAGS:
        for el in root.xpath(f"//{expr}"):
            if el.getparent() is not None and el not in keep_ancestors:
                el.drop_tree()
    for el in root.xpath("//comment() | //processing-instruction()"):
        if el.getparent() is not None:
            el.getparent().remove(el) if el.tail is None else el.drop_tree()
    comments = 0
    page_chars = len(_all_text(root).strip()) or 1
    for el in list(root.iter()):
        if not isinstance(el.tag, str) or el.tag in ("html", "body") or el in keep_ancestors:
            continue
        if not _attached(el, root):  # dropped with an ancestor already
            continue
        words = _attr_words(el)
        if COMMENT_WORDS.search(words):
            # "article has-comments": a block named for comments that holds nearly all the page's
            # text and does not read as posts is the article's own wrapper
            if len(_all_text(el).strip()) > MAX_COMMENT_SHARE * page_chars and not looks_like_comments(el):
                continue
            el.drop_tree()
            comments += 1
        elif FURNITURE_WORDS.search(words) and _is_linky(el):
            el.drop_tree()
    # Comment threads without telling names: judged by content, smallest blocks first so the
    # article's container (which holds the thread too) is not the one dropped.
    for el in list(root.iter("div", "ul", "section", "ol", "dl")):
        if el in keep_ancestors or not _attached(el, root):
            continue
        if looks_like_comments(el) and not any(looks_like_comments(c) for c in el if isinstance(c.tag, str)):
            parent = el.getparent()
            # a thread is usually a list of posts: drop the whole list, not one post of it
            target = parent if parent is not None and parent.tag not in ("body", "html") and \
                parent not in keep_ancestors and _share_of(el, parent) > 0.6 else el
            if target.getparent() is not None:
                target.drop_tree()
                comments += 1
    return comments


def _attached(el: Any, root: Any) -> bool:
    node = el
    while node is not None:
        if node is root:
            return True
        node = node.getparent()
    return False


def _share_of(child: Any, parent: Any) -> float:
    total = len(_all_text(parent).strip())
    return len(_all_text(child).strip()) / total if total else 1.0


def _is_linky(el: Any) -> bool:
    """Furniture by its content too: mostly links, or a short block with no sentence in it (a
    share bar, a footer line). An article container whose class says "page" holds sentences."""
    text = _all_text(el).strip()
    if not text:
        return True
    return _link_text_len(el) / len(text) > 0.35 or (len(text) < 200 and not re.search(r"[。！？.!?]", text))


def _paragraph_score(el: Any) -> float:
    text = " ".join(_all_text(el).split())
    n = len(text)
    if n < MIN_PARAGRAPH_CHARS:
        return 0.0
    link = _link_text_len(el)
    if n and link / n > MAX_LINK_DENSITY:
        return 0.0
    punct = len(_PUNCT.findall(text))
    # Readability's paragraph score, with CJK characters counting like words do in Latin text:
    # 1 + punctuation marks + one point per 100 characters (at most 3).
    return 1.0 + punct + min(n / 100.0, 3.0)


def _own_text_blocks(el: Any) -> list[str]:
    """Text directly inside ``el`` (not in child blocks): ``<br>``-split prose of older CMSs."""
    parts = [el.text or ""]
    for child in el:
        tag = child.tag if isinstance(child.tag, str) else ""
        if tag in _INLINE:  # WeChat and many CMSs wrap each paragraph's text in spans
            parts.append(_all_text(child))
        elif tag in _BLOCKS or tag == "br":
            parts.append("\n")
        parts.append(child.tail or "")
    return [ln.strip() for ln in "".join(parts).split("\n") if len(ln.strip()) >= MIN_PARAGRAPH_CHARS]


def link_density(el: Any) -> float:
    text = len(" ".join(_all_text(el).split()))
    return _link_text_len(el) / text if text else 1.0


def best_container(root: Any) -> tuple[Any, float]:
    scores: dict[Any, float] = {}

    def add(node: Any, value: float) -> None:
        if node is not None and isinstance(node.tag, str):
            scores[node] = scores.get(node, 0.0) + value

    for el in root.iter(*_PARAGRAPHS):
        score = _paragraph_score(el)
        if score:
            # a paragraph inside a paragraph-like element (li > p) counts once, at its own level
            parent = el.getparent()
            add(parent, score)
            add(parent.getparent() if parent is not None else None, score / 2)
    for el in root.iter(*_CONTAINERS):
        for line in _own_text_blocks(el):
            value = 1.0 + len(_PUNCT.findall(line)) + min(len(line) / 100.0, 3.0)
            # text right in a container is a paragraph of it; its parent holds the paragraphs
            add(el, value)
            add(el.getparent(), value)
            grand = el.getparent().getparent() if el.getparent() is not None else None
            add(grand, value / 2)
    best, best_score = None, 0.0
    for node, score in scores.items():
        if node.tag in ("li", "ul", "ol", "tr", "html"):
            continue
        weighted = score * (1.0 - link_density(node))
        if weighted > best_score:
            best, best_score = node, weighted
    return best, best_score


def find_main_text(tree: Any, headline: Any = None) -> Found | None:
    """The article's text in ``tree`` (which is changed: pass a copy), or None when no node reads as prose."""
    removed = strip_comments_and_furniture(tree, keep=headline)
    body = tree.find("body") if tree.find("body") is not None else tree
    node, score = best_container(body)
    if node is None or score < 3.0:
        return None
    # A body wrapped alone in another element (div.detail-cmain > div.detail-content) has its lead
    # beside the wrapper: look for siblings from the outermost such wrapper.
    while node.getparent() is not None and node.getparent().tag not in ("body", "html") and \
            len([c for c in node.getparent() if isinstance(c.tag, str)]) == 1:
        node = node.getparent()
    parts = [node]
    parent = node.getparent()
    if parent is not None and node.tag != "body":
        threshold = max(10.0, score * SIBLING_SCORE_SHARE)
        siblings = [c for c in parent if isinstance(c.tag, str)]
        for sib in siblings:
            if sib is node:
                continue
            if sib.tag in _PARAGRAPHS or sib.tag in _CONTAINERS:
                sib_score = sum(_paragraph_score(p) for p in sib.iter(*_PARAGRAPHS)) or \
                    sum(1.0 + len(_PUNCT.findall(ln)) for ln in _own_text_blocks(sib))
                good = sib_score * (1.0 - link_density(sib)) >= threshold and link_density(sib) < 0.25
                # a lead / sapo in its own paragraph, or in a div of text alone
                alone = sib.tag in _PARAGRAPHS or not any(isinstance(c.tag, str) and c.tag in _BLOCKS for c in sib)
                if good or (alone and _is_lead(sib)):
                    parts.append(sib)
        parts.sort(key=lambda e: siblings.index(e))
    for part in parts:
        _drop_linky_children(part)
    from pipeline.extract import _block_text

    text = "\n".join(_block_text(p) for p in parts)
    return Found(text=text, node=node, score=score, removed_comments=removed)


def _is_lead(el: Any) -> bool:
    """A standalone paragraph next to the article (the lead / sapo in its own element)."""
    text = " ".join(_all_text(el).split())
    return len(text) >= LEAD_MIN_CHARS and link_density(el) < 0.1 and len(_PUNCT.findall(text)) >= 2


def _drop_linky_children(node: Any) -> None:
    """Inside the article's container: related-link lists, tag lists and share bars go."""
    for el in list(node.iter("ul", "ol", "div", "table", "dl", "p", "section")):
        if el is node or el.getparent() is None:
            continue
        text = " ".join(_all_text(el).split())
        if not text:
            continue
        density = _link_text_len(el) / len(text)
        # a list of links, a short linked line, or a box that is one link (an inline "related" card)
        if density > 0.6 and (len(el.findall(".//a")) >= 2 or len(text) < 40 or (density > 0.9 and el.tag != "p")):
            el.drop_tree()


def text_score(text: str) -> float:
    """How article-like a text is (for choosing between extractors): prose length with punctuation."""
    lines = [ln for ln in text.split("\n") if len(ln.strip()) >= MIN_PARAGRAPH_CHARS]
    chars = sum(len(ln) for ln in lines)
    punct = sum(len(_PUNCT.findall(ln)) for ln in lines)
    return chars * math.log2(2 + punct)

