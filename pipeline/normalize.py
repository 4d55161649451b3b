"""Text normalization: clean whitespace and boilerplate lines, Unicode NFC, a matching form, language id.

``Article.text`` keeps the page's own wording (NFC, tidy whitespace). ``Article.match_text`` is the
form every matcher uses: full-width digits, letters and ASCII punctuation folded to half-width
(``２０２４`` and ``2024`` must match the same query), traditional Chinese converted to simplified
(a Hong Kong or Taiwan repost of a mainland story must group with it), lower-cased Latin.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from pathlib import Path

# Lines that are page furniture, never article prose: share bars, print/close links, ICP
# registration footers, copyright lines, "related reading" headers, comment prompts, editor tags.
_BOILERPLATE_LINE = re.compile(
    r"^\s*(?:"
    r"分享到[:：]?.{0,40}|[【\[]?(?:打印本页|关闭窗口|打印|关闭|返回顶部|收藏|字号|[大中小]\s*[大中小]?\s*[大中小]?)[】\]]?"
    r"|.{0,30}ICP[备證证]\s*\d+号.{0,80}|.{0,40}公网安备\s*\d+号.{0,40}|(?:版权所有|Copyright|©).{0,120}"
    r"|相关(?:阅读|新闻|链接|文章|推荐)[:：]?|(?:上一篇|下一篇)[:：].{0,80}|扫一扫.{0,40}|网友评论.{0,30}"
    r"|发表评论.{0,20}|我要评论.{0,20}|(?:责任)?编辑[:：].{0,20}|\(责任编辑[:：].{0,20}\)"
    r"|Chia sẻ.{0,40}|Bình luận.{0,30}|Tin liên quan.{0,10}|Bản quyền.{0,120}|In bài viết|Gửi bài viết"
    r")\s*$",
    re.IGNORECASE,
)
_SPACES = re.compile(r"[ \t\u00a0\u3000\u2000-\u200b\ufeff]+")
_BLANK_LINES = re.compile(r"\n{3,}")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ufffd]")


def clean_text(text: str) -> str:
    """NFC, control characters removed, runs of spaces collapsed, boilerplate lines dropped."""
    text = unicodedata.normalize("NFC", text)
    text = _CONTROL.sub("", text.replace("\r\n", "\n").replace("\r", "\n"))
    lines = []
    for line in text.split("\n"):
        line = _SPACES.sub(" ", line).strip()
        if line and _BOILERPLATE_LINE.match(line):
            continue
        lines.append(line)
    return _BLANK_LINES.sub("\n\n", "\n".join(lines)).strip()


def clean_title(title: str) -> str:
    return _SPACES.sub(" ", _CONTROL.sub("", unicodedata.normalize("NFC", title or "")).replace("\n", " ")).strip()


# Full-width ASCII block (U+FF01..U+FF5E) -> ASCII, ideographic space -> space. CJK punctuation
# such as 。 and 、 has no ASCII twin and is kept; 《》 and “” are kept (they carry meaning).
_FULLWIDTH = {cp: cp - 0xFEE0 for cp in range(0xFF01, 0xFF5F)}
_FULLWIDTH[0x3000] = 0x20


def fold_width(text: str) -> str:
    return text.translate(_FULLWIDTH)


@functools.cache
def _traditional_only_chars() -> frozenset[str]:
    """Characters that exist only in traditional script (in OpenCC's t2s table but not s2t's keys)."""
    import opencc

    base = Path(opencc.__file__).parent / "dictionary"

    def keys(name: str) -> set[str]:
        out = set()
        for line in (base / name).read_text(encoding="utf-8").splitlines():
            key = line.split("\t", 1)[0]
            if len(key) == 1:
                out.add(key)
        return out

    return frozenset(keys("TSCharacters.txt") - keys("STCharacters.txt"))


@functools.cache
def _t2s() -> object:
    import opencc

    return opencc.OpenCC("t2s")


def to_simplified(text: str) -> str:
    """Simplified form of traditional Chinese; other text comes back unchanged.

    The pure-Python OpenCC costs ~6 us per character, so it runs only on texts that contain at
    least one traditional-only character (a set test at C speed).
    """
    if _traditional_only_chars().isdisjoint(text):
        return text
    return str(_t2s().convert(text))  # type: ignore[attr-defined]


def match_form(text: str) -> str:
    """The matching form: width-folded, simplified, lower-cased."""
    return to_simplified(fold_width(text)).lower()


def has_traditional(text: str) -> bool:
    return not _traditional_only_chars().isdisjoint(text)


def warm_up() -> None:
    """Build the lazily loaded tables now. The pure-Python OpenCC fills its dictionary chain on its
    first conversion, and a second thread converting meanwhile would see it half built; the
    pipeline calls this before it extracts on a helper thread while storing on its own."""
    _traditional_only_chars()
    _t2s().convert("")  # type: ignore[attr-defined]
    _identifier()


# Language identification, offline, restricted to what the offices read plus their neighbours
# (restricting py3langid both speeds it up and avoids exotic misfires on short snippets).
LANGUAGES = ("zh", "vi", "en", "ja", "ko", "fr", "th", "km", "lo", "ru")
MIN_LANGID_CHARS = 12  # below this many letters the guess is noise: "und"
_CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")
_LETTERS = re.compile(r"[^\W\d_]", re.UNICODE)
_VI_MARKS = re.compile(r"[ăâđêôơưạảấầẩẫậắằẳẵặẹẻẽếềểễệỉịọỏốồổỗộớờởỡợụủứừửữựỳỵỷỹ]", re.IGNORECASE)


@functools.cache
def _identifier() -> object:
    from py3langid.langid import _load_identifier

    return _load_identifier(norm_probs=True, langs=list(LANGUAGES))


def detect_language(text: str, declared: str | None = None) -> str:
    """ISO 639-1 code of ``text`` ("zh", "vi", "en" ...) or "und" when too short to tell.

    Clear script evidence wins first (Han characters are Chinese unless kana/hangul say otherwise;
    Vietnamese diacritics are unmistakable); py3langid decides the rest.
    """
    sample = text[:4000]
    letters = _LETTERS.findall(sample)
    if len(letters) < MIN_LANGID_CHARS:
        return "und"
    cjk = len(_CJK.findall(sample))
    if cjk >= 0.3 * len(letters) and not re.search(r"[\u3040-\u30ff\uac00-\ud7af]", sample):
        return "zh"
    if len(_VI_MARKS.findall(sample)) >= max(3, 0.03 * len(letters)):
        return "vi"
    lang, _prob = _identifier().classify(sample)  # type: ignore[attr-defined]
    return str(lang)
