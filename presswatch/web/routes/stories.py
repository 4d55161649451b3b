"""/stories/{id}: one story's spread (its first publisher, the reposts with outlets and times, a
timeline of articles per hour and outlets, the first negative framing), its cases and correction
requests, and the analysts' merge / split / undo.

A story is visible when one of its pieces is (``classify.visibility.story_visible``); another
organization's story answers 404. Merges, splits and undos call the same ``pipeline.stories``
functions as ``presswatch stories merge|split|undo``, with the user as the actor and their scope
(the stage refuses stories the user may not triage, and writes the audit entry); the pipeline keeps
an analyst's split when new reposts arrive (``dedupe.kept_apart``).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Form, HTTPException
from fastapi.responses import Response

from alerts.cases import story_cases, story_corrections
from classify.visibility import live_story_id, story_visible
from models import Outlet, Story
from pipeline.stories import (
    StoryDecisionError,
    first_negative,
    merge_stories,
    similar_stories,
    split_story,
    story_decisions,
    story_members,
    story_timeline,
    undo_decision,
)
from presswatch.i18n import to_local
from presswatch.web.deps import Page, require, user_page

router = APIRouter()

MAX_REASON_CHARS = 1000
MAX_MEMBERS_SHOWN = 300  # a story reposted thousands of times lists its earliest; the chart counts all


def _story_or_404(page: Page, story_id: int) -> Story:
    story = page.db.get(Story, story_id)
    if story is None or story.merged_into_id is not None or not story_visible(page.db, story_id,
                                                                                 page.require_scope()):
        raise HTTPException(status_code=404)
    return story


@router.get("/stories/{story_id}")
def story_page(story_id: int, page: Page = Depends(user_page)) -> Response:
    story = page.db.get(Story, story_id)
    if story is not None and story.merged_into_id is not None:
        # Merged into another story: that one is the story now (if the user sees it).
        live = live_story_id(page.db, story_id)
        if live is not None and story_visible(page.db, live, page.require_scope()):
            return page.redirect(f"/stories/{live}")
        raise HTTPException(status_code=404)
    return _render(page, _story_or_404(page, story_id))


def _can_triage(page: Page, story_id: int) -> bool:
    scope = page.require_scope()
    return scope.can_anywhere("triage") and story_visible(page.db, story_id, scope.for_action("triage"))


def _chart(page: Page, timeline: list[Any], negative_hour: Any) -> dict[str, Any]:
    _ = page.t
    labels = [to_local(h.start, page.timezone).strftime("%m-%d %H:00") for h in timeline]
    articles_name, outlets_name = _("Articles per hour"), _("Outlets so far")
    bar: dict[str, Any] = {"name": articles_name, "type": "bar", "data": [h.articles for h in timeline],
                           "itemStyle": {"color": "#0b57d0"}}
    if negative_hour is not None:
        index = next((i for i, h in enumerate(timeline) if h.start == negative_hour), None)
        if index is not None:
            bar["markPoint"] = {"symbol": "pin", "itemStyle": {"color": "#b32d2e"},
                                "label": {"formatter": "!"},
                                "data": [{"name": _("First negative framing"), "coord": [index,
                                                                                         timeline[index].articles]}]}
    return {
        "animation": False,
        "tooltip": {"trigger": "axis"},
        "legend": {"data": [articles_name, outlets_name], "top": 0},
        "grid": {"left": 36, "right": 12, "top": 36, "bottom": 48},
        "xAxis": {"type": "category", "data": labels, "axisLabel": {"rotate": 30, "fontSize": 10}},
        "yAxis": {"type": "value", "minInterval": 1},
        "series": [bar, {"name": outlets_name, "type": "line", "data": [h.outlets for h in timeline],
                         "itemStyle": {"color": "#dba617"}}],
    }


def _render(page: Page, story: Story, error: str = "", status_code: int = 200) -> Response:
    scope = page.require_scope()
    members = story_members(page.db, story.id)
    timeline = story_timeline(members)
    negative_id = first_negative(page.db, story.id)
    negative = next((m for m in members if m.id == negative_id), None)
    first_outlet = page.db.get(Outlet, story.first_outlet_id) if story.first_outlet_id else None
    decisions = story_decisions(page.db, story.id)
    cases = story_cases(page.db, story.id, scope)
    corrections = story_corrections(page.db, story.id, scope)
    names = page.display_names({d.actor for d in decisions})
    can_triage = _can_triage(page, story.id)
    similar = similar_stories(page.db, story.id, scope.for_action("triage")) if can_triage else []
    return page.render(
        "story.html", status_code=status_code, story=story, members=members[:MAX_MEMBERS_SHOWN],
        hidden=max(0, len(members) - MAX_MEMBERS_SHOWN), article_count=len(members), first_outlet=first_outlet,
        negative=negative, chart=_chart(page, timeline, negative.published_at.replace(minute=0, second=0, microsecond=0)
                                                    if negative else None),
        decisions=decisions, cases=cases, corrections=corrections, names=names,
        can_triage=can_triage, similar=similar, error=error,
        outlets=len({m.outlet_id if m.outlet_id is not None else -m.id for m in members}),
    )


def _decide(page: Page, story_id: int, action: Any) -> Response:
    """Run one decision as the logged-in user; a refused one re-renders the page with why."""
    story = _story_or_404(page, story_id)
    if not _can_triage(page, story.id):
        raise HTTPException(status_code=403)
    try:
        target = action()
    except StoryDecisionError as exc:
        page.db.rollback()
        return _render(page, _story_or_404(page, story_id), error=str(exc), status_code=400)
    page.commit()
    return page.redirect(f"/stories/{target}")


@router.post("/stories/{story_id}/split")
def story_split(story_id: int, page: Page = Depends(require("triage")), article_ids: list[int] = Form([]),
                reason: str = Form("")) -> Response:
    """Move the ticked articles out into a new story; the page of the new story answers."""
    def act() -> int:
        if not article_ids:
            _ = page.t
            raise StoryDecisionError(_("Tick the articles to split off."))
        return split_story(page.db, story_id, article_ids, actor=page.actor, reason=reason.strip()[:MAX_REASON_CHARS],
                           scope=page.require_scope())

    return _decide(page, story_id, act)


@router.post("/stories/{story_id}/merge")
def story_merge(story_id: int, page: Page = Depends(require("triage")), other: int = Form(0),
                reason: str = Form("")) -> Response:
    """Merge another story (by its number) into this one."""
    def act() -> int:
        if other <= 0:
            _ = page.t
            raise StoryDecisionError(_("Give the number of the story to merge into this one."))
        merge_stories(page.db, story_id, [other], actor=page.actor, reason=reason.strip()[:MAX_REASON_CHARS],
                      scope=page.require_scope())
        return story_id

    return _decide(page, story_id, act)


@router.post("/stories/{story_id}/undo/{decision_id}")
def story_undo(story_id: int, decision_id: int, page: Page = Depends(require("triage"))) -> Response:
    """Undo a merge or split shown on this story's page."""
    def act() -> int:
        if decision_id not in {d.id for d in story_decisions(page.db, story_id)}:
            raise StoryDecisionError(f"no decision #{decision_id}")
        undo_decision(page.db, decision_id, actor=page.actor, scope=page.require_scope())
        return story_id

    return _decide(page, story_id, act)
