"""Row factories for tests: small functions that build valid rows with overridable fields."""

from __future__ import annotations

import hashlib
import itertools
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.orm import Session

from models import Article, Classification, Outlet, Source, Story, Unit
from models.enums import OutletTier, RiskLevel, SentimentLabel, SourceKind, UnitKind

_seq = itertools.count(1)


def outlet(session: Session, **kw: Any) -> Outlet:
    n = next(_seq)
    row = Outlet(**{"key": f"outlet-{n}", "name": f"Outlet {n}", "tier": OutletTier.COUNTY, **kw})
    session.add(row)
    session.flush()
    return row


def source(session: Session, **kw: Any) -> Source:
    n = next(_seq)
    row = Source(**{"key": f"source-{n}", "name": f"Source {n}", "kind": SourceKind.FEED, **kw})
    session.add(row)
    session.flush()
    return row


def story(session: Session, **kw: Any) -> Story:
    row = Story(**{"title": "story", **kw})
    session.add(row)
    session.flush()
    return row


def article(session: Session, **kw: Any) -> Article:
    n = next(_seq)
    url = kw.pop("url", f"https://news.example.cn/{n}.html")
    now = datetime.now(UTC)
    fields: dict[str, Any] = {
        "url": url, "canonical_url": url, "url_hash": hashlib.sha256(url.encode()).hexdigest(),
        "title": f"标题 {n}", "text": "正文", "lang": "zh", "published_at": now, "fetched_at": now,
    }
    fields.update(kw)
    row = Article(**fields)
    session.add(row)
    session.flush()
    return row


def classification(session: Session, article: Article, **kw: Any) -> Classification:
    fields: dict[str, Any] = {
        "article_id": article.id, "model_version": "test", "lang": article.lang,
        "topics": [], "sentiment": SentimentLabel.NEUTRAL, "sentiment_score": 0.0,
        "risk_level": RiskLevel.LOW, "risk_score": 0.0, "reasons": {},
    }
    fields.update(kw)
    row = Classification(**fields)
    session.add(row)
    session.flush()
    return row


def unit(session: Session, **kw: Any) -> Unit:
    n = next(_seq)
    row = Unit(**{"code": f"unit-{n}", "name": f"Unit {n}", "kind": UnitKind.SECTION, **kw})
    session.add(row)
    session.flush()
    return row
