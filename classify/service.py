"""Classifying stored articles: the database side of the classifier.

``classify_pending(session, settings, limit=None)`` finds stored articles without a current
classification of their present text (new articles, and articles the pipeline updated since they
were classified), classifies them in batches and stores one ``Classification`` row each
(``is_current=True``; any older current row of the article is demoted), then publishes
``ArticleClassified`` for each. The function never commits: the caller owns the transaction
(the scheduled job in ``classify/jobs.py`` commits per run). Pending articles are claimed
``FOR UPDATE SKIP LOCKED`` on PostgreSQL, so any number of classify workers can run on one
database without classifying the same article at once.

Risk context comes from the rows: the outlet's tier and reach, the story's spread (through
``pipeline.stories.story_spread`` when the pipeline provides it, otherwise the Story row), and
the organization / officials watch queries (``watch_queries`` rows with purpose ``org`` or
``official``, plus ``classify.org_queries`` in the settings).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import exists, or_, select
from sqlalchemy.orm import Session

from classify.engine import Classifier, ClassifierError, Context, Result, Spread, WatchRule, load_classifier
from classify.query import QuerySyntaxError, parse_query
from classify.reasons import PrivacyFinding
from classify.visibility import index_articles, owned_queries
from models import Article, Classification, Outlet, Story
from models.articles import Label, WatchQuery
from models.enums import OutletTier, RiskLevel, SentimentLabel
from presswatch.events import ArticleClassified, publish_after_commit
from settings import Settings

log = logging.getLogger(__name__)

ORG_PURPOSES = ("org", "official")

_cache_lock = threading.Lock()
_cache: dict[tuple[Any, ...], Classifier] = {}


def settings_watch_rules(settings: Settings) -> list[WatchRule]:
    rules = []
    for n, text in enumerate(settings.classify.org_queries, 1):
        try:
            rules.append(WatchRule(f"settings org query {n}", parse_query(text), "org"))
        except QuerySyntaxError as exc:
            raise ClassifierError(f"classify.org_queries[{n - 1}]: {exc}") from None
    return rules


def db_watch_rules(session: Session) -> list[WatchRule]:
    """Enabled watch queries naming the organization or its officials; a bad one is logged and skipped."""
    rules = []
    rows = session.scalars(
        select(WatchQuery)
        .where(WatchQuery.enabled.is_(True), WatchQuery.purpose.in_(ORG_PURPOSES))
        .order_by(WatchQuery.id)
    )
    for row in rows:
        try:
            rules.append(WatchRule(row.name, parse_query(row.query), row.purpose))
        except QuerySyntaxError as exc:
            log.warning("watch query %r skipped: %s", row.name, exc)
    return rules


def get_classifier(settings: Settings, watch_rules: Sequence[WatchRule] = ()) -> Classifier:
    """A classifier for these settings and watch rules, loaded once per process."""
    models_dir = settings.classify.models_dir or None
    key = (
        models_dir,
        _mtimes(models_dir),
        settings.classify.taxonomy_file or None,
        tuple((r.name, r.query.text, r.purpose) for r in watch_rules),
    )
    with _cache_lock:
        clf = _cache.get(key)
        if clf is None:
            clf = load_classifier(models_dir, settings.classify.taxonomy_file or None, watch_rules)
            _cache.clear()  # one live classifier per process: models are megabytes
            _cache[key] = clf
        return clf


def _mtimes(models_dir: str | None) -> tuple[float, ...]:
    if not models_dir:
        return ()
    return tuple(p.stat().st_mtime for p in sorted(Path(models_dir).glob("*.npz")))


def _spread(session: Session, story: Story | None) -> Spread | None:
    if story is None:
        return None
    try:
        from pipeline.stories import story_spread
    except ImportError:  # the pipeline stage not installed: the Story row is enough
        pass
    else:
        spread = story_spread(session, story.id)
        if spread is not None:
            return Spread(
                article_count=spread.article_count,
                outlet_count=max(1, len(spread.outlets)),
                first_seen_at=spread.first_seen_at,
                last_seen_at=spread.last_seen_at,
            )
    return Spread(story.article_count, story.outlet_count, story.first_seen_at, story.last_seen_at)


def pending_articles(session: Session, limit: int | None = None) -> list[Article]:
    """Articles without a current classification of their present text: new ones, and those the
    pipeline updated since (an edited page; ``Classification.content_hash`` differs)."""
    current = exists().where(
        Classification.article_id == Article.id, Classification.is_current.is_(True),
        or_(Classification.content_hash.is_(None), Classification.content_hash == Article.content_hash),
    )
    # FOR UPDATE SKIP LOCKED: concurrent classify workers (two services, a CLI run beside the
    # service) take disjoint articles, and each keeps its rows locked until its batch commits.
    stmt = select(Article).where(~current).order_by(Article.id).with_for_update(skip_locked=True, of=Article)
    if limit is not None:
        stmt = stmt.limit(limit)
    return list(session.scalars(stmt))


def stored_since(session: Session, since: datetime, limit: int | None = None) -> list[Article]:
    """Articles stored at or after ``since`` (``ix_articles_stored_at``), classified or not."""
    stmt = select(Article).where(Article.stored_at >= since).order_by(Article.id)
    if limit is not None:
        stmt = stmt.limit(limit)
    return list(session.scalars(stmt))


def article_doc(article: Article, source_key: str = "") -> dict[str, Any]:
    # match_text is the pipeline's simplified-Chinese / normalized form: what the models were trained on.
    return {
        "id": article.id,
        "title": article.title or "",
        "text": article.match_text or article.text or "",
        "lang": article.lang,
        "source": source_key,
    }


def classify_articles(session: Session, settings: Settings, articles: Sequence[Article]) -> list[ArticleClassified]:
    """Classify these articles now (a new current row each) and publish ArticleClassified."""
    if not articles:
        return []
    classifier = get_classifier(settings, [*settings_watch_rules(settings), *db_watch_rules(session)])
    owned = owned_queries(session)
    events: list[ArticleClassified] = []
    now = datetime.now(UTC)
    batch = max(1, settings.classify.batch_size)
    for start in range(0, len(articles), batch):
        chunk = articles[start : start + batch]
        outlets = _outlets(session, chunk)
        docs, contexts = [], []
        for art in chunk:
            outlet = outlets.get(art.outlet_id) if art.outlet_id else None
            docs.append(article_doc(art, outlet.key if outlet else ""))
            contexts.append(
                Context(
                    outlet_tier=str(outlet.tier) if outlet else None,
                    outlet_reach=float(outlet.reach) if outlet else None,
                    spread=_spread(session, art.story) if art.story_id else None,
                    now=now,
                )
            )
        results = classifier.classify_batch(docs, contexts)
        for art, res, ctx in zip(chunk, results, contexts, strict=True):
            if privacy_applies(settings, ctx.outlet_tier):
                res.reasons["privacy"] = privacy_findings(art)
            _store(session, art, res, classifier.version)
            events.append(ArticleClassified(article_id=art.id, risk_level=res.risk_level, sentiment=res.sentiment))
        session.flush()
        index_articles(session, chunk, owned)  # who sees these pieces in the stream (classify.visibility)
    for event in events:
        publish_after_commit(session, event)  # the caller's commit; subscribers read these rows
    return events


def privacy_applies(settings: Settings, outlet_tier: str | None) -> bool:
    """Whether a piece is checked for personal data and secrecy markings (``classify.privacy_scan``)."""
    mode = settings.classify.privacy_scan
    return mode == "all" or (mode == "own_channel" and outlet_tier == OutletTier.OWN_CHANNEL.value)


def privacy_findings(article: Article) -> list[PrivacyFinding]:
    """Masked findings in what the office published: the original title and text (not match_text,
    whose normalization is for the models); positions are in ``title + "\\n" + text``."""
    from classify.privacy import find_sensitive

    return [PrivacyFinding(kind=f.kind, excerpt=f.excerpt, start=f.start, end=f.end)
            for f in find_sensitive(f"{article.title or ''}\n{article.text or ''}")]


def classify_pending(session: Session, settings: Settings, limit: int | None = None) -> list[ArticleClassified]:
    """Classify stored articles lacking a current classification; store rows; publish events."""
    return classify_articles(session, settings, pending_articles(session, limit))


def _outlets(session: Session, articles: Sequence[Article]) -> dict[int, Outlet]:
    ids = {a.outlet_id for a in articles if a.outlet_id}
    if not ids:
        return {}
    return {o.id: o for o in session.scalars(select(Outlet).where(Outlet.id.in_(ids)))}


def _store(session: Session, article: Article, res: Result, version: str) -> Classification:
    # Writers of one article's classifications take turns (a no-op when pending_articles locked it):
    # the second sees the first's committed row below and replaces it instead of colliding on the
    # UNIQUE (article_id, model_version).
    session.execute(select(Article.id).where(Article.id == article.id).with_for_update())
    for old in session.scalars(
        select(Classification).where(Classification.article_id == article.id, Classification.is_current.is_(True))
    ):
        old.is_current = False
    same_version = session.scalars(
        select(Classification).where(Classification.article_id == article.id, Classification.model_version == version)
    ).first()
    if same_version is not None:
        # A re-classification is a new row, whose new id is past the alert engine's cursor
        # (alerts.engine.evaluate_pending reads classifications by id), so the rules see the new
        # result: the article was edited, or the watch queries or privacy patterns changed
        # (``presswatch classify --again-since``). Alerts dedupe per rule and story, so an unchanged
        # result raises nothing new. (SQLite reuses the id of a deleted newest row; a row that new
        # is still within the cursor's re-read window.) Nothing refers to a classification by id.
        session.delete(same_version)
        session.flush()
    row = Classification(article_id=article.id, model_version=version)
    session.add(row)
    row.is_current = True
    row.lang = res.lang
    row.topics = res.topics
    row.sentiment = (
        SentimentLabel(res.sentiment) if res.sentiment in SentimentLabel._value2member_map_ else SentimentLabel.NEUTRAL
    )
    row.sentiment_score = res.sentiment_score
    row.risk_level = RiskLevel(res.risk_level)
    row.risk_score = res.risk_score
    row.reasons = dict(res.reasons)
    row.mentions_org = res.mentions_org
    row.content_hash = article.content_hash
    row.created_at = datetime.now(UTC)
    return row


def add_label(
    session: Session, article_id: int, task: str, label: str, author: str = "", note: str | None = None
) -> Label:
    """Store a staff correction and apply it to the article's current classification (if any)."""
    article = session.get(Article, article_id)
    if article is None:
        raise LookupError(f"no article with id {article_id}")
    row = Label(article_id=article_id, task=task, label=label, author=author, note=note)
    session.add(row)
    current = session.scalars(
        select(Classification).where(Classification.article_id == article_id, Classification.is_current.is_(True))
    ).first()
    if current is not None:  # the correction shows at once; the models learn it at the next train
        reasons = dict(current.reasons or {})
        corrections = [*reasons.get("corrections", []), {"task": task, "label": label, "author": author}]
        if task == "sentiment":
            corrections[-1]["was"] = str(current.sentiment)
            current.sentiment = SentimentLabel(label)
        elif task == "risk":
            corrections[-1]["was"] = str(current.risk_level)
            current.risk_level = RiskLevel(label)
        elif task == "topic":
            corrections[-1]["was"] = [t.get("name") for t in current.topics or []]
            current.topics = [{"name": t, "score": 1.0} for t in split_topics(label)]
        reasons["corrections"] = corrections
        current.reasons = reasons
    session.flush()
    return row


def split_topics(label: str) -> list[str]:
    return [t.strip() for t in label.split(",") if t.strip()]


def stored_labels(session: Session) -> list[Any]:
    """Staff labels with their article text, newest last (for ``presswatch train``)."""
    from classify.training import StoredLabel

    out = []
    rows = session.execute(
        select(Label, Article).join(Article, Label.article_id == Article.id, isouter=True).order_by(Label.id)
    )
    for label, article in rows:
        if article is not None:
            text = f"{article.title}\n{article.match_text or article.text}"
            lang = (article.lang or "").split("-")[0]
        else:
            text, lang = label.text or "", ""
        if text.strip():
            out.append(StoredLabel(label.task, label.label, text, lang, label.article_id))
    return out
