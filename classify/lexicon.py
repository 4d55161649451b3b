"""Domain lexicons (``data/lexicon.yaml``): sentiment words with negation and degree words, and the
sensitive terms of public-opinion risk, for Chinese and Vietnamese.

Terms are found in the normalized text (NFKC, lower case) with one alternation per language,
longest term first (so 暴力执法 wins over 暴力, "khiếu nại đông người" over "khiếu nại"); Vietnamese
terms must sit on word boundaries. A sentiment term is flipped by a negation word and scaled by a
degree word that ends shortly before it in the same clause (Chinese: within 4 characters;
Vietnamese: within 3 words), e.g. 不满意, 并未拖延, "không minh bạch", "rất hiệu quả".
"""

from __future__ import annotations

import functools
import math
import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

LEXICON_FILE = Path(__file__).parent / "data" / "lexicon.yaml"
_CLAUSE_BREAK = re.compile(r"[，。！？；、,.!?;:：\n]")


@dataclass(frozen=True)
class Hit:
    term: str
    weight: float
    negated: bool = False
    degree: float = 1.0

    @property
    def value(self) -> float:
        return self.weight * self.degree * (-1.0 if self.negated else 1.0)

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"term": self.term, "weight": round(self.value, 3)}
        if self.negated:
            out["negated"] = True
        if self.degree != 1.0:
            out["degree"] = self.degree
        return out


def _norm(text: str) -> str:
    from classify.query import normalize_vi_tones

    return normalize_vi_tones(unicodedata.normalize("NFKC", text).lower())


def _alternation(terms: list[str], words: bool) -> re.Pattern[str] | None:
    if not terms:
        return None
    body = "|".join(re.escape(t) for t in sorted(terms, key=len, reverse=True))
    return re.compile(rf"(?<!\w)(?:{body})(?!\w)" if words else f"(?:{body})")


class LanguageLexicon:
    def __init__(self, lang: str, data: dict[str, Any]) -> None:
        self.lang = lang
        self.words = lang != "zh"  # Vietnamese terms match whole words
        self.sentiment = {_norm(k): float(v) for k, v in (data.get("sentiment") or {}).items()}
        self.negation = sorted((_norm(w) for w in data.get("negation") or []), key=len, reverse=True)
        self.degree = {_norm(k): float(v) for k, v in (data.get("degree") or {}).items()}
        self.risk_terms = {_norm(k): float(v) for k, v in (data.get("risk_terms") or {}).items()}
        self._sent_re = _alternation(list(self.sentiment), self.words)
        self._risk_re = _alternation(list(self.risk_terms), self.words)

    def _context(self, text: str, start: int) -> str:
        """The text just before ``start`` in the same clause (where negation / degree words sit)."""
        window = text[max(0, start - 40) : start]
        parts = _CLAUSE_BREAK.split(window)
        before = parts[-1] if parts else ""
        if self.words:
            return " ".join(before.split()[-3:])
        return before[-4:]

    def sentiment_hits(self, text: str) -> list[Hit]:
        if self._sent_re is None:
            return []
        norm = _norm(text)
        hits = []
        for m in self._sent_re.finditer(norm):
            term = m.group()
            ctx = self._context(norm, m.start())
            # Degree words are blanked first so 非常 (very) is not read as the negation 非.
            bare = ctx if self.words else self._blank_degree(ctx)
            negated = any(self._ends_with_word(bare, neg) or (not self.words and neg in bare) for neg in self.negation)
            degree = 1.0
            for word, factor in self.degree.items():
                if (self.words and f" {word} " in f" {ctx} ") or (not self.words and word in ctx):
                    degree = max(degree, factor) if factor >= 1 else min(degree, factor)
            hits.append(Hit(term, self.sentiment[term], negated, degree))
        return hits

    def _blank_degree(self, ctx: str) -> str:
        for word in sorted(self.degree, key=len, reverse=True):
            ctx = ctx.replace(word, "#" * len(word))
        return ctx

    def _ends_with_word(self, ctx: str, word: str) -> bool:
        return f" {word} " in f" {ctx} " if self.words else ctx.endswith(word)

    def risk_hits(self, text: str) -> list[Hit]:
        if self._risk_re is None:
            return []
        found: dict[str, Hit] = {}
        for m in self._risk_re.finditer(_norm(text)):
            term = m.group()
            found.setdefault(term, Hit(term, self.risk_terms[term]))
        return list(found.values())


class Lexicon:
    def __init__(self, path: Path = LEXICON_FILE) -> None:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        self.languages = {lang: LanguageLexicon(lang, section or {}) for lang, section in data.items()}

    def get(self, lang: str) -> LanguageLexicon | None:
        return self.languages.get(lang)


def polarity(hits: list[Hit]) -> float:
    """Lexicon polarity in (-1, 1): tanh of half the summed hit values."""
    return math.tanh(sum(h.value for h in hits) / 2.0) if hits else 0.0


@functools.cache
def default_lexicon() -> Lexicon:
    return Lexicon()
