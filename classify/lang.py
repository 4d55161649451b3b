"""Language of a piece: the pipeline's identification when given, otherwise a script-first guess.

The classifier supports ``zh`` and ``vi``; ``en`` is recognized (so mixed Chinese-English and
English pieces get a defined answer) and everything else is ``und``. Script decides first because
it is exact: CJK ideographs make Chinese (also when mixed with English), Vietnamese-only letters
(ă â đ ê ô ơ ư with tone marks) make Vietnamese; other Latin text goes to py3langid restricted to
a few languages.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from typing import Any

SUPPORTED = ("zh", "vi")

_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_KANA = re.compile(r"[\u3040-\u30ff]")
_HANGUL = re.compile(r"[\uac00-\ud7af]")
_LATIN = re.compile(r"[A-Za-z\u00c0-\u024f\u1e00-\u1eff]")
# Letters that occur in Vietnamese and (almost) nowhere else among Latin-script languages.
_VI_LETTERS = set("ăâđêôơưĂÂĐÊÔƠƯ")
_VI_TONED = re.compile(r"[\u1ea0-\u1ef9]")  # Latin Extended Additional: ạ ả ấ ầ ... ỹ (Vietnamese tones)
_VI_UNMARKED_WORDS = frozenset(
    [
        "cua",
        "va",
        "cac",
        "nhung",
        "duoc",
        "trong",
        "khong",
        "nguoi",
        "thi",
        "hanh",
        "an",
        "viec",
        "cho",
        "voi",
        "la",
        "da",
        "se",
        "tai",
        "theo",
        "nay",
    ]
)


def normalize_lang(value: str | None) -> str:
    """'zh-CN' / 'zh_Hant' / 'ZH' -> 'zh'; 'vi-VN' -> 'vi'; empty -> ''."""
    if not value:
        return ""
    base = re.split(r"[-_]", value.strip().lower(), maxsplit=1)[0]
    return base


@functools.cache
def _langid() -> Any:
    from py3langid.langid import MODEL_FILE, LanguageIdentifier

    ident = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
    ident.set_languages(["en", "vi", "fr", "de", "es", "id", "ms", "pt", "it", "nl", "tl"])
    return ident


def detect(text: str) -> tuple[str, str]:
    """(language, reason) for ``text``: zh, vi, en or und."""
    sample = unicodedata.normalize("NFC", text[:5000])
    letters = sum(1 for ch in sample if ch.isalpha())
    if letters == 0:
        return "und", "no letters (empty, or only digits, emoji or symbols)"
    cjk = len(_CJK.findall(sample))
    kana = len(_KANA.findall(sample))
    hangul = len(_HANGUL.findall(sample))
    if kana > max(2, cjk // 10):
        return "und", "Japanese script: language not supported"
    if hangul > cjk:
        return "und", "Korean script: language not supported"
    if cjk >= 2 and (cjk >= 0.2 * letters or cjk >= 20):
        return "zh", "detected: Chinese characters" + (" (mixed with Latin)" if cjk < 0.9 * letters else "")
    latin = len(_LATIN.findall(sample))
    if latin < 0.5 * letters:
        return "und", "script not supported (neither Chinese nor Latin)"
    vi_marks = sum(1 for ch in sample if ch in _VI_LETTERS) + len(_VI_TONED.findall(sample))
    if vi_marks >= 2 and vi_marks >= 0.03 * latin:
        return "vi", "detected: Vietnamese letters"
    words = re.findall(r"[a-z]+", sample.lower())
    if words and sum(w in _VI_UNMARKED_WORDS for w in words) >= max(2, 0.25 * len(words)):
        return "vi", "detected: Vietnamese written without diacritics"
    if latin < 3:
        return "und", "too little text to tell the language"
    lang, prob = _langid().classify(sample)
    if lang in ("en", "vi") and prob >= 0.5:
        return lang, f"detected by py3langid ({prob:.2f})"
    return "und", f"language not supported ({lang}, {prob:.2f})"


def resolve(given: str | None, text: str) -> tuple[str, str]:
    """The pipeline's language if it gave one we understand, else a detection; with the reason."""
    norm = normalize_lang(given)
    if norm in SUPPORTED or norm == "en":
        if norm == "zh" and text.strip() and not _CJK.search(text[:5000]):
            detected, why = detect(text)
            return detected, f"given 'zh' but the text has no Chinese characters; {why}"
        return norm, f"given by the pipeline ({given})"
    if norm and norm != "und":
        return "und", f"language not supported ({given})"
    return detect(text)
