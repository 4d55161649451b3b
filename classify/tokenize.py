"""Tokenization for Chinese and Vietnamese.

Chinese: jieba's algorithm and dictionary (precise mode, HMM on; run by rjieba when installed)
with the domain user dictionary ``data/userdict_zh.txt``,
so 失信被执行人, 拒执罪, 执行不能, 扫黑除恶, 保护伞, 三同步, 司法拘留... stay whole. The tokenizer
is a private ``jieba.Tokenizer`` so loading our dictionary never changes jieba for other code.

Vietnamese: lower-cased syllables (Vietnamese writes one syllable per space-separated token) and,
for the classifiers, syllable bigrams that stand in for compound words (``thi_hành``, ``hành_án``).
The choice of syllable n-grams over a word segmenter is measured in ``bench/train.py`` /
the model card.
"""

from __future__ import annotations

import itertools
import logging
import re
import threading
import unicodedata
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

DATA_DIR = Path(__file__).parent / "data"
USER_DICT = DATA_DIR / "userdict_zh.txt"

_lock = threading.Lock()
_zh_tokenizer: Any = None

_CJK = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_VI_TOKEN = re.compile(rf"[^\W{_CJK}_]+", re.UNICODE)
_ZH_KEEP = re.compile(rf"[{_CJK}]|[^\W_]", re.UNICODE)


def zh_tokenizer() -> Any:
    """The shared Chinese segmenter with the domain dictionary (built once, thread-safe).

    rjieba (the Rust port of jieba, same algorithm and dictionary) when installed: measured here on
    27,200 review/comment paragraphs plus domain sentences with our user dictionary loaded through
    ``add_word``, it gave the same Chinese words as jieba on all but 4 paragraphs (HMM ties on
    reduplicated characters like 砰砰砰) at ~15x the speed; it keeps ASCII runs such as
    ``2008-06-04`` whole where jieba splits them. Otherwise a private ``jieba.Tokenizer``.
    """
    global _zh_tokenizer
    if _zh_tokenizer is None:
        with _lock:
            if _zh_tokenizer is None:
                _zh_tokenizer = _build_zh_tokenizer()
    return _zh_tokenizer


class _RJieba:
    def __init__(self) -> None:
        import rjieba

        self._jieba = rjieba.Jieba()
        for word, freq, tag in _user_dict_entries():
            self._jieba.add_word(word, freq, tag)

    def cut(self, text: str, HMM: bool = True) -> list[str]:
        return list(self._jieba.cut(text, HMM))


def _build_zh_tokenizer() -> Any:
    try:
        return _RJieba()
    except ImportError:
        pass
    import jieba

    jieba.setLogLevel(logging.WARNING)
    tok = jieba.Tokenizer()
    tok.initialize()
    tok.load_userdict(str(USER_DICT))
    return tok


def zh_backend() -> str:
    return "rjieba" if isinstance(zh_tokenizer(), _RJieba) else "jieba"


def _user_dict_entries() -> list[tuple[str, int, str]]:
    out = []
    for line in USER_DICT.read_text(encoding="utf-8").splitlines():
        parts = line.split()
        if parts and not parts[0].startswith("#"):
            out.append((parts[0], int(parts[1]) if len(parts) > 1 else 3000, parts[2] if len(parts) > 2 else "n"))
    return out


def user_dict_words() -> list[str]:
    return [word for word, _, _ in _user_dict_entries()]


def segment_zh(text: str) -> list[str]:
    """jieba precise-mode words of ``text`` (whitespace tokens dropped), domain terms kept whole."""
    return [w for w in zh_tokenizer().cut(text, HMM=True) if w.strip()]


_zh_kept: dict[str, str] = {}  # segmenter word -> classifier token ("" = dropped), memoized
_ZH_KEPT_MAX = 1_000_000


def kept_zh_token(word: str) -> str:
    """The classifier token of one segmenter word: lower case, "" for whitespace and punctuation."""
    return word.lower() if word.strip() and _ZH_KEEP.search(word) else ""


def _zh_keep(word: str) -> str:
    kept = kept_zh_token(word)
    if len(_zh_kept) >= _ZH_KEPT_MAX:
        _zh_kept.clear()
    _zh_kept[word] = kept
    return kept


def tokens_zh(text: str) -> list[str]:
    """Words for the classifiers: segmented, lower-cased, punctuation dropped."""
    words = zh_tokenizer().cut(text, HMM=True)
    kept = list(map(_zh_kept.get, words))
    if None in kept:
        kept = [k if k is not None else _zh_keep(w) for k, w in zip(kept, words, strict=True)]
    return list(filter(None, kept))


def syllables_vi(text: str) -> list[str]:
    """Lower-cased Vietnamese syllables (NFC), punctuation dropped."""
    return _VI_TOKEN.findall(unicodedata.normalize("NFC", text).lower())


def tokens_vi(text: str) -> list[str]:
    """Syllables plus syllable bigrams joined with '_' (the compound words of Vietnamese)."""
    syl = syllables_vi(text)
    return syl + [f"{a}_{b}" for a, b in itertools.pairwise(syl)]


def tokens(text: str, lang: str) -> list[str]:
    """Classifier tokens for ``lang`` ("zh..." or "vi"; anything else is treated like Vietnamese/Latin)."""
    if lang.startswith("zh"):
        return tokens_zh(text)
    return tokens_vi(text)
