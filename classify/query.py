"""The watch-query language: boolean queries for watchlists and topic rules.

Operators press-monitoring users know, in precedence order (tightest first):

- ``"exact phrase"``, ``term``, ``prefix*`` (a trailing ``*`` matches any word ending),
- field prefixes ``title:``, ``text:``, ``source:``, ``lang:`` on a term, phrase or group
  (``title:(冤案 OR 暴力执法)``); an unprefixed term searches the title and the text,
- ``NOT x`` (also ``-x``),
- ``a NEAR/n b``: both occur in the same field within ``n`` words of each other (either order),
- ``a AND b`` (also written by juxtaposition: ``a b``),
- ``a OR b``,
- parentheses.

Operators are upper case (``AND``, ``OR``, ``NOT``, ``NEAR/n``); lower-case ``and`` is a term.

Matching rules, chosen for Chinese and Vietnamese:

- A term containing CJK characters matches as a substring (Chinese has no spaces; 执行 also finds
  执行局), so ``儋州法院`` matches wherever those four characters appear.
- A Latin-script (Vietnamese, English) term matches whole words: ``an`` does not match ``Yên``'s
  neighbour ``Lâm`` or the word ``ban``. Phrases match their words in order across spaces or
  punctuation.
- Case never matters (Unicode case folding after NFKC, so full-width ``ＡＢＣ`` equals ``abc``).
- Diacritics: a term typed without any diacritic (``cuong che``) also matches text with them
  (``cưỡng chế``), because people type Vietnamese without marks in a hurry; a term typed with
  diacritics matches only that spelling (``Hưng Yên`` does not match ``hung yen``), since the marks
  distinguish words (``án`` judgment vs ``an`` safe). Both tone placements of oa / oe / uy match
  (``hoà`` = ``hòa``, ``thuỷ`` = ``thủy``).
- ``lang:zh`` matches ``zh``, ``zh-CN``, ``zh-Hant``...; ``source:`` matches the source key or name.

``NEAR/n`` counts words: Latin words by spaces, Chinese by the classifier's segmenter (jieba with
the domain dictionary), loaded only when a query with ``NEAR`` meets Chinese text.

Parse errors raise :class:`QuerySyntaxError` with the 0-based character ``position``.
"""

from __future__ import annotations

import bisect
import re
import unicodedata
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache

FIELDS = ("title", "text", "source", "lang")
DEFAULT_FIELDS = ("title", "text")

# CJK ideographs, kana, hangul, CJK symbols: runs of these are matched as substrings.
_CJK_RANGES = (
    "\u2e80-\u2fdf\u3005\u3007\u3021-\u3029\u3040-\u30ff\u3100-\u312f\u31a0-\u31bf\u3400-\u4dbf"
    "\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff\U00020000-\U0002fa1f"
)
_CJK_CHAR = re.compile(f"[{_CJK_RANGES}]")
# A "Latin word" character: a Unicode word character that is not CJK (letters of any alphabet, digits).
_WORD_CLASS = f"[^\\W{_CJK_RANGES}]"
_WORD_CHAR = re.compile(_WORD_CLASS)
_LATIN_WORD = re.compile(f"{_WORD_CLASS}+")
_CJK_RUN = re.compile(f"[{_CJK_RANGES}]+")


class QuerySyntaxError(ValueError):
    """A query that cannot be parsed; ``position`` is the 0-based character offset of the problem."""

    def __init__(self, message: str, position: int, query: str = "") -> None:
        self.position = position
        self.query = query
        self.reason = message
        super().__init__(f"{message} at position {position}" + (f" in query {query!r}" if query else ""))


# --------------------------------------------------------------------------------------------
# Text normalization (shared by query terms and documents, so both sides agree)


def _build_strip_table() -> dict[int, str]:
    table: dict[int, str] = {}
    for start, end in ((0x00C0, 0x024F), (0x1E00, 0x1EFF)):
        for code in range(start, end + 1):
            base = unicodedata.normalize("NFD", chr(code))[0]
            if base != chr(code) and ord(base) < 0x250:
                table[code] = base
    # Not decomposable in Unicode but written without its bar by people typing without marks.
    table[ord("đ")] = "d"
    table[ord("Đ")] = "D"
    return table


_STRIP_TABLE = _build_strip_table()
_MARKED = re.compile("[" + "".join(re.escape(chr(code)) for code in sorted(_STRIP_TABLE)) + "]")


# Vietnamese has two tone-placement conventions for the open syllables oa, oe, uy: "hòa / hoà",
# "thủy / thuỷ", "khỏe / khoẻ". Both sides are brought to the tone-on-first-vowel form; the
# rewrite swaps two characters for two, so offsets stay valid.
_TONE_SWAP = {
    f"{v}{toned}": f"{unicodedata.normalize('NFC', v + mark)}{base}"
    for v, base, toned_list in (("o", "a", "àáảãạ"), ("o", "e", "èéẻẽẹ"), ("u", "y", "ỳýỷỹỵ"))
    for toned, mark in zip(toned_list, ("\u0300", "\u0301", "\u0309", "\u0303", "\u0323"), strict=True)
}
_TONE_RE = re.compile("(?:" + "|".join(_TONE_SWAP) + ")(?![^\\W\\d_])")


def normalize_vi_tones(text: str) -> str:
    """'hoà' -> 'hòa', 'thuỷ' -> 'thủy' (only where the cluster ends the syllable: 'toàn' stays)."""
    return _TONE_RE.sub(lambda m: _TONE_SWAP[m.group()], text)


def nfkc(text: str) -> str:
    """``unicodedata.normalize("NFKC", text)``, faster on typical Chinese text.

    Chinese news is rarely NFKC as written: full-width punctuation (，！：（）) and … are
    compatibility characters, so the full normalization ran on nearly every piece (~90 us at ~900
    characters, a tenth of the classifier's time). Full-width ASCII and the ideographic space map to
    one character each (a numpy pass over the code points) and … to "..."; when the result is then
    NFKC-normalized it is the normalization of the text (those characters decompose to themselves'
    ASCII forms with combining class 0), otherwise the full normalization runs as before."""
    if unicodedata.is_normalized("NFKC", text):
        return text
    import numpy as np

    code = np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32).copy()
    full_width = (code >= 0xFF01) & (code <= 0xFF5E)
    code[full_width] -= 0xFEE0
    code[code == 0x3000] = 0x20
    mapped = code.tobytes().decode("utf-32-le")
    if "…" in mapped:
        mapped = mapped.replace("…", "...")
    if unicodedata.is_normalized("NFKC", mapped):
        return mapped
    return unicodedata.normalize("NFKC", text)


def normalize(text: str) -> str:
    """NFKC + case folding + one Vietnamese tone placement: the form queries and documents are matched in."""
    return normalize_vi_tones(nfkc(text).casefold())


def strip_marks(text: str) -> str:
    """Remove Latin diacritics one character for one character (offsets stay valid)."""
    # Most Chinese text has no marked letter: one scan instead of a per-character translation.
    return text.translate(_STRIP_TABLE) if _MARKED.search(text) else text


def has_cjk(text: str) -> bool:
    return _CJK_CHAR.search(text) is not None


# --------------------------------------------------------------------------------------------
# Documents


class PreparedDoc:
    """A document normalized once, for matching many queries against it."""

    __slots__ = ("_memo", "_positions", "_stripped", "lang", "texts")

    def __init__(self, doc: Mapping[str, str | None]) -> None:
        self.texts: dict[str, str] = {}
        for name in ("title", "text", "source"):
            value = doc.get(name)
            self.texts[name] = normalize(value) if isinstance(value, str) else ""
        lang = doc.get("lang")
        self.lang = normalize(lang).strip() if isinstance(lang, str) else ""
        self._stripped: dict[str, str] = {}
        self._positions: dict[str, list[int]] = {}
        # Term results, keyed by (pattern, stripped, fields): many rules share terms, and explain()
        # asks the same terms again.
        self._memo: dict[tuple[str, bool, tuple[str, ...]], bool] = {}

    def field_text(self, name: str, stripped: bool) -> str:
        text = self.texts.get(name, "")
        if not stripped:
            return text
        if name not in self._stripped:
            self._stripped[name] = strip_marks(text)
        return self._stripped[name]

    def word_index(self, name: str, offset: int) -> int:
        """The index of the word containing character ``offset`` of field ``name``."""
        starts = self._positions.get(name)
        if starts is None:
            starts = _word_starts(self.texts.get(name, ""))
            self._positions[name] = starts
        return max(0, bisect.bisect_right(starts, offset) - 1)


def _word_starts(text: str) -> list[int]:
    """Start offsets of the words of ``text``: Latin words by regex, Chinese runs by the segmenter."""
    starts: list[int] = []
    for match in _LATIN_WORD.finditer(text):
        starts.append(match.start())
    for match in _CJK_RUN.finditer(text):
        offset = match.start()
        for word in _segment_cjk(match.group()):
            starts.append(offset)
            offset += len(word)
    starts.sort()
    return starts


def _segment_cjk(run: str) -> list[str]:
    from classify.tokenize import segment_zh

    return segment_zh(run)


DocLike = Mapping[str, str] | Mapping[str, str | None] | PreparedDoc


def prepare(doc: DocLike) -> PreparedDoc:
    return doc if isinstance(doc, PreparedDoc) else PreparedDoc(doc)


# --------------------------------------------------------------------------------------------
# The query tree


@dataclass(frozen=True)
class Span:
    field: str
    start: int  # first word index
    end: int  # last word index


class Node:
    def matches(self, doc: PreparedDoc) -> bool:
        raise NotImplementedError

    def matched_terms(self, doc: PreparedDoc) -> Iterator[str]:
        """Terms in positive positions that occur in the document."""
        raise NotImplementedError

    def spans(self, doc: PreparedDoc) -> list[Span]:
        raise NotImplementedError


@dataclass(frozen=True)
class Term(Node):
    raw: str  # as written (without quotes)
    fields: tuple[str, ...]
    phrase: bool = False
    prefix: bool = False
    position: int = 0
    _pattern: re.Pattern[str] = field(init=False, repr=False, compare=False)
    _stripped: bool = field(init=False, repr=False, compare=False)
    _needle: str = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        norm = normalize(self.raw)
        stripped = strip_marks(norm)
        object.__setattr__(self, "_stripped", stripped == norm)
        object.__setattr__(self, "_pattern", _term_pattern(norm, self.prefix))
        # A plain substring every match must contain (the longest word): a fast C-level test
        # that rules out most documents before the regular expression runs.
        object.__setattr__(self, "_needle", max(norm.split(), key=len) if norm.split() else "")

    @property
    def label(self) -> str:
        body = f'"{self.raw}"' if self.phrase else self.raw + ("*" if self.prefix else "")
        if self.fields == DEFAULT_FIELDS:
            return body
        return f"{self.fields[0]}:{body}"

    def _lang_match(self, doc: PreparedDoc) -> bool:
        want = normalize(self.raw).strip()
        if not doc.lang:
            return want in ("und", "")
        return doc.lang == want or doc.lang.startswith(want + "-") or (self.prefix and doc.lang.startswith(want))

    def matches(self, doc: PreparedDoc) -> bool:
        if self.fields == ("lang",):
            return self._lang_match(doc)
        key = (self._pattern.pattern, self._stripped, self.fields)
        hit = doc._memo.get(key)
        if hit is None:
            hit = False
            for name in self.fields:
                text = doc.field_text(name, self._stripped)
                if self._needle in text and self._pattern.search(text):
                    hit = True
                    break
            doc._memo[key] = hit
        return hit

    def matched_terms(self, doc: PreparedDoc) -> Iterator[str]:
        if self.matches(doc):
            yield self.label

    def spans(self, doc: PreparedDoc) -> list[Span]:
        out: list[Span] = []
        for name in self.fields:
            if name == "lang":
                continue
            for m in self._pattern.finditer(doc.field_text(name, self._stripped)):
                out.append(Span(name, doc.word_index(name, m.start()), doc.word_index(name, max(m.end() - 1, 0))))
        return out


@lru_cache(maxsize=4096)
def _term_pattern(norm: str, prefix: bool) -> re.Pattern[str]:
    words = norm.split()
    parts: list[str] = []
    for i, word in enumerate(words):
        if i:
            both_latin = _WORD_CHAR.match(words[i - 1][-1]) and _WORD_CHAR.match(word[0])
            # Words of a phrase may be separated by spaces or punctuation ("thi hành án" / "thi-hành-án").
            parts.append(r"\W+" if both_latin else r"\W*")
        parts.append(re.escape(word))
    body = "".join(parts)
    if _WORD_CHAR.match(norm[0]):
        body = f"(?<!{_WORD_CLASS})" + body
    if prefix:
        body += f"{_WORD_CLASS}*"
    elif _WORD_CHAR.match(norm[-1]):
        body += f"(?!{_WORD_CLASS})"
    return re.compile(body)


@dataclass(frozen=True)
class And(Node):
    children: tuple[Node, ...]

    def matches(self, doc: PreparedDoc) -> bool:
        return all(c.matches(doc) for c in self.children)

    def matched_terms(self, doc: PreparedDoc) -> Iterator[str]:
        for c in self.children:
            yield from c.matched_terms(doc)


@dataclass(frozen=True)
class Or(Node):
    children: tuple[Node, ...]

    def matches(self, doc: PreparedDoc) -> bool:
        return any(c.matches(doc) for c in self.children)

    def matched_terms(self, doc: PreparedDoc) -> Iterator[str]:
        for c in self.children:
            if c.matches(doc):
                yield from c.matched_terms(doc)

    def spans(self, doc: PreparedDoc) -> list[Span]:
        return [s for c in self.children for s in c.spans(doc)]


@dataclass(frozen=True)
class Not(Node):
    child: Node

    def matches(self, doc: PreparedDoc) -> bool:
        return not self.child.matches(doc)

    def matched_terms(self, doc: PreparedDoc) -> Iterator[str]:
        return iter(())


@dataclass(frozen=True)
class Near(Node):
    left: Node
    right: Node
    distance: int

    def _pairs(self, doc: PreparedDoc) -> list[Span]:
        lefts = self.left.spans(doc)
        if not lefts:
            return []
        rights = self.right.spans(doc)
        out: list[Span] = []
        for a in lefts:
            for b in rights:
                if a.field != b.field:
                    continue
                gap = b.start - a.end if b.start >= a.start else a.start - b.end
                if gap <= self.distance:
                    out.append(Span(a.field, min(a.start, b.start), max(a.end, b.end)))
        return out

    def matches(self, doc: PreparedDoc) -> bool:
        return bool(self._pairs(doc))

    def matched_terms(self, doc: PreparedDoc) -> Iterator[str]:
        if self.matches(doc):
            yield from self.left.matched_terms(doc)
            yield from self.right.matched_terms(doc)

    def spans(self, doc: PreparedDoc) -> list[Span]:
        return self._pairs(doc)


# --------------------------------------------------------------------------------------------
# Many queries against one document: one pass finds every term's needle


def needles(node: Node) -> frozenset[str] | None:
    """Substrings (of the mark-stripped normalized text) of which a document matching ``node``
    contains at least one; ``None`` when there is no such guarantee (``NOT x``, ``lang:``).

    A term's needle is its longest word; stripping marks maps text one character to one, so a
    needle found in the normalized text is found, stripped, in the stripped text."""
    if isinstance(node, Term):
        if node.fields == ("lang",) or not node._needle:
            return None
        return frozenset([strip_marks(node._needle)])
    if isinstance(node, And):
        sets = [n for n in (needles(c) for c in node.children) if n is not None]
        return min(sets, key=len) if sets else None  # every child must match: any one child's suffice
    if isinstance(node, Or):
        out: set[str] = set()
        for c in node.children:
            n = needles(c)
            if n is None:
                return None
            out |= n
        return frozenset(out)
    if isinstance(node, Near):
        left, right = needles(node.left), needles(node.right)
        if left is None or right is None:
            return left or right
        return min(left, right, key=len)
    return None


class QuerySet:
    """Named queries compiled for many documents: every needle of every query sits in one
    Aho-Corasick automaton, so one pass over a document says which queries can match at all, and
    only those are evaluated (most rules match no document: at ~900 characters this cut the topic
    rules' cost by ~10x)."""

    def __init__(self, queries: Mapping[str, Query], passengers: Sequence[str] = ()) -> None:
        """``passengers``: more words found by the same pass (:meth:`scan`), e.g. the lexicon's terms,
        so a piece is read once for the rules and the lexicon."""
        import ahocorasick

        self.queries = dict(queries)
        self._always: list[str] = []
        self._automaton = ahocorasick.Automaton()
        by_needle: dict[str, list[str]] = {}
        for name, query in self.queries.items():
            found = needles(query.root)
            if found is None:
                self._always.append(name)
                continue
            for needle in found:
                by_needle.setdefault(needle, []).append(name)
        # Each needle's value is its index; a document's distinct needles are collected first (a
        # long text repeats its needles many times) and mapped to their queries once.
        # A passenger's value is -1 - its index (a word both needle and passenger: the needle's
        # index, and it is in ``_both``).
        self._needle_names: list[tuple[str, ...]] = []
        for needle, names in by_needle.items():
            self._automaton.add_word(needle, len(self._needle_names))
            self._needle_names.append(tuple(names))
        self._passengers: list[str] = []
        self._both: dict[int, str] = {}
        for word in dict.fromkeys(w for w in passengers if w):
            if word in by_needle:
                self._both[self._automaton.get(word)] = word
            else:
                self._automaton.add_word(word, -1 - len(self._passengers))
                self._passengers.append(word)
        self._empty = not by_needle and not self._passengers
        if not self._empty:
            self._automaton.make_automaton()

    @staticmethod
    def haystack(doc: PreparedDoc) -> str:
        """What the needles are looked for in: title, text and source (marks stripped), one a line."""
        return "\n".join(doc.field_text(name, True) for name in ("title", "text", "source"))

    def candidates(self, doc: PreparedDoc) -> list[str]:
        """The names of the queries that may match ``doc``, in the order they were given."""
        return self.scan(doc)[0]

    def scan(self, doc: PreparedDoc) -> tuple[list[str], str, list[tuple[int, int, str]]]:
        """One pass over ``doc``: the candidate queries (as :meth:`candidates`), the haystack read
        and the passengers' occurrences in it, as (start, end, word) by start, longest first."""
        found = set(self._always)
        haystack = ""
        occurrences: list[tuple[int, int, str]] = []
        if not self._empty:
            haystack = self.haystack(doc)
            if self._passengers or self._both:
                passengers, both = self._passengers, self._both
                needles: set[int] = set()
                raw: list[tuple[int, int, str]] = []  # (start, -length, word): by start, longest first
                for end, k in self._automaton.iter(haystack):
                    if k >= 0:
                        needles.add(k)
                        word = both.get(k)
                        if word is None:
                            continue
                    else:
                        word = passengers[-1 - k]
                    raw.append((end - len(word) + 1, -len(word), word))
                raw.sort()
                occurrences = [(start, start - neg, word) for start, neg, word in raw]
            else:
                needles = {k for _, k in self._automaton.iter(haystack)}
            for k in needles:
                found.update(self._needle_names[k])
        return [name for name in self.queries if name in found], haystack, occurrences


# --------------------------------------------------------------------------------------------
# The public object


@dataclass(frozen=True)
class Query:
    """A parsed watch query."""

    text: str
    root: Node

    def matches(self, doc: DocLike) -> bool:
        """True if ``doc`` (keys title, text, source, lang; or a :class:`PreparedDoc`) matches."""
        return self.root.matches(prepare(doc))

    def explain(self, doc: DocLike) -> list[str]:
        """The query's terms that matched (in query order, once each); empty if the query does not match."""
        prepared = prepare(doc)
        if not self.root.matches(prepared):
            return []
        return list(dict.fromkeys(self.root.matched_terms(prepared)))

    def terms(self) -> list[str]:
        """Every term of the query (also negated ones), for display."""
        out: list[str] = []

        def walk(node: Node) -> None:
            if isinstance(node, Term):
                out.append(node.label)
            elif isinstance(node, And | Or):
                for c in node.children:
                    walk(c)
            elif isinstance(node, Not):
                walk(node.child)
            elif isinstance(node, Near):
                walk(node.left)
                walk(node.right)

        walk(self.root)
        return list(dict.fromkeys(out))


# --------------------------------------------------------------------------------------------
# Lexer and parser


@dataclass(frozen=True)
class _Tok:
    kind: str  # WORD PHRASE LPAREN RPAREN AND OR NOT NEAR FIELD EOF
    value: str
    pos: int
    prefix: bool = False
    distance: int = 0


_NEAR_RE = re.compile(r"NEAR/(\d+)$")
_SPECIAL = set('()"')


def _lex(text: str) -> list[_Tok]:
    toks: list[_Tok] = []
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch.isspace():
            i += 1
            continue
        if ch == "(":
            toks.append(_Tok("LPAREN", ch, i))
            i += 1
            continue
        if ch == ")":
            toks.append(_Tok("RPAREN", ch, i))
            i += 1
            continue
        if ch in '"“”':
            close = {'"': '"', "“": "”", "”": "”"}[ch]
            end = text.find(close, i + 1)
            if end < 0 and close != '"':
                end = text.find('"', i + 1)
            if end < 0:
                raise QuerySyntaxError("unterminated phrase (missing closing quote)", i, text)
            body = text[i + 1 : end]
            if not body.strip():
                raise QuerySyntaxError("empty phrase", i, text)
            toks.append(_Tok("PHRASE", body.strip(), i))
            i = end + 1
            continue
        # "-term" is NOT term, only at the start of a word (so "jinri-danzhou" stays one word).
        word_start = not toks or toks[-1].kind in ("LPAREN", "AND", "OR", "NOT", "FIELD") or text[i - 1].isspace()
        if ch == "-" and word_start and i + 1 < n and not text[i + 1].isspace():
            toks.append(_Tok("NOT", "-", i))
            i += 1
            continue
        start = i
        while i < n and not text[i].isspace() and text[i] not in _SPECIAL and text[i] not in "“”":
            if text[i] == ":" and text[start:i].lower() in FIELDS:
                break
            i += 1
        word = text[start:i]
        if i < n and text[i] == ":" and word.lower() in FIELDS:
            toks.append(_Tok("FIELD", word.lower(), start))
            i += 1
            if i >= n or text[i].isspace():
                raise QuerySyntaxError(f"expected a term after '{word}:'", i, text)
            continue
        if word in ("AND", "OR", "NOT"):
            toks.append(_Tok(word, word, start))
            continue
        if word.startswith("NEAR"):
            m = _NEAR_RE.match(word)
            if not m:
                raise QuerySyntaxError("NEAR needs a distance, e.g. NEAR/5", start, text)
            dist = int(m.group(1))
            if dist < 1 or dist > 1000:
                raise QuerySyntaxError("NEAR distance must be between 1 and 1000", start, text)
            toks.append(_Tok("NEAR", word, start, distance=dist))
            continue
        prefix = False
        if word.endswith("*"):
            prefix = True
            word = word.rstrip("*")
            if not word:
                raise QuerySyntaxError("a wildcard needs at least one character before '*'", start, text)
            if has_cjk(word):
                # Chinese terms already match as substrings; the star adds nothing.
                prefix = False
        if "*" in word:
            raise QuerySyntaxError("'*' is allowed only at the end of a word", start + word.index("*"), text)
        if not normalize(word).strip():
            raise QuerySyntaxError("empty term", start, text)
        toks.append(_Tok("WORD", word, start, prefix=prefix))
    toks.append(_Tok("EOF", "", n))
    return toks


class _Parser:
    """Recursive descent: or_expr := and_expr (OR and_expr)*; and_expr := near_expr ((AND)? near_expr)*;
    near_expr := unary (NEAR/n unary)*; unary := NOT unary | FIELD primary | primary."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.toks = _lex(text)
        self.i = 0

    def peek(self) -> _Tok:
        return self.toks[self.i]

    def take(self) -> _Tok:
        tok = self.toks[self.i]
        self.i += 1
        return tok

    def error(self, message: str, tok: _Tok) -> QuerySyntaxError:
        return QuerySyntaxError(message, tok.pos, self.text)

    def parse(self) -> Node:
        if self.peek().kind == "EOF":
            raise self.error("empty query", self.peek())
        node = self.or_expr(DEFAULT_FIELDS)
        tok = self.peek()
        if tok.kind == "RPAREN":
            raise self.error("unmatched ')'", tok)
        if tok.kind != "EOF":
            raise self.error(f"unexpected '{tok.value}'", tok)
        return node

    def or_expr(self, fields: tuple[str, ...]) -> Node:
        children = [self.and_expr(fields)]
        while self.peek().kind == "OR":
            self.take()
            children.append(self.and_expr(fields))
        return children[0] if len(children) == 1 else Or(tuple(children))

    _STARTS = ("WORD", "PHRASE", "LPAREN", "NOT", "FIELD")

    def and_expr(self, fields: tuple[str, ...]) -> Node:
        children = [self.near_expr(fields)]
        while True:
            kind = self.peek().kind
            if kind == "AND":
                self.take()
            elif kind not in self._STARTS:
                break
            children.append(self.near_expr(fields))
        return children[0] if len(children) == 1 else And(tuple(children))

    def near_expr(self, fields: tuple[str, ...]) -> Node:
        left_tok = self.peek()
        node = self.unary(fields)
        while self.peek().kind == "NEAR":
            op = self.take()
            right_tok = self.peek()
            right = self.unary(fields)
            self._check_near_operand(node, left_tok)
            self._check_near_operand(right, right_tok)
            node = Near(node, right, op.distance)
        return node

    def _check_near_operand(self, node: Node, tok: _Tok) -> None:
        ok = isinstance(node, Term | Near) or (
            isinstance(node, Or) and all(isinstance(c, Term | Near | Or) for c in node.children)
        )
        if not ok:
            raise self.error("NEAR joins terms, phrases or OR groups (not AND/NOT)", tok)
        if isinstance(node, Term) and node.fields == ("lang",):
            raise self.error("lang: cannot be used with NEAR", tok)

    def unary(self, fields: tuple[str, ...]) -> Node:
        tok = self.peek()
        if tok.kind == "NOT":
            self.take()
            if self.peek().kind not in self._STARTS:
                raise self.error(f"expected a term after '{tok.value}'", self.peek())
            return Not(self.unary(fields))
        if tok.kind == "FIELD":
            self.take()
            nxt = self.peek()
            if nxt.kind not in ("WORD", "PHRASE", "LPAREN"):
                raise self.error(f"expected a term, phrase or group after '{tok.value}:'", nxt)
            return self.primary((tok.value,))
        return self.primary(fields)

    def primary(self, fields: tuple[str, ...]) -> Node:
        tok = self.take()
        if tok.kind == "WORD":
            return Term(tok.value, fields, phrase=False, prefix=tok.prefix, position=tok.pos)
        if tok.kind == "PHRASE":
            return Term(tok.value, fields, phrase=True, position=tok.pos)
        if tok.kind == "LPAREN":
            if self.peek().kind == "RPAREN":
                raise self.error("empty parentheses", self.peek())
            node = self.or_expr(fields)
            close = self.take()
            if close.kind != "RPAREN":
                raise self.error("missing ')' to close the '(' at position " + str(tok.pos), close)
            return node
        if tok.kind == "EOF":
            raise self.error("unexpected end of query: a term is missing", tok)
        if tok.kind == "RPAREN":
            raise self.error("unexpected ')'", tok)
        raise self.error(f"expected a term before '{tok.value}'", tok)


def parse_query(text: str) -> Query:
    """Parse a watch query; raises :class:`QuerySyntaxError` naming the position of a problem."""
    if not isinstance(text, str):
        raise TypeError("query must be a string")
    return Query(text=text, root=_Parser(text).parse())


@lru_cache(maxsize=1024)
def cached_query(text: str) -> Query:
    """Parse once per distinct text (watch queries and topic rules are evaluated on every article)."""
    return parse_query(text)
