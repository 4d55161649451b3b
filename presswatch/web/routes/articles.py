"""/articles/{id}: one crawled piece as its organization sees it, its evidence snapshot, and feedback.

The page shows the extracted text with the scope's matched watch terms highlighted, the current
classification with its reasons written for people, the evidence snapshot (sha256, fetch time) and
the labels analysts gave it. Feedback buttons (误报 / không liên quan: not about us, not negative,
not risky; wrong topic; wrong sentiment) store a :class:`models.Label` under the user's name, which
``presswatch train`` reads. Visibility is ``classify.visibility.article_visible``: a piece outside
the user's organization answers 404, its snapshot too.

Crawled text is hostile: it is only ever autoescaped into the page, and the snapshot is served as
``text/plain`` with ``nosniff``, ``Content-Security-Policy: sandbox`` and as an attachment, so a
crawled page can never run as active content in our origin.
"""

from __future__ import annotations

import re
from typing import Any

from fastapi import APIRouter, Depends, Form, HTTPException
from fastapi.responses import Response
from sqlalchemy import select

from classify.feedback import SENTIMENTS, FeedbackError, FeedbackNotAllowed, add_feedback
from classify.reasons import describe_reasons, risk_label, sentiment_label
from classify.taxonomy import load_taxonomy, topic_label
from classify.visibility import article_visible, matched_watch_terms
from models import Article, Classification, Label, Outlet, Snapshot
from pipeline.snapshots import load_snapshot
from presswatch.i18n import N_
from presswatch.web.deps import Page, user_page

router = APIRouter()

MAX_SHOWN_CHARS = 30_000
FEEDBACK_LABELS = (N_("Not about us"), N_("Not negative"), N_("Not risky"), N_("Wrong topic"),
                   N_("Wrong sentiment"), N_("relevance"), N_("sentiment"), N_("risk"), N_("topic"),
                   N_("not_about_us"))


def _article_or_404(page: Page, article_id: int) -> Article:
    article = page.db.get(Article, article_id)
    if article is None or not article_visible(page.db, article, page.require_scope()):
        raise HTTPException(status_code=404)
    return article


def highlight(text: str, terms: list[str]) -> list[tuple[str, bool]]:
    """``text`` cut into (piece, is_match) runs for the template (which escapes every piece)."""
    wanted = sorted({t for t in terms if t.strip()}, key=len, reverse=True)
    if not wanted:
        return [(text, False)]
    pattern = re.compile("|".join(re.escape(t) for t in wanted), re.IGNORECASE)
    runs: list[tuple[str, bool]] = []
    last = 0
    for found in pattern.finditer(text):
        if found.start() > last:
            runs.append((text[last:found.start()], False))
        runs.append((found.group(0), True))
        last = found.end()
    if last < len(text):
        runs.append((text[last:], False))
    return runs


@router.get("/articles/{article_id}")
def article_page(article_id: int, page: Page = Depends(user_page), feedback: int = 0) -> Response:
    article = _article_or_404(page, article_id)
    return page.render("article.html", **_context(page, article), saved=bool(feedback))


def _context(page: Page, article: Article) -> dict[str, Any]:
    scope = page.require_scope()
    outlet = page.db.get(Outlet, article.outlet_id) if article.outlet_id else None
    current = page.db.scalar(select(Classification).where(Classification.article_id == article.id,
                                                          Classification.is_current.is_(True))
                             .order_by(Classification.id.desc()).limit(1))
    terms = matched_watch_terms(page.db, article, scope)
    text = article.text or ""
    snapshot = page.db.get(Snapshot, article.snapshot_id) if article.snapshot_id else None
    labels = list(page.db.scalars(select(Label).where(Label.article_id == article.id).order_by(Label.id.desc())))
    topics = [(key, topic_label(key, page.language)) for key in sorted(load_taxonomy().topics)]
    classification: dict[str, Any] | None = None
    if current is not None:
        classification = {
            "risk": risk_label(str(current.risk_level), page.language),
            "risk_level": str(current.risk_level),
            "sentiment": sentiment_label(str(current.sentiment), page.language),
            "topics": [topic_label(str(t.get("name", "")), page.language) for t in current.topics or []],
            "why": describe_reasons(current.reasons, page.language,
                                    sections=("terms", "factors", "privacy")),
        }
    return {
        "article": article, "outlet": outlet, "classification": classification, "terms": terms,
        "runs": highlight(text[:MAX_SHOWN_CHARS], terms), "truncated": len(text) > MAX_SHOWN_CHARS,
        "snapshot": snapshot, "labels": labels, "topics": topics, "sentiments": SENTIMENTS,
        "can_label": scope.can_anywhere("triage"),
        "safe_url": article.url if article.url.startswith(("http://", "https://")) else "",
    }


@router.get("/articles/{article_id}/snapshot")
def article_snapshot(article_id: int, page: Page = Depends(user_page)) -> Response:
    """The page as fetched (evidence), as inert text: never rendered as HTML in our origin."""
    article = _article_or_404(page, article_id)
    snapshot = page.db.get(Snapshot, article.snapshot_id) if article.snapshot_id else None
    body = load_snapshot(page.db, snapshot.id) if snapshot is not None else None
    if snapshot is None or body is None:
        raise HTTPException(status_code=404)
    charset = (snapshot.encoding or "utf-8").strip().lower()
    if not re.fullmatch(r"[a-z0-9_\-]{1,40}", charset):
        charset = "utf-8"
    headers = {
        "Content-Security-Policy": "sandbox; default-src 'none'",
        "X-Content-Type-Options": "nosniff",
        "Content-Disposition": f'attachment; filename="snapshot-{article.id}-{snapshot.sha256[:12]}.html.txt"',
        "Cache-Control": "private, no-store",
    }
    return Response(body, media_type=f"text/plain; charset={charset}", headers=headers)


@router.post("/articles/{article_id}/feedback")
def article_feedback(article_id: int, page: Page = Depends(user_page), kind: str = Form(""),
                     value: str = Form(""), note: str = Form("")) -> Response:
    """An analyst's judgement on the piece, stored as a label with their name (and in the audit log)
    by ``classify.feedback.add_feedback``, as the API does."""
    article = _article_or_404(page, article_id)
    try:
        add_feedback(page.db, page.require_scope(), page.actor, article, kind, value, note)
    except FeedbackNotAllowed:
        raise HTTPException(status_code=403) from None
    except FeedbackError:
        raise HTTPException(status_code=422) from None
    page.commit()
    return page.redirect(f"/articles/{article.id}?feedback=1")
