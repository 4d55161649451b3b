"""The reasons of a classification: their typed shape, and the one way people read them.

The classifier (:mod:`classify.engine`) writes a :class:`Reasons` into ``classifications.reasons``;
every reader (alert messages, digests, reports, the web page, ``presswatch cases show``) takes the
stored JSON through :func:`parse_reasons` and renders it with :func:`describe_reasons`, so there is
one wording per factor, each factor is listed once, and no Python repr reaches a person. Because
the readers go through these TypedDicts, mypy flags a reader that probes a key the classifier
never writes. Words live in the one gettext catalog.

Alert reasons keep a condensed copy of the same shape (:func:`condense`): the level, score,
sentiment, topics, the weightiest factors and the matched terms at the time the alert fired.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any, Literal, NotRequired, TypedDict

from presswatch.i18n import N_, Translator, gettext, normalize_language


class Factor(TypedDict):
    """One weighted risk factor: ``contribution = weight * value`` (value in 0..1)."""

    factor: str
    weight: float
    value: float
    contribution: float
    detail: NotRequired[Any]  # terms, a sentence or model probabilities; for experts, not rendered


class RiskReasons(TypedDict):
    level: str
    score: float
    factors: list[Factor]
    how: NotRequired[str]


class SentimentReasons(TypedDict):
    label: str
    score: float
    model: NotRequired[dict[str, float]]
    lexicon: NotRequired[dict[str, Any]]
    model_polarity: NotRequired[float]
    lexicon_polarity: NotRequired[float]
    how: NotRequired[str]


class TopicReason(TypedDict):
    name: str  # the taxonomy key (labels come from classify.taxonomy.topic_label)
    score: float
    rule_terms: NotRequired[list[str]]
    in_title: NotRequired[bool]
    model: NotRequired[float]


class LanguageReason(TypedDict):
    value: str
    why: str


class Mention(TypedDict):
    query: str  # watch query name
    purpose: str  # org / official / topic ...
    terms: list[str]


class PrivacyFinding(TypedDict):
    kind: str
    excerpt: str  # masked by classify.privacy
    start: NotRequired[int]
    end: NotRequired[int]


class Correction(TypedDict):
    task: str
    label: str
    author: str


class Reasons(TypedDict, total=False):
    """What ``classifications.reasons`` holds (every key optional: older rows lack some)."""

    model_version: str
    lang: LanguageReason
    notes: list[str]
    mentions: list[Mention]
    topics: list[TopicReason]
    sentiment: SentimentReasons
    risk: RiskReasons
    matched_terms: list[str]  # flat: terms that matter for risk (mentions, sensitive, negative)
    factors: list[Factor]  # flat: the risk factors that contributed (> 0), weightiest first
    privacy: list[PrivacyFinding]
    corrections: list[Correction]


# Risk factors the classifier reports (classify.engine), as a reader would name them.
FACTOR_LABELS: dict[str, str] = {
    "negative_sentiment": N_("negative sentiment"),
    "sensitive_terms": N_("sensitive terms"),
    "hostility_model": N_("hostile language"),
    "names_organization": N_("names the organization"),
    "source_reach": N_("outlet reach"),
    "spread_velocity": N_("spread velocity"),
    "risk_model": N_("risk model"),
    "unsupported_language": N_("language not scored"),
}

SENTIMENT_LABELS: dict[str, str] = {
    "negative": N_("negative"),
    "neutral": N_("neutral"),
    "positive": N_("positive"),
}

RISK_LABELS: dict[str, str] = {"low": N_("low"), "medium": N_("medium"), "high": N_("high"), "critical": N_("CRITICAL")}

Section = Literal["risk", "sentiment", "topics", "terms", "factors", "privacy", "notes"]
SECTIONS: tuple[Section, ...] = ("risk", "sentiment", "topics", "terms", "factors", "privacy", "notes")

MAX_TERMS = 8
MAX_FACTORS = 4
MAX_FINDINGS = 3


def factor_label(name: str, language: str) -> str:
    """A risk factor's name for people in ``language`` (an unknown factor keeps its key)."""
    message = FACTOR_LABELS.get(name)
    return gettext(language, message) if message else name


def sentiment_label(value: str, language: str) -> str:
    message = SENTIMENT_LABELS.get(value)
    return gettext(language, message) if message else value


def risk_label(value: str, language: str) -> str:
    message = RISK_LABELS.get(value)
    return gettext(language, message) if message else value


# -- reading stored JSON ------------------------------------------------------------------------


def _num(value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return 0.0


def _strs(value: Any) -> list[str]:
    if not isinstance(value, list | tuple):
        return []
    out = []
    for v in value:
        if isinstance(v, Mapping):
            v = v.get("term")
        if v is not None and str(v).strip():
            out.append(str(v))
    return out


def _factor(value: Any) -> Factor | None:
    if not isinstance(value, Mapping) or not value.get("factor"):
        return None
    factor = Factor(factor=str(value["factor"]), weight=_num(value.get("weight")), value=_num(value.get("value")),
                    contribution=_num(value.get("contribution")))
    if value.get("detail") is not None:
        factor["detail"] = value["detail"]
    return factor


def _factors(value: Any) -> list[Factor]:
    return [f for f in (_factor(v) for v in value) if f is not None] if isinstance(value, list) else []


def _topic(value: Any) -> TopicReason | None:
    if isinstance(value, str) and value:
        return TopicReason(name=value, score=0.0)
    if not isinstance(value, Mapping) or not value.get("name"):
        return None
    topic = TopicReason(name=str(value["name"]), score=_num(value.get("score")))
    if isinstance(value.get("rule_terms"), list):
        topic["rule_terms"] = _strs(value["rule_terms"])
    if "in_title" in value:
        topic["in_title"] = bool(value["in_title"])
    if isinstance(value.get("model"), int | float):
        topic["model"] = float(value["model"])
    return topic


def parse_reasons(raw: Mapping[str, Any] | None) -> Reasons:
    """Stored reasons (any version's JSON, or an alert's condensed copy) as a typed :class:`Reasons`.

    Unknown keys are dropped and malformed values skipped, so a reader never fails on an old row.
    """
    out = Reasons()
    if not isinstance(raw, Mapping):
        return out
    if isinstance(raw.get("model_version"), str):
        out["model_version"] = raw["model_version"]
    lang = raw.get("lang")
    if isinstance(lang, Mapping) and lang.get("value"):
        out["lang"] = LanguageReason(value=str(lang["value"]), why=str(lang.get("why") or ""))
    if isinstance(raw.get("notes"), list):
        out["notes"] = [str(n) for n in raw["notes"] if n]
    mentions = []
    raw_mentions = raw.get("mentions")
    for m in raw_mentions if isinstance(raw_mentions, list) else []:
        if isinstance(m, Mapping) and m.get("query"):
            mentions.append(
                Mention(query=str(m["query"]), purpose=str(m.get("purpose") or ""), terms=_strs(m.get("terms")))
            )
        elif isinstance(m, str) and m:  # alerts before the typed contract kept query names only
            mentions.append(Mention(query=m, purpose="", terms=[]))
    if mentions:
        out["mentions"] = mentions
    if isinstance(raw.get("topics"), list):
        out["topics"] = [t for t in (_topic(v) for v in raw["topics"]) if t is not None]
    sentiment = raw.get("sentiment")
    if isinstance(sentiment, Mapping) and sentiment.get("label"):
        parsed = SentimentReasons(label=str(sentiment["label"]), score=_num(sentiment.get("score")))
        if isinstance(sentiment.get("lexicon"), Mapping):
            parsed["lexicon"] = dict(sentiment["lexicon"])
        if isinstance(sentiment.get("model"), Mapping):
            parsed["model"] = {str(k): _num(v) for k, v in sentiment["model"].items()}
        out["sentiment"] = parsed
    elif isinstance(sentiment, str) and sentiment:  # condensed alert copies before the typed contract
        out["sentiment"] = SentimentReasons(label=sentiment, score=0.0)
    risk = raw.get("risk")
    if isinstance(risk, Mapping) and risk.get("level"):
        out["risk"] = RiskReasons(level=str(risk["level"]), score=_num(risk.get("score")),
                                  factors=_factors(risk.get("factors")))
        if isinstance(risk.get("how"), str):
            out["risk"]["how"] = risk["how"]
    elif isinstance(risk, str) and risk:
        out["risk"] = RiskReasons(level=risk, score=_num(raw.get("risk_score")), factors=[])
    if isinstance(raw.get("matched_terms"), list):
        out["matched_terms"] = _strs(raw["matched_terms"])
    if isinstance(raw.get("factors"), list):
        out["factors"] = _factors(raw["factors"])
    privacy = []
    raw_privacy = raw.get("privacy")
    for f in raw_privacy if isinstance(raw_privacy, list) else []:
        if isinstance(f, Mapping) and f.get("kind"):
            privacy.append(PrivacyFinding(kind=str(f["kind"]), excerpt=str(f.get("excerpt") or "")))
        elif isinstance(f, str) and f:  # "kind excerpt" in condensed alert copies before the contract
            kind, _, excerpt = f.partition(" ")
            privacy.append(PrivacyFinding(kind=kind, excerpt=excerpt))
    if privacy:
        out["privacy"] = privacy
    corrections = raw.get("corrections")
    if isinstance(corrections, list):
        out["corrections"] = [
            Correction(task=str(c.get("task")), label=str(c.get("label")), author=str(c.get("author") or ""))
            for c in corrections if isinstance(c, Mapping)
        ]
    return out


def contributing_factors(reasons: Reasons) -> list[Factor]:
    """The risk factors that contributed, weightiest first, each factor once."""
    factors = reasons.get("factors")
    if not factors and "risk" in reasons:
        factors = reasons["risk"]["factors"]
    best: dict[str, Factor] = {}
    for f in factors or []:
        if f["contribution"] > 0 and (f["factor"] not in best or f["contribution"] > best[f["factor"]]["contribution"]):
            best[f["factor"]] = f
    return sorted(best.values(), key=lambda f: -f["contribution"])


def matched_terms(reasons: Reasons) -> list[str]:
    """The terms that matter, each once: the flat summary, else what older rows kept elsewhere."""
    terms = list(reasons.get("matched_terms") or [])
    for m in reasons.get("mentions") or []:
        terms += m["terms"]
    if "sentiment" in reasons:
        lexicon = reasons["sentiment"].get("lexicon") or {}
        terms += [str(h.get("term")) for h in lexicon.get("terms") or []
                  if isinstance(h, Mapping) and _num(h.get("weight")) < 0]
    # A watch query's phrase comes back quoted ('"thi hành án dân sự"'): people read the words.
    return list(dict.fromkeys(t.strip().strip('"“”') for t in terms if t and t.strip().strip('"“”')))


def condense(reasons: Reasons, *, topics: Collection[str] = ()) -> Reasons:
    """The part of a classification's reasons an alert keeps (what it fired on, for its message)."""
    out = Reasons()
    if "risk" in reasons:
        out["risk"] = RiskReasons(level=reasons["risk"]["level"], score=reasons["risk"]["score"], factors=[])
    if "sentiment" in reasons:
        out["sentiment"] = SentimentReasons(label=reasons["sentiment"]["label"], score=reasons["sentiment"]["score"])
    names = list(topics) or [t["name"] for t in reasons.get("topics") or []]
    if names:
        scores = {t["name"]: t["score"] for t in reasons.get("topics") or []}
        out["topics"] = [TopicReason(name=n, score=scores.get(n, 0.0)) for n in names]
    terms = matched_terms(reasons)
    for t in reasons.get("topics") or []:
        terms += t.get("rule_terms") or []
    terms = list(dict.fromkeys(terms))[:10]
    if terms:
        out["matched_terms"] = terms
    factors = contributing_factors(reasons)[:MAX_FACTORS]
    if factors:
        out["factors"] = [Factor(factor=f["factor"], weight=f["weight"], value=f["value"],
                                 contribution=round(f["contribution"], 2)) for f in factors]
    if reasons.get("mentions"):
        out["mentions"] = [Mention(query=m["query"], purpose=m["purpose"], terms=[]) for m in reasons["mentions"]]
    if reasons.get("privacy"):
        out["privacy"] = [PrivacyFinding(kind=f["kind"], excerpt=f["excerpt"]) for f in reasons["privacy"][:5]]
    notes = [n for n in reasons.get("notes") or [] if n]
    if notes:
        out["notes"] = notes[:3]
    return out


# -- the one rendering for people ---------------------------------------------------------------


def _quoted(terms: list[str], language: str) -> str:
    if normalize_language(language) == "zh-CN":
        return "".join(f"「{t}」" for t in terms)
    return ", ".join(f"“{t}”" for t in terms)


def describe_reasons(
    reasons: Mapping[str, Any] | None,
    language: str,
    *,
    sections: Collection[Section] = ("terms", "factors", "privacy"),
    limit: int | None = None,
) -> list[str]:
    """Short lines saying why a piece was classified as it was, in ``language``.

    ``sections`` chooses what to say (a digest shows risk and sentiment as badges, so it asks for
    the terms and factors only); each factor appears once, with its label and contribution; topic
    keys become their labels. Never fails on an old or odd row.
    """
    from classify.taxonomy import topic_label

    r = parse_reasons(reasons)  # idempotent: typed reasons pass through unchanged
    _ = Translator(language)
    lines: list[str] = []
    for section in SECTIONS:
        if section not in sections:
            continue
        if section == "risk" and "risk" in r:
            level = risk_label(r["risk"]["level"], language)
            lines.append(_("risk: {level} (score {score})", level=level, score=f"{r['risk']['score']:.2f}"))
        elif section == "sentiment" and "sentiment" in r:
            lines.append(_("sentiment: {value}", value=sentiment_label(r["sentiment"]["label"], language)))
        elif section == "topics" and r.get("topics"):
            names = [topic_label(topic["name"], language) for topic in r.get("topics") or []]
            lines.append(_("topics: {names}", names=_join(names, language)))
        elif section == "terms":
            terms = matched_terms(r)[:MAX_TERMS]
            if terms:
                lines.append(_("matched: {terms}", terms=_quoted(terms, language)))
        elif section == "factors":
            lines += [f"{factor_label(f['factor'], language)} {f['contribution']:.2f}"
                      for f in contributing_factors(r)[:MAX_FACTORS]]
        elif section == "privacy" and r.get("privacy"):
            findings = r.get("privacy") or []
            shown = "; ".join(f"{f['kind']} {f['excerpt']}" for f in findings[:MAX_FINDINGS])
            if len(findings) > MAX_FINDINGS:
                shown += f" (+{len(findings) - MAX_FINDINGS})"
            lines.append(_("personal data / secrecy: {findings}", findings=shown))
        elif section == "notes":
            lines += list(r.get("notes") or [])[:3]  # the classifier's own sentences (English), as written
    unique = list(dict.fromkeys(lines))
    return unique[:limit] if limit is not None else unique


def _join(names: list[str], language: str) -> str:
    return "、".join(names) if normalize_language(language) == "zh-CN" else ", ".join(names)
