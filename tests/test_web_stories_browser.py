"""In Chromium at a phone's 390x844 viewport: dz-duty opens a story from its case, sees the spread
chart drawn, splits a repost off, then records and closes a correction request."""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.browser_support import log_in
from tests.test_web_stories import make_story
from tests.web_support import PASSWORD

pytestmark = pytest.mark.slow


def test_dz_duty_splits_a_story_and_closes_a_correction_on_a_phone(live_web: Any, page_at: Any) -> None:
    from sqlalchemy.orm import Session

    from models.db import make_engine

    engine = make_engine(live_web.db_url)
    with Session(engine) as db:
        s = make_story(db, live_web.world)
    engine.dispose()
    base = live_web.url
    page = page_at(phone=True, locale="zh-CN")
    errors: list[str] = []
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    log_in(page, base, "dz-duty", PASSWORD)
    page.wait_for_url(f"{base}/")
    # From the case to its story.
    page.goto(f"{base}/cases/{live_web.world.cases['dz'].id}")
    page.click("[data-testid=case-story]")
    page.wait_for_url(f"{base}/stories/{s['story']}")
    assert "今日儋州" in page.inner_text("[data-testid=first-publisher]")
    assert "海南论坛" in page.inner_text("[data-testid=first-negative]")
    page.wait_for_selector("[data-testid=story-chart] svg")  # ECharts drew the timeline under the CSP
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    # Split the last repost off into a new story.
    page.check(f"[data-testid=split-{s['articles'][2]}]")
    page.fill("#split-form input[name=reason]", "不是同一事件")
    page.click("[data-testid=split]")
    page.wait_for_url(re.compile(r".*/stories/\d+$"))
    new_id = int(page.url.rsplit("/", 1)[1])
    assert new_id != s["story"]
    members = page.inner_text("[data-testid=members]")
    assert "再转" in members and "海南论坛" not in members
    assert "dz-duty" in page.inner_text("[data-testid=decisions]")
    # Request a correction about the negative piece, then close it as corrected.
    page.goto(f"{base}/stories/{s['story']}")
    page.click("[data-testid=request-correction]")
    page.fill("textarea[name=false_claim]", "报道称执行干警殴打群众，与事实不符")
    page.click("[data-testid=correction-create]")
    page.wait_for_url(re.compile(r".*/corrections/\d+$"))
    assert page.inner_text("[data-testid=correction-state]") == "已请求"
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    page.select_option("[data-testid=outcome]", "corrected")
    page.fill("[data-testid=corrected-url]", "https://jinri-danzhou.example/corrected.html")
    page.click("[data-testid=correction-close]")
    page.wait_for_load_state("load")
    assert page.inner_text("[data-testid=correction-state]") == "已更正"
    correction_path = page.url[len(base):]
    assert "dz-duty" in page.inner_text("[data-testid=history]")
    # Usable from 360 px up: no sideways scrolling on any of these pages.
    page.set_viewport_size({"width": 360, "height": 780})
    for path in ("/corrections", "/plans", f"/stories/{s['story']}", f"/stories/{new_id}", correction_path,
                 f"/cases/{live_web.world.cases['dz'].id}"):
        page.goto(f"{base}{path}")
        assert page.evaluate("document.documentElement.scrollWidth") <= 360, path
    assert not [e for e in errors if "Content Security Policy" in e or "Refused" in e], errors
