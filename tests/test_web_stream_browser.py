"""The coverage stream in a real browser on a phone (Chromium, 390x844): filter, then triage with the
keyboard (j / k move, x selects, e marks read), under the strict CSP."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from classify.visibility import index_articles
from models import StreamRead, WatchQuery
from models.enums import RiskLevel, SentimentLabel
from tests import factories
from tests.browser_support import log_in
from tests.web_support import PASSWORD


def _coverage(live_web) -> dict[str, int]:
    from models.db import make_engine, session_scope

    engine = make_engine(live_web.db_url)
    ids: dict[str, int] = {}
    with session_scope(engine) as db:
        db.add(WatchQuery(name="dz-org", query='"儋州法院"', purpose="org",
                          unit_id=live_web.world.units["dz-court"].id))
        db.flush()
        now = datetime.now(UTC)
        made = []
        for i, (key, risk, sentiment) in enumerate((("calm", "low", "neutral"), ("hot", "high", "negative"),
                                                    ("fire", "critical", "negative"))):
            art = factories.article(db, title=f"儋州法院 {key} 报道<b>x</b>", text="儋州法院",
                                    published_at=now - timedelta(minutes=5 + i))
            factories.classification(db, art, risk_level=RiskLevel(risk), sentiment=SentimentLabel(sentiment))
            ids[key] = art.id
            made.append(art)
        index_articles(db, made)
    engine.dispose()
    return ids


def test_filter_and_keyboard_triage_on_a_phone(live_web, page_at) -> None:
    from playwright.sync_api import expect

    ids = _coverage(live_web)
    page = page_at(phone=True, locale="zh-CN")
    console_errors: list[str] = []
    page.on("console", lambda msg: console_errors.append(msg.text) if msg.type == "error" else None)
    log_in(page, live_web.url, "dz-duty", PASSWORD)
    page.wait_for_url(f"{live_web.url}/")
    page.click("[data-testid=nav-stream]")
    page.wait_for_url(f"{live_web.url}/stream")
    assert page.inner_text("h1") == "舆情信息流"
    assert page.locator("[data-testid=stream-item]").count() == 3
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    # Filter: risk at least high (htmx swaps the list, the URL follows)
    page.select_option("[data-testid=stream-risk]", "high")
    expect(page.locator("[data-testid=stream-item]")).to_have_count(2)
    page.wait_for_url(lambda url: "risk=high" in url)
    assert "<b>x</b>" in page.inner_text("[data-testid=stream-items]")  # crawled markup shown as text
    # Keyboard: j to the first row, e marks it read, j to the next, x selects it
    page.locator("h1").click()
    page.keyboard.press("j")
    first = page.locator("li.stream-item.current")
    assert first.get_attribute("data-id") == str(ids["hot"])  # newest first
    assert "unread" in (first.get_attribute("class") or "")
    page.keyboard.press("e")
    expect(page.locator(f"li.stream-item[data-id=\"{ids['hot']}\"]")).not_to_have_class(re.compile(r"\bunread\b"))
    page.keyboard.press("j")
    page.keyboard.press("x")
    second = page.locator(f"li.stream-item[data-id=\"{ids['fire']}\"]")
    assert "current" in (second.get_attribute("class") or "")
    assert second.locator("input[type=checkbox]").is_checked()
    page.keyboard.press("k")
    assert page.locator("li.stream-item.current").get_attribute("data-id") == str(ids["hot"])
    # The read state is stored for this user, and the unread filter leaves the piece out
    from models.db import make_engine, session_scope

    engine = make_engine(live_web.db_url)
    with session_scope(engine) as db:
        reads = set(db.scalars(select(StreamRead.article_id)))
    engine.dispose()
    assert reads == {ids["hot"]}
    page.goto(f"{live_web.url}/stream?risk=high&unread=1")
    assert page.locator("[data-testid=stream-item]").count() == 1
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    page.set_viewport_size({"width": 360, "height": 740})  # the narrowest phones in use
    page.goto(f"{live_web.url}/stream?since=7d")
    assert page.evaluate("document.documentElement.scrollWidth") <= 360
    assert not [e for e in console_errors if "Content Security Policy" in e or "Refused" in e], console_errors
