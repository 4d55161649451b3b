"""The topic taxonomy (YAML): topic keys, labels in zh / vi / en, and a watch-query rule each.

Rules are parsed when the taxonomy loads, so a typo in a rule fails at start-up with the topic and
the position named, not at 3 a.m. on the first article.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from classify.query import PreparedDoc, Query, QuerySet, QuerySyntaxError, parse_query
from presswatch.yamlfile import read_yaml

TAXONOMY_FILE = Path(__file__).parent / "data" / "taxonomy.yaml"

# Rule scores: a hit in the title says more than one in the body; each further distinct term adds.
RULE_SCORE_TITLE = 0.9
RULE_SCORE_BODY = 0.6
RULE_SCORE_PER_EXTRA_TERM = 0.08
RULE_SCORE_MAX = 0.95


#: Languages a topic label may be given in (zh-CN is looked up as zh).
LABEL_LANGUAGES = ("zh", "vi", "en")


class TaxonomyError(ValueError):
    pass


@dataclass(frozen=True)
class Topic:
    key: str
    labels: dict[str, str]
    rule: Query | None

    def label(self, language: str) -> str:
        lang = language.split("-")[0].lower()
        return self.labels.get(lang) or self.labels.get("en") or self.key


@dataclass(frozen=True)
class RuleHit:
    score: float
    terms: list[str]
    in_title: bool


@dataclass
class Taxonomy:
    topics: dict[str, Topic] = field(default_factory=dict)
    source: str = ""
    _rules: QuerySet | None = field(default=None, repr=False, compare=False)

    def label(self, key: str, language: str) -> str:
        topic = self.topics.get(key)
        return topic.label(language) if topic else key

    def rule_set(self, passengers: Sequence[str] = ()) -> QuerySet:
        """The topic rules compiled for many documents (``passengers``: see ``QuerySet``)."""
        return QuerySet({k: t.rule for k, t in self.topics.items() if t.rule is not None}, passengers)

    def rule_hits(self, doc: PreparedDoc, candidates: Sequence[str] | None = None) -> dict[str, RuleHit]:
        """The topics whose rules match ``doc``; ``candidates``: the rules that may match, when a
        ``rule_set().scan`` of the document already said so."""
        out: dict[str, RuleHit] = {}
        title_doc: _TitleOnly | None = None
        if candidates is None:
            if self._rules is None:
                self._rules = self.rule_set()
            candidates = self._rules.candidates(doc)
        for key in candidates:
            topic = self.topics[key]
            assert topic.rule is not None
            terms = topic.rule.explain(doc)
            if not terms:
                continue
            title_doc = title_doc or _TitleOnly(doc)
            in_title = topic.rule.matches(title_doc)
            base = RULE_SCORE_TITLE if in_title else RULE_SCORE_BODY
            score = min(RULE_SCORE_MAX, base + RULE_SCORE_PER_EXTRA_TERM * (len(terms) - 1))
            out[key] = RuleHit(round(score, 3), terms, in_title)
        return out


class _TitleOnly(PreparedDoc):
    """A view of a prepared document whose body is empty (to ask: does the title alone match?)."""

    def __init__(self, doc: PreparedDoc) -> None:
        self.texts = {"title": doc.texts["title"], "text": "", "source": doc.texts["source"]}
        self.lang = doc.lang
        self._stripped = {k: v for k, v in doc._stripped.items() if k != "text"}
        self._positions = {k: v for k, v in doc._positions.items() if k != "text"}
        self._memo = {}


def load_taxonomy(path: str | Path | None = None) -> Taxonomy:
    file = Path(path) if path else TAXONOMY_FILE
    if not file.is_file():
        raise TaxonomyError(f"taxonomy file not found: {file}")
    data = read_yaml(file, TaxonomyError) or {}
    topics: dict[str, Topic] = {}
    for key, spec in (data.get("topics") or {}).items():
        spec = spec or {}
        raw_labels = spec.get("labels") or {}
        # A label needs quoting when it holds a comma ({vi: Khiếu nại, tố cáo} is two keys in YAML):
        # an unknown language or an empty label fails here, not in a digest.
        odd = sorted(str(k) for k, v in raw_labels.items()
                     if k not in LABEL_LANGUAGES or not isinstance(v, str) or not v)
        if odd:
            raise TaxonomyError(f"{file}: topic '{key}': bad labels {odd} (quote a label that holds a comma)")
        labels = {str(k): str(v) for k, v in raw_labels.items()}
        rule_text = spec.get("rule")
        rule = None
        if rule_text:
            try:
                rule = parse_query(" ".join(str(rule_text).split()))
            except QuerySyntaxError as exc:
                raise TaxonomyError(f"{file}: topic '{key}': bad rule: {exc}") from None
        topics[str(key)] = Topic(str(key), labels, rule)
    if not topics:
        raise TaxonomyError(f"{file}: no topics defined")
    return Taxonomy(topics=topics, source=str(file))


@functools.cache
def _labels(path: str) -> dict[str, dict[str, str]]:
    """Topic key -> {zh, vi, en} labels of a taxonomy file (rules are not parsed: labels are cheap)."""
    file = Path(path)
    data = read_yaml(file, TaxonomyError) if file.is_file() else {}
    topics = (data or {}).get("topics") or {}
    return {str(k): {str(lang): str(text) for lang, text in ((v or {}).get("labels") or {}).items()}
            for k, v in topics.items()}


def topic_label(key: str, language: str, taxonomy_file: str | Path | None = None) -> str:
    """The one answer to "what do people call topic ``key`` in ``language``": its label in the
    configured taxonomy (``classify.taxonomy_file``, else the bundled one), then the bundled one's,
    then English, then the key itself (a topic a newer taxonomy dropped still shows something)."""
    lang = language.split("-")[0].lower()
    files = [str(taxonomy_file or _configured_taxonomy() or TAXONOMY_FILE), str(TAXONOMY_FILE)]
    for file in dict.fromkeys(files):
        labels = _labels(file).get(key)
        if labels:
            return labels.get(lang) or labels.get("en") or key
    return key


def topic_keys(taxonomy_file: str | Path | None = None) -> list[str]:
    """The configured taxonomy's topic keys, read once (filters and their choices; no rules parsed)."""
    return list(_labels(str(taxonomy_file or _configured_taxonomy() or TAXONOMY_FILE)))


def topic_labels(keys: Iterable[str], language: str) -> list[str]:
    return [topic_label(k, language) for k in keys]


def _configured_taxonomy() -> str:
    from settings import ConfigError, get_settings

    try:
        return get_settings().classify.taxonomy_file
    except ConfigError:  # a broken config is reported by the command that loads it; labels still show
        return ""
