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
_BREAK_CHARS = "，。！？；、,.!?;:：\n"
_CLAUSE_BREAK = re.compile(f"[{re.escape(_BREAK_CHARS)}]")
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


class _Scan:
    """Every occurrence of any of a language's lexicon terms (sentiment, stance and risk together) in
    a text, by one Aho-Corasick pass; the last text's occurrences are kept, since the engine asks for
    the sentiment, the stance and the risk terms of the same piece in turn."""

    def __init__(self, terms: list[str]) -> None:
        import ahocorasick

        self._ac = ahocorasick.Automaton()
        for term in set(terms):
            if term:
                self._ac.add_word(term, term)
        self._ac.make_automaton()
        self._last: tuple[str, list[tuple[int, int, str]]] | None = None

    def prime(self, text: str, occurrences: list[tuple[int, int, str]]) -> None:
        """Take ``text``'s occurrences as found by another pass over it (the classifier reads a piece
        once for the topic rules and the lexicon: ``classify.query.QuerySet.scan``)."""
        self._last = (text, occurrences)

    def occurrences(self, text: str) -> list[tuple[int, int, str]]:
        """(start, end, term), by start and then longest first."""
        last = self._last
        if last is not None and last[0] is text:
            return last[1]
        found = sorted(((end - len(term) + 1, -len(term), term) for end, term in self._ac.iter(text)))
        out = [(start, start - neg_len, term) for start, neg_len, term in found]
        self._last = (text, out)
        return out


class _Matcher:
    """Leftmost-longest, non-overlapping occurrences of a term list in a text: what the alternation
    (longest term first) finds. Chinese terms (substrings) come from the language's one
    Aho-Corasick scan (:class:`_Scan`): one pass over the piece for the sentiment, stance and risk
    terms together, however many terms (with ~260 sentiment terms the alternation alone took ~65 us
    on a ~900-character piece). Vietnamese terms, which must sit on word boundaries, keep the
    alternation (a longest match that fails the boundary gives way to a shorter one there)."""

    def __init__(self, terms: list[str], words: bool, scan: _Scan | None) -> None:
        self._terms = frozenset(t for t in terms if t)
        self._re = _alternation(terms, words) if words else None
        self._scan = scan if not words and self._terms else None

    def __bool__(self) -> bool:
        return self._re is not None or self._scan is not None

    def finditer(self, text: str) -> list[tuple[int, str]]:
        """(start, term) of each occurrence, in text order."""
        if self._scan is not None:
            out = []
            end_of_last = 0
            terms = self._terms
            for start, end, term in self._scan.occurrences(text):
                if start >= end_of_last and term in terms:
                    out.append((start, term))
                    end_of_last = end
            return out
        if self._re is not None:
            return [(m.start(), m.group()) for m in self._re.finditer(text)]
        return []


class LanguageLexicon:
    def __init__(self, lang: str, data: dict[str, Any]) -> None:
        self.lang = lang
        self.words = lang != "zh"  # Vietnamese terms match whole words
        self.sentiment = {_norm(k): float(v) for k, v in (data.get("sentiment") or {}).items()}
        self.negation = sorted((_norm(w) for w in data.get("negation") or []), key=len, reverse=True)
        self.degree = {_norm(k): float(v) for k, v in (data.get("degree") or {}).items()}
        self.risk_terms = {_norm(k): float(v) for k, v in (data.get("risk_terms") or {}).items()}
        self.stance = {_norm(k): float(v) for k, v in (data.get("stance") or {}).items()}
        every = [*self.sentiment, *self.risk_terms, *self.stance]
        scan = _Scan(every) if not self.words and any(every) else None
        self.scan = scan
        self.scan_terms: list[str] = sorted(set(every)) if scan is not None else []
        self._sent_re = _Matcher(list(self.sentiment), self.words, scan)
        self._risk_re = _Matcher(list(self.risk_terms), self.words, scan)
        self._stance_re = _Matcher(list(self.stance), self.words, scan)
        self._memo: dict[str, tuple[bool, float]] = {}

    def _context(self, text: str, start: int) -> str:
        """The text just before ``start`` in the same clause (where negation / degree words sit)."""
        if not self.words:
            # Chinese: the last 4 characters, cut at a clause break among them (as splitting a
            # longer window at every break and keeping the last part's last 4 characters did).
            window = text[max(0, start - 4) : start]
            for i in range(len(window) - 1, -1, -1):
                if window[i] in _BREAK_CHARS:
                    return window[i + 1 :]
            return window
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
        self, pattern: _Matcher, weights: dict[str, float], text: str, normalized: str | None
    ) -> tuple[list[Hit], list[int]]:
        """The hits of ``pattern`` and their offsets in the normalized text."""
        if not pattern:
            return [], []
        norm = normalized if normalized is not None else _norm(text)
        hits = []
        starts = []
        for start, term in pattern.finditer(norm):
            if term.startswith("["):
                # An emoticon code ([怒], [泪]) says how the poster feels: the words before it
                # (无语[怒], 受不了了[泪]) do not negate it.
                negated, degree = False, 1.0
            else:
                negated, degree = self._modifiers(self._context(norm, start))
            hits.append(Hit(term, weights[term], negated, degree))
            starts.append(start)
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
        if not self._risk_re:
            return []
        found: dict[str, Hit] = {}
        for _, term in self._risk_re.finditer(normalized if normalized is not None else _norm(text)):
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
