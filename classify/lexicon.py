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
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

LEXICON_FILE = Path(__file__).parent / "data" / "lexicon.yaml"
_CLAUSE_BREAK = re.compile(r"[，。！？；、,.!?;:：\n]")
_QUOTED = re.compile(r"“[^”\n]{1,40}”|「[^」\n]{1,40}」|\"[^\"\n]{1,40}\"|‘[^’\n]{1,40}’")
QUOTED_SHARE = 0.5


@dataclass(frozen=True)
class Hit:
    term: str
    weight: float
    negated: bool = False
    degree: float = 1.0
    quoted: bool = False

    @property
    def value(self) -> float:
        return self.weight * self.degree * (-1.0 if self.negated else 1.0)

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"term": self.term, "weight": round(self.value, 3)}
        if self.negated:
            out["negated"] = True
        if self.degree != 1.0:
            out["degree"] = self.degree
        if self.quoted:
            out["quoted"] = True
        return out


@functools.lru_cache(maxsize=64)  # a piece's text is normalized for sentiment and again for risk
def _norm(text: str) -> str:
    """The watch queries' normalization (NFKC, case folding, one Vietnamese tone placement), so the
    classifier can hand over the text it already normalized for the rules."""
    from classify.query import normalize

    return normalize(text)


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
        self.stance = {_norm(k): float(v) for k, v in (data.get("stance") or {}).items()}
        self._sent_re = _alternation(list(self.sentiment), self.words)
        self._risk_re = _alternation(list(self.risk_terms), self.words)
        self._stance_re = _alternation(list(self.stance), self.words)
        self._memo: dict[str, tuple[bool, float]] = {}

    def _context(self, text: str, start: int) -> str:
        """The text just before ``start`` in the same clause (where negation / degree words sit)."""
        window = text[max(0, start - 40) : start]
        parts = _CLAUSE_BREAK.split(window)
        before = parts[-1] if parts else ""
        if self.words:
            return " ".join(before.split()[-3:])
        return before[-4:]

    def sentiment_hits(self, text: str, normalized: str | None = None) -> list[Hit]:
        """``normalized``: ``text`` already normalized (:func:`classify.query.normalize`)."""
        return self._weighted_hits(self._sent_re, self.sentiment, text, normalized)[0]

    def stance_hits(self, text: str, normalized: str | None = None) -> list[Hit]:
        """Terms of stance toward the office (曝光 / 司法拘留 / 情况通报 +, 暴力执法 / 不作为 -), with
        negation and degree as for sentiment."""
        hits, starts = self._weighted_hits(self._stance_re, self.stance, text, normalized)
        if not any(h.weight < 0 for h in hits):
            return hits
        # An accusation in quotation marks (网传执行干警“暴力执法”) is reported or answered, not made:
        # it counts half.
        norm = normalized if normalized is not None else _norm(text)
        spans = [(m.start(), m.end()) for m in _QUOTED.finditer(norm)]
        out = []
        for hit, start in zip(hits, starts, strict=True):
            if hit.weight < 0 and any(a < start < b for a, b in spans):
                hit = Hit(hit.term, hit.weight, hit.negated, hit.degree * QUOTED_SHARE, quoted=True)
            out.append(hit)
        return out

    def _weighted_hits(
        self, pattern: re.Pattern[str] | None, weights: dict[str, float], text: str, normalized: str | None
    ) -> tuple[list[Hit], list[int]]:
        """The hits of ``pattern`` and their offsets in the normalized text."""
        if pattern is None:
            return [], []
        norm = normalized if normalized is not None else _norm(text)
        hits = []
        starts = []
        for m in pattern.finditer(norm):
            term = m.group()
            if term.startswith("["):
                # An emoticon code ([怒], [泪]) says how the poster feels: the words before it
                # (无语[怒], 受不了了[泪]) do not negate it.
                negated, degree = False, 1.0
            else:
                negated, degree = self._modifiers(self._context(norm, m.start()))
            hits.append(Hit(term, weights[term], negated, degree))
            starts.append(m.start())
        return hits, starts

    def _modifiers(self, ctx: str) -> tuple[bool, float]:
        """(negated, degree) of a term from its context; memoized: the few characters or words
        before a term repeat across documents (per-hit work was a tenth of the classifier's time)."""
        found = self._memo.get(ctx)
        if found is None:
            # Degree words are blanked first so 非常 (very) is not read as the negation 非.
            bare = ctx if self.words else self._blank_degree(ctx)
            negated = any(self._ends_with_word(bare, neg) or (not self.words and neg in bare) for neg in self.negation)
            degree = 1.0
            for word, factor in self.degree.items():
                if (self.words and f" {word} " in f" {ctx} ") or (not self.words and word in ctx):
                    degree = max(degree, factor) if factor >= 1 else min(degree, factor)
            if len(self._memo) > 100_000:
                self._memo.clear()
            found = self._memo[ctx] = (negated, degree)
        return found

    def _blank_degree(self, ctx: str) -> str:
        for word in sorted(self.degree, key=len, reverse=True):
            ctx = ctx.replace(word, "#" * len(word))
        return ctx

    def _ends_with_word(self, ctx: str, word: str) -> bool:
        return f" {word} " in f" {ctx} " if self.words else ctx.endswith(word)

    def risk_hits(self, text: str, normalized: str | None = None) -> list[Hit]:
        if self._risk_re is None:
            return []
        found: dict[str, Hit] = {}
        for m in self._risk_re.finditer(normalized if normalized is not None else _norm(text)):
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
