"""Issue 17 in a real browser (Chromium via Playwright): a correspondent registers a crawled piece from a
phone and sees it counted on the quota board; the court's leader sees the ranking and cannot edit."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import select

from tests.browser_support import log_in
from tests.web_support import PASSWORD

# A piece as the demo crawls them from 今日儋州 (the court's correspondent in the byline).
DEMO_URL = "https://www.jrdz.example.cn/fz/2026/12/t20261204_5521.html"
DEMO_TITLE = "儋州法院执行一队开展凌晨集中执行行动 一批失信被执行人主动履行"


def _demo_quota(live_web: Any) -> None:
    """The demo's quota file (presswatch/templates/quota.example.yaml) and one crawled 今日儋州 article."""
    from models import Outlet, utcnow
    from models.db import make_engine, session_scope
    from quota.config import load_quota, parse_quota_file
    from quota.demo import TEMPLATE
    from tests import factories

    engine = make_engine(live_web.db_url)
    try:
        with session_scope(engine) as db:
            load_quota(db, parse_quota_file(TEMPLATE), "Asia/Shanghai")
            outlet_id = db.scalar(select(Outlet.id).where(Outlet.key == "jinri-danzhou"))
            factories.article(db, outlet_id=outlet_id, url=DEMO_URL, title=DEMO_TITLE,
                              published_at=utcnow() - timedelta(minutes=2), byline="来源：儋州市人民法院 通讯员 张三",
                              text=DEMO_TITLE + "。执行干警依法开展工作。" * 3)
    finally:
        engine.dispose()


def test_correspondent_registers_on_a_phone_and_the_leader_sees_the_ranking(live_web: Any, page_at: Any) -> None:
    _demo_quota(live_web)
    phone = page_at(phone=True, locale="zh-CN")
    log_in(phone, live_web.url, "dz-exec1", PASSWORD)
    phone.wait_for_url(f"{live_web.url}/")
    phone.click("[data-testid=nav-register]")
    phone.wait_for_url(f"{live_web.url}/register")
    assert "执行各队每周报送稿件" in phone.inner_text("[data-testid=progress]")
    assert "尚未被采集" in phone.inner_text("[data-testid=unverified-rule]")
    assert phone.evaluate("document.documentElement.scrollWidth") <= 390
    phone.fill("[data-testid=url]", DEMO_URL)
    phone.click("[data-testid=register-form] button[type=submit]")
    phone.wait_for_selector("[data-testid=verified]")
    assert DEMO_TITLE in phone.inner_text("[data-testid=registered]")
    phone.click("[data-testid=nav-quota]")
    phone.goto(f"{live_web.url}/quota?period=week")
    cell = phone.inner_text("[data-testid=cell-dz-exec-1-team-weekly-pieces]")
    assert cell.replace(" ", "") == "1/3", cell
    assert phone.evaluate("document.documentElement.scrollWidth") <= 390
    # The drill-down lists the piece.
    phone.click("[data-testid=cell-dz-exec-1-team-weekly-pieces]")
    assert DEMO_TITLE in phone.inner_text("[data-testid=evidence]")

    desk = page_at(locale="zh-CN")
    log_in(desk, live_web.url, "dz-leader", PASSWORD)
    desk.wait_for_url(f"{live_web.url}/")
    assert desk.locator("[data-testid=nav-register]").count() == 0
    desk.goto(f"{live_web.url}/quota?period=week")
    ranking = desk.inner_text("[data-testid=rankings]")
    assert "执行一队" in ranking and "执行二队" in ranking
    assert ranking.index("执行一队") < ranking.index("执行二队")
    # Read-only: no form that changes anything on the board, and /register is refused.
    assert desk.locator("main form[method=post]").count() == 0
    response = desk.goto(f"{live_web.url}/register")
    assert response is not None and response.status == 403

    # The narrowest phone promised (360 px): every quota screen of a court admin fits without sideways scrolling.
    small = page_at(narrow=True, locale="vi-VN")
    log_in(small, live_web.url, "dz-admin", PASSWORD)
    small.wait_for_url(f"{live_web.url}/")
    for path in ("/", "/register", "/review", "/quota", "/quota?period=year"):
        small.goto(f"{live_web.url}{path}")
        width = small.evaluate("document.documentElement.scrollWidth")
        assert width <= 360, (path, width)
