"""What a digest holds and how a piece is told: the plain dataclasses the templates, the chart and
the report exporters read (:class:`DigestData` and its parts), an item's extract, its topic names
and the "why" of a flagged piece (:func:`explain_reasons`). No queries here (``queries.py``), no
assembly (``builder.py``)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from alerts.digest.periods import Period
from classify.reasons import describe_reasons

HIGH_RISK = ("high", "critical")
# An extract is the first sentences of the text up to this many characters (CJK characters carry
# about twice the information of Latin ones, so Chinese extracts are shorter).
_EXTRACT_MAX_CJK = 140
_EXTRACT_MAX_LATIN = 320
_SENTENCE_END = re.compile(r"(?<=[。！？!?])|(?<=[.;])\s+")


@dataclass
class Item:
    article_id: int
    title: str
    url: str
    outlet: str
    published: datetime | None  # local time
    extract: str
    sentiment: str  # negative / neutral / positive / unknown
    risk: str  # low / medium / high / critical / unknown
    risk_score: float
    topics: list[str]
    reasons: list[str]
    case_state: str | None  # CaseState value, or None when no case was opened
    story_outlets: int
    late: bool = False  # published before the period, stored in it (see LATE_ARRIVAL_DAYS)


@dataclass
class StoryItem:
    story_id: int
    title: str
    url: str
    first_outlet: str
    outlets: int
    articles: int
    period_articles: int
    first_seen: datetime  # local
    sentiment: str  # the worst in the period
    risk: str  # the highest in the period
    case_state: str | None
    article_id: int | None = None  # its first piece (the page the web app shows for the story)


@dataclass
class TopicRow:
    key: str  # taxonomy key (machine outputs)
    count: int
    negative: int
    name: str = ""  # the label people read, in the digest's language (classify.taxonomy.topic_label)


@dataclass
class OwnPiece:
    title: str
    url: str
    outlet: str
    unit: str
    published: datetime
    state: str


@dataclass
class SourceProblem:
    key: str
    name: str
    health: str
    consecutive_failures: int
    last_success: datetime | None
    last_error: str


@dataclass
class DayPoint:
    day: date
    pieces: int
    negative: int

    @property
    def negative_share(self) -> float | None:
        return self.negative / self.pieces if self.pieces else None


@dataclass
class Headline:
    pieces: int
    negative: int
    risk_counts: dict[str, int]
    outlets: int
    stories: int
    own_pieces: int
    previous_pieces: int
    previous_negative: int
    previous_high_risk: int
    late: int = 0  # late arrivals among ``pieces`` (they count: the headline is what reached us)

    @property
    def negative_share(self) -> float | None:
        return self.negative / self.pieces if self.pieces else None

    @property
    def previous_negative_share(self) -> float | None:
        return self.previous_negative / self.previous_pieces if self.previous_pieces else None

    @property
    def high_risk(self) -> int:
        return sum(self.risk_counts.get(level, 0) for level in HIGH_RISK)


@dataclass
class DigestData:
    name: str
    title: str
    language: str
    tz: str
    period: Period
    generated_at: datetime  # local
    sections: list[str]
    headline: Headline
    flagged: list[Item] = field(default_factory=list)
    flagged_total: int = 0
    stories: list[StoryItem] = field(default_factory=list)
    topics: list[TopicRow] = field(default_factory=list)
    own_pieces: list[OwnPiece] = field(default_factory=list)
    source_problems: list[SourceProblem] = field(default_factory=list)
    sources_total: int = 0
    series: list[DayPoint] = field(default_factory=list)
    outlet_counts: list[tuple[str, int, int]] = field(default_factory=list)  # name, pieces, negative
    organization: str = ""  # the organization whose digest this is (its root unit's name)
    # Pieces and negative ones per channel: news (media), social (WeChat, Weibo, other social), own
    # (the organization's own channels: outlets of tier own_channel).
    channels: dict[str, tuple[int, int]] = field(default_factory=dict)

    @property
    def empty(self) -> bool:
        return self.headline.pieces == 0

    @property
    def sources_healthy(self) -> bool:
        return not self.source_problems

    def stats(self) -> dict[str, Any]:
        """Headline numbers as plain JSON (stored on the digest record, printed by the demo)."""
        h = self.headline
        return {
            "pieces": h.pieces,
            "negative": h.negative,
            "negative_share": None if h.negative_share is None else round(h.negative_share, 4),
            "risk_counts": dict(h.risk_counts),
            "high_risk": h.high_risk,
            "previous_pieces": h.previous_pieces,
            "late": h.late,
            "outlets": h.outlets,
            "stories": h.stories,
            "own_pieces": h.own_pieces,
            "flagged": self.flagged_total,
            "source_problems": len(self.source_problems),
        }


def topic_names(topics: Any) -> list[str]:
    """Topic names from a classification's ``topics`` ([{name, score}] or plain strings)."""
    if not topics:
        return []
    try:  # the stored shape, fast: a report reads tens of thousands of these
        return [str(t["name"]) for t in topics if t["name"]]
    except (TypeError, KeyError):
        pass
    out: list[str] = []
    for topic in topics:
        if isinstance(topic, dict):
            name = topic.get("name") or topic.get("topic") or topic.get("label")
            if name:
                out.append(str(name))
        elif topic:
            out.append(str(topic))
    return out


def make_extract(text: str, max_sentences: int = 3) -> str:
    """The first two or three sentences of ``text``, cut at a sentence end where possible."""
    text = re.sub(r"\s+", " ", text or "").strip()
    if not text:
        return ""
    cjk = sum(1 for ch in text[:200] if "\u4e00" <= ch <= "\u9fff") > 20
    limit = _EXTRACT_MAX_CJK if cjk else _EXTRACT_MAX_LATIN
    sentences = [s.strip() for s in _SENTENCE_END.split(text) if s and s.strip()]
    out = ""
    for count, sentence in enumerate(sentences, start=1):
        candidate = (out + ("" if cjk or not out else " ") + sentence) if out else sentence
        if out and (len(candidate) > limit or count > max_sentences):
            break
        out = candidate
        if count >= 2 and len(out) >= limit // 2:
            break
    if len(out) > limit:
        out = out[: limit - 1].rstrip() + "…"
    return out


def explain_reasons(reasons: Mapping[str, Any] | None, limit: int = 4, language: str = "zh-CN") -> list[str]:
    """A flagged item's "why" in a digest: the matched terms and the weightiest risk factors
    (:func:`classify.reasons.describe_reasons`; risk and sentiment are shown as badges)."""
    return describe_reasons(reasons, language, sections=("terms", "factors"), limit=limit)
