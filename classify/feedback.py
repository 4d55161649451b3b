"""Analysts' feedback on a crawled piece, stored as :class:`models.Label` rows ``presswatch train``
learns from. The article page's buttons and the API's labels call :func:`add_feedback`.

Kinds (误报 / không liên quan): ``not_about_us`` (relevance), ``not_negative`` (sentiment neutral),
``not_risky`` (risk low), ``wrong_topic`` and ``wrong_sentiment`` (with the right value).
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from accounts.audit import Actor, record
from classify.taxonomy import load_taxonomy
from classify.visibility import article_visible
from models import Article, Label
from models.scope import Scope

SENTIMENTS = ("positive", "neutral", "negative")
# Feedback kind -> (label task, stored label). "wrong_topic" / "wrong_sentiment" take the user's choice.
FEEDBACK: dict[str, tuple[str, str | None]] = {
    "not_about_us": ("relevance", "not_about_us"),
    "not_negative": ("sentiment", "neutral"),
    "not_risky": ("risk", "low"),
    "wrong_topic": ("topic", None),
    "wrong_sentiment": ("sentiment", None),
}


class FeedbackError(ValueError):
    """Unknown kind, or a value outside the taxonomy / the sentiments."""


class FeedbackNotAllowed(PermissionError):
    """The scope may not label (no triage right, or a read-only key)."""


def visible_article(session: Session, article_id: int, scope: Scope) -> Article | None:
    """The article if the scope sees it (``article_visible``), else None, like a missing one."""
    article = session.get(Article, article_id)
    if article is None or not article_visible(session, article, scope):
        return None
    return article


def add_feedback(session: Session, scope: Scope, actor: Actor, article: Article, kind: str, value: str = "",
                 note: str = "") -> Label:
    """Store the label under the actor's name and in the audit log. The caller checked the article is
    visible to ``scope`` (:func:`visible_article`)."""
    if not scope.can_anywhere("triage"):
        raise FeedbackNotAllowed(kind)
    if kind not in FEEDBACK:
        raise FeedbackError(f"unknown feedback kind {kind!r} (one of: {', '.join(FEEDBACK)})")
    task, label = FEEDBACK[kind]
    if label is None:
        allowed = set(load_taxonomy().topics) if task == "topic" else set(SENTIMENTS)
        if value not in allowed:
            raise FeedbackError(f"{value!r} is not a {task}")
        label = value
    row = Label(article_id=article.id, task=task, label=label, author=actor.username,
                note=(note.strip()[:2000] or None))
    session.add(row)
    session.flush()
    triage_units = sorted(scope.units_where("triage") or ())
    record(session, actor, "label.add", object_type="article", object_id=str(article.id),
           unit_id=scope.focus if scope.focus is not None else (triage_units[0] if triage_units else None),
           after={"task": task, "label": label, "kind": kind})
    return row


def article_labels(session: Session, article: Article) -> list[Label]:
    return list(session.scalars(select(Label).where(Label.article_id == article.id).order_by(Label.id.desc())))
